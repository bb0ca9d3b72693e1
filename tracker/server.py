"""The production server: gunicorn running ``create_app`` in each worker process."""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def run_server(
    bind: str,
    workers: int,
    extra: dict[str, Any] | None = None,
    *,
    background_worker: bool = True,
) -> None:
    """Serve until SIGTERM/SIGINT; workers finish their requests first (graceful shutdown).
    With ``background_worker``, gunicorn's master also runs `tracker worker` as a child."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # not on Windows: a single-process server still works for a trial
        from tracker import create_app

        create_app().run(host=bind.rsplit(":", 1)[0], port=int(bind.rsplit(":", 1)[1]))
        return

    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        # A visitor's request is milliseconds; a slow report may take seconds.
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 2,
        # Each worker opens its own store connections and GeoIP readers after the fork.
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "tracker",
    }
    if background_worker:
        from tracker.conversions.worker import gunicorn_hooks

        options.update(gunicorn_hooks())
    options["post_worker_init"] = _after_worker_init
    options.update(extra or {})

    class TrackerServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            from tracker import create_app

            return create_app()

    TrackerServer().run()


def _after_worker_init(worker: Any) -> None:
    """In each web worker, once its app is loaded: SQLite's WAL checkpoints beside the
    requests, what dead workers left in the spool replayed, and the app's own objects kept out
    of garbage collection."""
    from tracker.extensions import db
    from tracker.store import start_checkpointer

    app: Flask = worker.wsgi
    with app.app_context():
        start_checkpointer(db.engine)
    threading.Thread(target=_replay_spools, args=(app,), name="spool-replay", daemon=True).start()
    freeze_loaded_objects()


def _replay_spools(app: Flask) -> None:
    """Store the visits a killed worker journalled but did not store, as soon as its
    replacement starts: its writer would only do it at its first visit, and the background
    worker (every 30 s) may not run (``--no-worker``)."""
    from tracker.tracking.views import replay_dead_spools

    try:
        with app.app_context():
            replay_dead_spools(app)
    except Exception:  # the store may be down: the writer and the background worker retry
        log.exception("visit spool replay at worker start failed")


def freeze_loaded_objects() -> None:
    """Move every object alive now (the app, its models and templates, the user-agent parser's
    tables: about 150,000) out of the cyclic garbage collector's reach.

    They live as long as the process, yet each full collection walked all of them again: a
    visit's rows, queued for the store for a few milliseconds, set one off every few thousand
    visits. Measured in-process over 20,000 visits: 131 ms of collections without, 37 ms with
    (bench/RESULTS.md). What a request allocates is still collected as before."""
    gc.collect()  # what start-up left as garbage goes now, not frozen forever
    gc.freeze()
