"""Whole numbers read from text that people, scripts and networks send.

``str.isdigit`` is true for "²" and other digits ``int`` refuses, and a 30-digit id overflows
the store's BIGINT: both used to end in a 500. Read numbers through here instead.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1  # the store's BIGINT: no id is larger
MAX_PAGE = 1_000_000  # no list has that many pages; larger page numbers mean the last one


def is_whole_number(text: str) -> bool:
    """True for ASCII decimal digits only: "12", not "", "-1", "1.5", "²"."""
    return text.isascii() and text.isdigit()


def parse_id(text: str | None) -> int | None:
    """An id as sent (a whole number from 1 to ``MAX_ID``), or None for anything else."""
    if text is None:
        return None
    text = text.strip()
    if not is_whole_number(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def parse_page(text: str | None) -> int:
    """A 1-based page number as sent; 1 for anything that is not one."""
    text = (text or "").strip()
    if not is_whole_number(text) or len(text) > 7:
        return 1
    return min(max(int(text), 1), MAX_PAGE)
