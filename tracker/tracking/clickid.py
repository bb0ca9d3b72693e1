"""Click IDs: ULIDs in lower-case Crockford base32 (26 characters, URL-safe, time-ordered,
80 random bits so they cannot be guessed), and the cookie that carries one."""

from __future__ import annotations

import os
import re
import threading
import time

# Crockford's alphabet: no I, L, O, U, so an ID read aloud or retyped survives.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_SHIFTS = tuple(range(125, -1, -5))  # 26 groups of 5 bits cover the 128-bit value
_CROCKFORD = re.compile(r"[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}")
# Click IDs of other formats (imported visits, other trackers' IDs) are still looked up.
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]{16,32}")

# The first-party cookie set on every campaign visit; /click and the conversion pixel read it.
CLICK_COOKIE = "cid"
CLICK_COOKIE_MAX_AGE = 30 * 24 * 3600


_RANDOM_CHUNK = 4096  # bytes of the OS's randomness read at once: 409 click IDs


class _RandomBytes:
    """``os.urandom`` read in chunks. A call per click ID is a system call that lets go of the
    GIL, and the visit writer thread then holds the request for up to its switch interval (the
    click ID was 3 % to 20 % of a visit's time in profiles under load). Each byte is still the
    OS's randomness, used once; a forked child drops what its parent had read."""

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            start = self._offset
            if start + count > len(self._buffer):
                self._buffer, start = os.urandom(_RANDOM_CHUNK), 0
            self._offset = start + count
            return self._buffer[start : start + count]

    def forget(self) -> None:
        self._buffer, self._offset = b"", 0
        self._lock = threading.Lock()


_random = _RandomBytes()
os.register_at_fork(after_in_child=_random.forget)


def new_click_id(now_ns: int | None = None) -> str:
    """A new ULID: 48 bits of milliseconds since the epoch, then 80 random bits."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(_random.take(10), "big")
    return "".join([_ALPHABET[(value >> shift) & 31] for shift in _SHIFTS])


def click_id_age(click_id: str, now_ns: int | None = None) -> float | None:
    """Seconds since a click ID of ours was made (its ULID time), or None for another format."""
    if len(click_id) != 26 or not _CROCKFORD.fullmatch(click_id):
        return None
    millis = 0
    for char in click_id.lower()[:10]:
        millis = millis * 32 + _ALPHABET.index(char)
    now_ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return (now_ms - millis) / 1000


def normalize_click_id(raw: str | None) -> str | None:
    """The click ID to look up, or None when ``raw`` cannot be one (no store read for junk)."""
    if not raw:
        return None
    candidate = raw.strip()
    if _CROCKFORD.fullmatch(candidate):
        return candidate.lower()  # Crockford base32 is case-insensitive
    if _URL_SAFE.fullmatch(candidate):
        return candidate
    return None
