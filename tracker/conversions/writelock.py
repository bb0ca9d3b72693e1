"""A queue for SQLite writers of postbacks: an OS file lock taken just before a postback's first
write and given back after its commit.

SQLite lets one writer at a time in; a writer that finds the lock taken sleeps in its busy
handler (1 ms, then 2, 5, 10...) and polls, while the holder needs a fraction of a millisecond.
Waiting on ``flock`` instead wakes the next writer the moment the lock is given back. Processes
that do not take this lock (other writers) are still ordered by SQLite's own lock and busy
timeout; PostgreSQL needs none of this. Where ``fcntl`` is missing (Windows), it does nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD = "postback_write_lock"
_WANTED = "postback_write_lock_path"


class _FileLock:
    """One lock file per process (and a thread lock, since flock is shared by threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.thread_lock = threading.Lock()
        self.fd: int | None = None
        self.pid = 0

    def acquire(self) -> None:
        self.thread_lock.acquire()
        try:
            if self.fd is None or self.pid != os.getpid():  # opened before a fork: reopen
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self.pid = os.getpid()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self) -> None:
        try:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


_locks: dict[str, _FileLock] = {}
_locks_guard = threading.Lock()


def lock_path(engine: Engine) -> str | None:
    """Where the lock file of this store lives (beside the SQLite file), or None: no lock."""
    if fcntl is None or engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-postback-lock"


def _lock_for(path: str) -> _FileLock:
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = _FileLock(path)
        return lock


@contextmanager
def writes_queued(conn: Connection, path: str | None) -> Iterator[None]:
    """Within the block, ``before_write(conn)`` takes the lock (once); it is given back when the
    block ends, after the caller's commit or rollback."""
    if path is None:
        yield
        return
    conn.info[_WANTED] = path
    try:
        yield
    finally:
        conn.info.pop(_WANTED, None)
        held = conn.info.pop(_HELD, None)
        if held is not None:
            held.release()


def before_write(conn: Connection) -> None:
    """Queue for the store's write lock, if this connection's caller asked for it."""
    path = conn.info.get(_WANTED)
    if path is None or _HELD in conn.info:
        return
    lock = _lock_for(path)
    lock.acquire()
    conn.info[_HELD] = lock
