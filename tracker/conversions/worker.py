"""The background worker: forwards conversions from the outbox, prunes the postback log,
checkpoints SQLite's WAL off the request path, and runs any job another part of the tracker adds
(``add_worker_job``).

``tracker worker`` runs it alone; ``tracker serve`` starts it as a child process of gunicorn's
master (``gunicorn_hooks``) and stops it on shutdown. The worker is the edge of its own work:
it commits, unlike the services.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask

from tracker.config import Settings
from tracker.conversions.outbox import DEFAULT_POLICY, RetryPolicy, deliver_due, purge_postback_log
from tracker.extensions import db
from tracker.models.types import utcnow
from tracker.store import CHECKPOINT_EVERY, checkpoint_wal

log = logging.getLogger(__name__)

JOBS_EXTENSION = "worker_jobs"
PURGE_EVERY = 3600.0  # seconds between two prunings of the postback log
ERROR_PAUSE = 5.0  # seconds to wait after a job failed (the store may be restarting)


@dataclass
class WorkerJob:
    """A periodic job: ``run(app)`` returns how much it did (0 when idle)."""

    name: str
    run: Callable[[Flask], int]
    every: float
    next_run: float = field(default=0.0, compare=False)


def add_worker_job(app: Flask, name: str, run: Callable[[Flask], int], every: float) -> None:
    """Have the worker call ``run(app)`` every ``every`` seconds (inside an app context)."""
    jobs: list[WorkerJob] = app.extensions.setdefault(JOBS_EXTENSION, [])
    if all(job.name != name for job in jobs):
        jobs.append(WorkerJob(name, run, every))


def forward_conversions(app: Flask, policy: RetryPolicy = DEFAULT_POLICY) -> int:
    """One pass over the outbox; how many forwards were attempted."""
    return deliver_due(db.session, utcnow, policy).total


def prune_postback_log(app: Flask) -> int:
    """Delete postback log rows older than the retention setting; how many went."""
    settings: Settings = app.config["SETTINGS"]
    days = settings.postback_log_retention_days
    if days <= 0:
        return 0
    purged = purge_postback_log(db.session, utcnow() - timedelta(days=days))
    if purged:
        log.info("postback log: %d rows older than %d days deleted", purged, days)
    return purged


def checkpoint_job(app: Flask) -> int:
    """Copy SQLite's WAL back into the database, so no web request has to (see tracker.store):
    the worker's own writes, and those of web processes that run no checkpointer of their own."""
    done = checkpoint_wal(db.engine)
    if done is not None and done.busy:
        log.debug("WAL checkpoint cut short: %d of %d pages", done.copied_pages, done.wal_pages)
    # Never "busy": checkpointing again at once would only compete with the writers; the next
    # one comes after CHECKPOINT_EVERY whatever this one copied.
    return 0


def worker_jobs(app: Flask, policy: RetryPolicy = DEFAULT_POLICY) -> list[WorkerJob]:
    """The outbox (every second when idle, at once when busy), pruning, the WAL checkpoint on
    SQLite, and added jobs."""
    own = [
        WorkerJob("outbox", lambda a: forward_conversions(a, policy), 1.0),
        WorkerJob("postback log retention", prune_postback_log, PURGE_EVERY),
    ]
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        own.append(WorkerJob("WAL checkpoint", checkpoint_job, CHECKPOINT_EVERY))
    return own + list(app.extensions.get(JOBS_EXTENSION, []))


def run_worker(
    app: Flask,
    stop: threading.Event,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    once: bool = False,
) -> dict[str, int]:
    """Run the jobs until ``stop`` is set (or one round with ``once``); totals per job."""
    jobs = worker_jobs(app, policy)
    totals = {job.name: 0 for job in jobs}
    while not stop.is_set():
        busy = False
        for job in jobs:
            if stop.is_set() or (not once and time.monotonic() < job.next_run):
                continue
            done = _run_job(app, job)
            totals[job.name] += max(done, 0)
            # A job that found work runs again at once; an idle or failing one waits.
            if done > 0:
                busy = True
                job.next_run = 0.0
            else:
                job.next_run = time.monotonic() + (job.every if done == 0 else ERROR_PAUSE)
        if once:
            break
        if not busy:
            next_run = min(job.next_run for job in jobs)
            stop.wait(max(0.05, min(1.0, next_run - time.monotonic())))
    return totals


def _run_job(app: Flask, job: WorkerJob) -> int:
    with app.app_context():
        try:
            return job.run(app)
        except Exception:
            log.exception("worker job %r failed; retrying in %ss", job.name, ERROR_PAUSE)
            db.session.rollback()
            return -1
        finally:
            db.session.remove()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT finish the current job, then stop the loop."""

    def handle(signum: int, _frame: Any) -> None:
        log.info("worker: signal %s, stopping after the current job", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


# --- inside `tracker serve` ----------------------------------------------------------------------

WORKER_STOP_TIMEOUT = 20.0


def worker_command() -> list[str]:
    """How the server starts the worker: this Python running ``tracker worker``."""
    return [sys.executable, "-c", "from tracker.cli import main; main(['worker'])"]


def gunicorn_hooks() -> dict[str, Any]:
    """gunicorn settings that run the worker beside the web workers: started when the master
    is ready, stopped (SIGTERM, then SIGKILL) when it exits. A separate process, not a thread of
    the master: the master forks web workers, and a fork must not copy a thread's held locks."""
    children: list[subprocess.Popen[bytes]] = []

    def when_ready(server: Any) -> None:
        children.append(subprocess.Popen(worker_command(), env=dict(os.environ)))
        server.log.info("background worker started (pid %s)", children[-1].pid)

    def on_exit(server: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(WORKER_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            server.log.info("background worker stopped (pid %s)", child.pid)

    return {"when_ready": when_ready, "on_exit": on_exit}
