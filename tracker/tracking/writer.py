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

While the store fails (down, or SQLite's lock held), the journal is ``fsync``'d every
``FSYNC_EVERY`` seconds (one fsync for all the visits of that moment, not one per visit), so
the spool survives the machine too, not only the process. The spool directory is bounded by
``TRACKER_SPOOL_MAX_MB``: past it, visits are still redirected and kept in memory (stored if
this process lives until the store is back) but no longer journalled; a log line says so when
the bound is reached and when the spool is back under it. A lander click on a visit that is
only in the spool is journalled too (a ``click`` line), and applied after its visit.
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
from tracker.tracking.outage import StoreGate

log = logging.getLogger(__name__)

SPOOL_PATTERN = "visits-*.jsonl"
MAX_QUEUED = 20_000  # visits kept in memory while the store is down; past that, the spool only
# Seconds a first queued visit waits for others to share its transaction. Each commit costs
# the other worker processes their SQLite page cache, and each transaction writes the pages it
# touched again: 0.25 s against 0.02 s took 228 → 204 µs of web-worker CPU per visit (bench/
# RESULTS.md). A reader of a visit of the last second waits for it (service.await_visit), and a
# flush cuts the wait short.
BATCH_WINDOW = 0.25
BATCH_TARGET = 1000  # visits that fill a transaction without waiting longer
RETRY_PAUSE = (0.05, 5.0)  # first and longest pause between attempts while the store fails
FSYNC_EVERY = 0.2  # seconds between journal fsyncs while visits wait on a failing store
CLICK_MARK = b'{"kind":"click"'  # how a click line of the journal starts


# Made once: json.dumps with options builds an encoder per call.
_JSON = json.JSONEncoder(separators=(",", ":"))
_OBJECT_TIMES = ("created_at", "clicked_at")
_ROW_TIMES = tuple(recorder.ROW_INDEX[name] for name in (*_OBJECT_TIMES, "unique_since"))
_ROW_COST = recorder.ROW_INDEX["cost"]


def encode_visit(row: list[Any]) -> bytes:
    """A visit's row (``recorder.visit_row``) as a spool line: the row as a JSON array."""
    return (_JSON.encode(row) + "\n").encode()


def decode_visit(line: bytes) -> list[Any]:
    """A spool line back into a visit's row; a line of the earlier format (a JSON object by
    column, times in ISO 8601 with their offset) is read too, so a spool left by a process of
    the earlier version is replayed after an upgrade."""
    if line.startswith(b"["):
        row: list[Any] = json.loads(line)
        if row[0] != recorder.ROW_FORMAT or len(row) != recorder.ROW_LENGTH:
            raise ValueError(f"not a visit row of format {recorder.ROW_FORMAT}")
        # Its times and cost are read here, so that a line that cannot be stored is skipped
        # rather than failing its whole file's replay at every attempt.
        for index in _ROW_TIMES:
            if row[index] is not None:
                datetime.fromisoformat(row[index])
        if row[_ROW_COST] is not None:
            Decimal(row[_ROW_COST])
        return row
    values: dict[str, Any] = json.loads(line)
    for name in _OBJECT_TIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    values["cost"] = Decimal(values.get("cost") or "0")
    return recorder.visit_row(values)


def encode_click(click_id: str, offer_id: int | None, at: datetime) -> bytes:
    """A click-through on a visit that is not stored yet, as a spool line."""
    entry = {
        "kind": "click",
        "click_id": click_id,
        "offer_id": offer_id,
        "clicked_at": at.isoformat(),
    }
    return (_JSON.encode(entry) + "\n").encode()


def decode_click(line: bytes) -> dict[str, Any]:
    """A click line back into ``recorder.apply_clicks``' values."""
    values: dict[str, Any] = json.loads(line)
    values["clicked_at"] = datetime.fromisoformat(values["clicked_at"])
    return values


class VisitWriter:
    """One process's journal and writer thread (both made anew in a forked child)."""

    def __init__(
        self,
        engine: Engine,
        spool_dir: Path,
        gate: StoreGate | None = None,
        max_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        self.engine = engine
        self.spool_dir = spool_dir
        self.gate = gate or StoreGate()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._stored = threading.Condition(self._lock)
        self._queue: list[list[Any]] = []  # visits' rows (``recorder.visit_row``)
        self._unstored: dict[str, dict[str, Any]] = {}  # click ID -> values, until committed
        self._spool_only = False  # some visits are in the spool file alone (memory was full)
        self._fd: int | None = None
        self._path: Path | None = None
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._stopping = False
        self._hurry = False  # a flush waits: store what is queued without the batch window
        self._clicks: list[dict[str, Any]] = []  # click-throughs on visits not yet stored
        self._clicks_pending = 0  # submitted and not yet applied
        self._waiting_since = 0.0  # monotonic time of the last progress while visits wait
        self._unsynced = False  # journal bytes written since the last fsync
        self._spool_bytes = 0  # the spool directory's size at the last look
        self._written = 0  # bytes journalled since that look
        self._full = False  # the spool reached max_bytes: visits are no longer journalled
        self._unwritable = False  # a journal write failed (disk full): none until it restarts
        self._memory_only: set[str] = set()  # click IDs queued but not journalled
        self.unjournalled = 0  # visits kept in memory only (spool full) in this process
        self.dropped = 0  # visits neither journalled nor kept (spool and memory full)

    # --- the request's side ----------------------------------------------------------------

    def submit(self, values: dict[str, Any]) -> None:
        """Journal one visit and queue it for the store (returns without waiting for it)."""
        row = recorder.visit_row(values)
        line = encode_visit(row)
        click_id = row[recorder.CLICK_ID_AT]
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            assert self._fd is not None
            if not self._unstored:
                self._waiting_since = time.monotonic()
            if not self._journal(line):
                # No disk left for the spool: memory alone keeps the visit, while there is room.
                if len(self._queue) >= MAX_QUEUED:
                    self.dropped += 1
                    return
                self.unjournalled += 1
                self._memory_only.add(click_id)
            elif len(self._queue) >= MAX_QUEUED:
                self._rotate()  # the store is far behind: the spool file alone keeps these
                return
            self._queue.append(row)
            self._unstored[click_id] = values
            if len(self._queue) == 1 or len(self._queue) >= BATCH_TARGET:
                self._queued.notify()  # the writer only waits for a first or a full batch

    def submit_click(self, click_id: str, offer_id: int | None, at: datetime) -> None:
        """Journal a click-through whose visit is not in the store (yet), and queue it; it is
        applied once its visit is stored (``recorder.apply_clicks``: a replay counts it once)."""
        line = encode_click(click_id, offer_id, at)
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            self._journal(line)
            self._clicks.append({"click_id": click_id, "offer_id": offer_id, "clicked_at": at})
            self._clicks_pending += 1
            self._queued.notify()

    def _journal(self, line: bytes) -> bool:
        """Append a line to the journal (lock held); False when it could not be (spool full,
        disk full or failing): the caller keeps the entry in memory only."""
        if self._full:
            return False
        assert self._fd is not None
        try:
            written = os.write(self._fd, line)
        except OSError as exc:
            written, error = 0, str(exc)
        else:
            error = "" if written == len(line) else f"{written} of {len(line)} bytes written"
        if error:
            # The disk is full (or failing): no more journal writes until the store has taken
            # everything and the journal starts over (a torn last line is skipped by replay).
            self._full = self._unwritable = True
            log.error(
                "visit spool unwritable (%s): visits are still redirected but kept in memory "
                "only (at most %d per process) until the store has them all",
                error,
                MAX_QUEUED,
            )
            return False
        self._written += written
        self._unsynced = True
        return True

    def pending(self, click_id: str) -> dict[str, Any] | None:
        """The values of this process's visit not yet stored (a copy), or None."""
        with self._lock:
            values = self._unstored.get(click_id)
            return dict(values) if values is not None else None

    @property
    def full(self) -> bool:
        """True while the spool directory is at its bound (visits kept in memory only)."""
        return self._full

    def backlog(self) -> int:
        """Visits and clicks of this process not yet in the store."""
        return len(self._unstored) + self._clicks_pending

    def is_unstored(self, click_id: str) -> bool:
        """True while a visit of this process is queued and not yet committed."""
        return click_id in self._unstored

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every visit queued so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while (self._unstored or self._clicks_pending) and self._pid == os.getpid():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._hurry = True
                self._queued.notify()
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
        self._clicks, self._clicks_pending, self._full = [], 0, False
        self._unwritable, self._memory_only = False, set()
        self._thread = threading.Thread(target=self._run, name="visit-writer", daemon=True)
        self._thread.start()
        self._watcher = threading.Thread(target=self._watch, name="spool-sync", daemon=True)
        self._watcher.start()
        atexit.register(self.close)

    def _rotate(self) -> None:
        # Called with the lock held: hand the current file over to replay, start a new one.
        if self._fd is not None:
            os.close(self._fd)  # releases the flock: the file is now an orphan to replay
        path = self.spool_dir / f"visits-{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The queued visits (and clicks) are in the old file too: the replay stores them, once.
        self._fd, self._path = fd, path
        self._queue, self._unstored, self._clicks, self._clicks_pending = [], {}, [], 0
        self._stored.notify_all()

    def _watch(self) -> None:
        """While visits wait on a failing store: fsync the journal every ``FSYNC_EVERY``
        seconds and keep the spool directory within ``max_bytes`` (log lines on both edges)."""
        while self._watcher is threading.current_thread():  # else: a new writer took over
            time.sleep(FSYNC_EVERY)
            if not self._watch_once():
                return

    def _watch_once(self) -> bool:
        """One look at the journal (see ``_watch``); False once the writer has stopped."""
        with self._lock:
            if self._stopping or self._fd is None or self._pid != os.getpid():
                return False
            waiting = bool(self._unstored or self._clicks_pending) and (
                time.monotonic() - self._waiting_since >= FSYNC_EVERY
            )
            if not waiting and not self._full:
                return True
            sync_fd = os.dup(self._fd) if self._unsynced else None
            self._unsynced = False
        if sync_fd is not None:
            try:
                os.fsync(sync_fd)  # outside the lock: visitors never wait on the disk
            except OSError as exc:
                log.error("visit spool fsync failed: %s", exc)
            finally:
                os.close(sync_fd)
        self._check_bound()
        return True

    def _check_bound(self) -> None:
        size = spool_size(self.spool_dir)
        with self._lock:
            self._spool_bytes, self._written = size, 0
            # Journalling resumes only once no visit in memory lacks its journal line: a file
            # handed over to replay (``_rotate``) must hold every visit dropped from memory.
            full = size >= self.max_bytes or self._unwritable or bool(self._memory_only)
            if full == self._full:
                return
            self._full = full
            if full:
                log.error(
                    "visit spool full (%d MB, TRACKER_SPOOL_MAX_MB=%d): visits are still "
                    "redirected but kept in memory only (at most %d per process) until the "
                    "store is back",
                    size // 2**20,
                    self.max_bytes // 2**20,
                    MAX_QUEUED,
                )
            else:
                log.warning(
                    "visit spool below its bound again; %d visits were kept in memory only "
                    "and %d dropped meanwhile",
                    self.unjournalled,
                    self.dropped,
                )

    def _run(self) -> None:
        try:
            replay_spools(self.engine, self.spool_dir)  # what earlier processes left
        except Exception:
            log.exception("visit spool replay failed; the background worker retries it")
        pause = RETRY_PAUSE[0]
        failing = False
        while True:
            with self._lock:
                while not self._queue and not self._clicks and not self._stopping:
                    self._queued.wait()
                if not self._queue and not self._clicks:
                    return
                # A moment more fills the transaction: its commit is the dearest part of
                # storing a visit, and the visits of that moment share it (BATCH_WINDOW).
                deadline = time.monotonic() + BATCH_WINDOW
                while len(self._queue) < BATCH_TARGET and not (self._stopping or self._hurry):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._queued.wait(remaining)
                batch, self._queue = self._queue, []
                clicks, self._clicks = self._clicks, []
                self._hurry = False
            try:
                if failing:
                    # Back after an outage: what other processes left (and files handed over
                    # when memory was full) goes first, so visits reach the store in order.
                    replay_spools(self.engine, self.spool_dir)
                if batch:
                    self._store(batch)
                if clicks:
                    recorder.apply_clicks(self.engine, clicks)
            except Exception as exc:
                # One line when the outage starts (the gate's); each retry only at debug.
                log.debug("storing %d visits failed (kept in the spool): %s", len(batch), exc)
                self.gate.failed(exc)
                failing = True
                with self._lock:
                    self._queue[:0] = batch
                    self._clicks[:0] = clicks
                    stopping = self._stopping
                if stopping:
                    return
                time.sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE[1])
                continue
            if failing:
                self.gate.succeeded()
                failing = False
            pause = RETRY_PAUSE[0]
            with self._lock:
                for row in batch:
                    click_id = row[recorder.CLICK_ID_AT]
                    self._unstored.pop(click_id, None)
                    self._memory_only.discard(click_id)
                # (a rotation meanwhile handed these over to replay and reset the count)
                self._clicks_pending = max(self._clicks_pending - len(clicks), 0)
                self._waiting_since = time.monotonic()
                idle = not self._queue and not self._unstored and not self._clicks_pending
                if idle and self._fd is not None:
                    # Everything journalled is stored: the journal can start over.
                    try:
                        os.ftruncate(self._fd, 0)
                        self._unwritable = False
                    except OSError as exc:
                        log.error("visit spool could not start over: %s", exc)
                self._stored.notify_all()

    def _store(self, batch: list[list[Any]]) -> None:
        try:
            recorder.insert_visits(self.engine, batch)
        except IntegrityError:
            if len(batch) == 1:
                click_id = batch[0][recorder.CLICK_ID_AT]
                log.error("visit %s refused by the store; dropped", click_id)
                return
            for row in batch:  # one bad visit (e.g. its campaign deleted) spoils no other
                self._store([row])

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
            if self._memory_only:
                log.error(
                    "%d visits kept in memory only (spool full) could not be stored before "
                    "the process stopped: lost",
                    len(self._memory_only),
                )
            if self._fd is not None:
                if not self._queue and not self._unstored and not self._clicks_pending:
                    assert self._path is not None
                    self._path.unlink(missing_ok=True)
                os.close(self._fd)  # anything left is an orphan now: replayed later
            self._fd, self._thread, self._pid = None, None, None


def spool_size(spool_dir: Path) -> int:
    """Bytes of every spool file in ``spool_dir`` (live and orphaned)."""
    total = 0
    for path in spool_dir.glob(SPOOL_PATTERN) if spool_dir.exists() else []:
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue  # replayed and removed meanwhile
    return total


def _journal_order(path: Path) -> tuple[int, str]:
    # visits-<pid>-<time_ns>.jsonl: oldest journal first, whatever its process's id.
    try:
        return int(path.stem.rsplit("-", 1)[1]), path.name
    except (IndexError, ValueError):
        return 0, path.name


def replay_spools(engine: Engine, spool_dir: Path, batch_size: int = 500) -> int:
    """Store the visits of spool files no live process holds, oldest file first, each in its
    order; then their click lines. How many lines were replayed."""
    replayed = 0
    paths = sorted(spool_dir.glob(SPOOL_PATTERN), key=_journal_order) if spool_dir.exists() else []
    for path in paths:
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
                rows, clicks = [], []
                for line in spool:
                    try:
                        if line.startswith(CLICK_MARK):
                            clicks.append(decode_click(line))
                        else:
                            rows.append(decode_visit(line))
                    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError):
                        log.warning("skipped an unreadable line of %s", path)  # a torn write
            for start in range(0, len(rows), batch_size):
                recorder.insert_visits(engine, rows[start : start + batch_size])
            # A click line follows its visit's line in the same file: all visits are in now.
            for start in range(0, len(clicks), batch_size):
                recorder.apply_clicks(engine, clicks[start : start + batch_size])
            replayed += len(rows) + len(clicks)
            path.unlink(missing_ok=True)
            if rows or clicks:
                log.info(
                    "replayed %d spooled visits and %d clicks from %s",
                    len(rows),
                    len(clicks),
                    path.name,
                )
        except DBAPIError as exc:
            log.error("replaying %s failed (kept for later): %s", path, exc)
        finally:
            os.close(fd)
    return replayed
