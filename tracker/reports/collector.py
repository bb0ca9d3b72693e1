"""Python's cyclic garbage collector, paused while reports are built and used.

A zone report allocates a few hundred thousand containers (group keys, sums, rows) that all
stay alive while it is built; each allocation burst set off collections walking every one of
them again, about a third of its time (measured: 1.1 s of CPU → 0.7 s). Nothing a report
builds is a cycle, so nothing is left for the collector to find afterwards.

When the collector resumes matters as much: the first collection after a pause walks every
object made meanwhile that is still alive. Resumed as soon as a 55,000-row report was built,
that was 29-41 ms of walking its rows (bench/RESULTS.md). So inside a request the pause lasts
until the request's teardown, when the report and what was made of it (the JSON, the CSV, the
page) are freed; outside one (the CLI, the benchmark), until the caller's block ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import g, has_request_context

_lock = threading.Lock()
# Pauses in force, and whether the collector ran before the first: it resumes with the last.
_state = {"pauses": 0, "was_enabled": False}
_REQUEST_PAUSES = "report_collector_pauses"


def _pause() -> None:
    with _lock:
        if _state["pauses"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["pauses"] += 1


def _resume() -> None:
    with _lock:
        _state["pauses"] -= 1
        if _state["pauses"] == 0 and _state["was_enabled"]:
            gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """Pause the collector for this block, or, inside a request, until its teardown."""
    _pause()
    if has_request_context():
        setattr(g, _REQUEST_PAUSES, g.get(_REQUEST_PAUSES, 0) + 1)
        yield
        return
    try:
        yield
    finally:
        _resume()


def resume_after_request(_error: BaseException | None = None) -> None:
    """Teardown of every request: end the pauses its reports began."""
    for _ in range(g.pop(_REQUEST_PAUSES, 0)):
        _resume()


def is_paused() -> bool:
    """True while some report holds the collector paused."""
    with _lock:
        return _state["pauses"] > 0
