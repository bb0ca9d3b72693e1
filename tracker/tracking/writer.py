"""Write-behind for visits: journal first, store right after, in batches.

A visit is appended to this process's spool file (one JSON line, one ``write``) before the
visitor is redirected, and queued for a writer thread that inserts whatever has queued in one
transaction, at once. So the redirect never waits on the store's commit (nor on SQLite's lock
shared by every worker), commits are shared by the visits that arrive meanwhile, and a visit is
in the store within milliseconds, far inside the second ``/click`` and postbacks allow.

Nothing redirected is lost: on SIGTERM the process stores what is queued before it exits; if
it dies (SIGKILL, a crash) or the store is down, the spool file still holds the visits, and
``replay_spools`` stores them (the next process of the tracker at its first visit, and the
background worker every half minute). A spool file belongs to its process while that process
holds an exclusive ``flock`` on it, so a replay never takes a live file. A visit replayed twice
is stored once (its click ID is unique).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from tracker.tracking import recorder

log = logging.getLogger(__name__)

SPOOL_PATTERN = "visits-*.jsonl"
MAX_QUEUED = 20_000  # visits kept in memory while the store is down; past that, the spool only
BATCH_WINDOW = 0.02  # seconds a first queued visit waits for others to share its transaction
BATCH_TARGET = 100  # visits that fill a transaction without waiting longer
RETRY_PAUSE = (0.05, 5.0)  # first and longest pause between attempts while the store fails
_TIMES = ("created_at", "clicked_at", "unique_since")


def encode(values: dict[str, Any]) -> bytes:
    """One visit as a spool line."""
    return (json.dumps(values, default=_json_default, separators=(",", ":")) + "\n").encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot spool {type(value).__name__}")


def decode(line: bytes) -> dict[str, Any]:
    """A spool line back into a visit's values."""
    values: dict[str, Any] = json.loads(line)
    for name in _TIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    values["cost"] = Decimal(values.get("cost") or "0")
    return values


class VisitWriter:
    """One process's journal and writer thread (both made anew in a forked child)."""

    def __init__(self, engine: Engine, spool_dir: Path) -> None:
        self.engine = engine
        self.spool_dir = spool_dir
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._stored = threading.Condition(self._lock)
        self._queue: list[dict[str, Any]] = []
        self._unstored: dict[str, dict[str, Any]] = {}  # click ID -> values, until committed
        self._spool_only = False  # some visits are in the spool file alone (memory was full)
        self._fd: int | None = None
        self._path: Path | None = None
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- the request's side ----------------------------------------------------------------

    def submit(self, values: dict[str, Any]) -> None:
        """Journal one visit and queue it for the store (returns without waiting for it)."""
        params = recorder.prepare(values)
        line = encode(params)
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            assert self._fd is not None
            os.write(self._fd, line)
            if len(self._queue) >= MAX_QUEUED:
                self._rotate()  # the store is far behind: the spool file alone keeps these
            else:
                self._queue.append(params)
                self._unstored[params["click_id"]] = params
                if len(self._queue) == 1 or len(self._queue) >= BATCH_TARGET:
                    self._queued.notify()  # the writer only waits for a first or a full batch

    def is_unstored(self, click_id: str) -> bool:
        """True while a visit of this process is queued and not yet committed."""
        return click_id in self._unstored

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every visit queued so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._unstored and self._pid == os.getpid():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._stored.wait(remaining)
        return True

    # --- the writer's side -------------------------------------------------------------------

    def _start(self) -> None:
        """Open this process's spool file and start its writer (first visit, or after a fork)."""
        self._queue, self._unstored, self._spool_only = [], {}, False  # a parent's are its own
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"visits-{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd, self._path, self._pid, self._stopping = fd, path, os.getpid(), False
        self._thread = threading.Thread(target=self._run, name="visit-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _rotate(self) -> None:
        # Called with the lock held: hand the current file over to replay, start a new one.
        if self._fd is not None:
            os.close(self._fd)  # releases the flock: the file is now an orphan to replay
        path = self.spool_dir / f"visits-{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The queued visits are in the old file too: the replay stores them, once.
        self._fd, self._path = fd, path
        self._queue, self._unstored = [], {}
        self._stored.notify_all()

    def _run(self) -> None:
        try:
            replay_spools(self.engine, self.spool_dir)  # what earlier processes left
        except Exception:
            log.exception("visit spool replay failed; the background worker retries it")
        pause = RETRY_PAUSE[0]
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._queued.wait()
                if not self._queue:
                    return
                # A few milliseconds more fill the transaction: its commit is the dearest part
                # of storing a visit, and the visits of those milliseconds share it.
                deadline = time.monotonic() + BATCH_WINDOW
                while len(self._queue) < BATCH_TARGET and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._queued.wait(remaining)
                batch, self._queue = self._queue, []
            try:
                self._store(batch)
            except Exception as exc:
                log.error(
                    "storing %d visits failed (kept in the spool; retrying): %s", len(batch), exc
                )
                with self._lock:
                    self._queue[:0] = batch
                    stopping = self._stopping
                if stopping:
                    return
                time.sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE[1])
                continue
            pause = RETRY_PAUSE[0]
            with self._lock:
                for params in batch:
                    self._unstored.pop(params["click_id"], None)
                if not self._queue and not self._unstored and self._fd is not None:
                    # Everything journalled is stored: the journal can start over.
                    os.ftruncate(self._fd, 0)
                self._stored.notify_all()

    def _store(self, batch: list[dict[str, Any]]) -> None:
        try:
            recorder.insert_visits(self.engine, batch)
        except IntegrityError:
            if len(batch) == 1:
                log.error("visit %s refused by the store; dropped", batch[0]["click_id"])
                return
            for params in batch:  # one bad visit (e.g. its campaign deleted) spoils no other
                self._store([params])

    def close(self, timeout: float = 20.0) -> None:
        """Store what is queued, stop the writer, and drop the spool file if all is stored."""
        with self._lock:
            if self._pid != os.getpid() or self._thread is None:
                return
            self._stopping = True
            self._queued.notify()
            thread = self._thread
        thread.join(timeout)
        with self._lock:
            if self._fd is not None:
                if not self._queue and not self._unstored:
                    assert self._path is not None
                    self._path.unlink(missing_ok=True)
                os.close(self._fd)  # anything left is an orphan now: replayed later
            self._fd, self._thread, self._pid = None, None, None


def replay_spools(engine: Engine, spool_dir: Path, batch_size: int = 500) -> int:
    """Store the visits of spool files no live process holds; how many lines were replayed."""
    replayed = 0
    for path in sorted(spool_dir.glob(SPOOL_PATTERN)) if spool_dir.exists() else []:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive and writing it
            with os.fdopen(os.dup(fd), "rb") as spool:
                rows = []
                for line in spool:
                    try:
                        rows.append(decode(line))
                    except (ValueError, TypeError):
                        log.warning("skipped an unreadable line of %s", path)  # a torn write
            for start in range(0, len(rows), batch_size):
                recorder.insert_visits(engine, rows[start : start + batch_size])
            replayed += len(rows)
            path.unlink(missing_ok=True)
            if rows:
                log.info("replayed %d spooled visits from %s", len(rows), path.name)
        except DBAPIError as exc:
            log.error("replaying %s failed (kept for later): %s", path, exc)
        finally:
            os.close(fd)
    return replayed
