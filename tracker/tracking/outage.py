"""What one process knows of the store's reachability, so the hot path stops asking a dead store.

While the store answers, every caller goes ahead. After a failure the store is *down*: callers
are told to skip it (cached campaigns keep redirecting, visits stay in the spool) and only one
caller at a time is let through to probe it, first after ``first_pause`` seconds, then after
twice as long each time, up to ``longest_pause``. A visitor never waits on a store that has
just failed, and a dead store is not hammered by every request of every worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class StoreGate:
    """The store's state in this process: up, or down since when, and when to probe again."""

    def __init__(
        self,
        first_pause: float = 0.5,
        longest_pause: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_pause = first_pause
        self.longest_pause = longest_pause
        self.clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._pause = first_pause
        self._next_probe = 0.0
        self._probing = False
        self.failures = 0  # failures seen during the current outage

    @property
    def down(self) -> bool:
        """True from a failure until the next success."""
        return self._down_since is not None

    def down_for(self) -> float:
        """Seconds since the store went down (0 while it is up)."""
        since = self._down_since
        return 0.0 if since is None else self.clock() - since

    def may_try(self) -> bool:
        """Whether the caller should use the store now: always while it is up; while it is
        down, for one caller at a time once the back-off has passed (that caller then reports
        ``failed`` or ``succeeded``)."""
        if self._down_since is None:
            return True
        with self._lock:
            if self._down_since is None:
                return True
            if self._probing or self.clock() < self._next_probe:
                return False
            self._probing = True
            return True

    def failed(self, error: BaseException | str) -> None:
        """The store did not answer: it is down (a log line when this starts an outage)."""
        with self._lock:
            now = self.clock()
            self.failures += 1
            self._probing = False
            if self._down_since is None:
                self._down_since = now
                self._pause = self.first_pause
                log.error(
                    "store unreachable: redirecting from cached campaigns, visits kept in the "
                    "spool, postbacks answered 503 until it is back (%s)",
                    _short(error),
                )
            else:
                self._pause = min(self._pause * 2, self.longest_pause)
            self._next_probe = now + self._pause

    def succeeded(self) -> None:
        """The store answered: it is up (a log line when this ends an outage)."""
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            log.warning(
                "store reachable again after %.1f s (%d failed attempts); storing the spool",
                self.clock() - self._down_since,
                self.failures,
            )
            self._down_since = None
            self._probing = False
            self.failures = 0


def _short(error: BaseException | str) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


class StoreUnavailable(Exception):
    """The store is down and what was asked needs it (e.g. a campaign not yet cached)."""
