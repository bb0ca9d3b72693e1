"""Named date ranges a page offers (today, yesterday, last 7 or 30 days, custom), as inclusive
local days. Pages keep the choice in their URL (``range=7d``, or ``range=custom&from=&to=``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# (key, label) in the order a picker lists them.
RANGES: tuple[tuple[str, str], ...] = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom"),
)
# A week smooths out the weekday swings of most traffic, and still shows this morning's visits.
DEFAULT_RANGE = "7d"
MAX_DAYS = 1100  # as a report: longer spans are cut to this many days ending at `to`
# Days a store can hold visits of; past them a local day's bounds would overflow `datetime`.
FIRST_DAY = date(1970, 1, 2)
LAST_DAY = date(2999, 12, 31)


@dataclass(frozen=True)
class DayRange:
    """A picked range: its key, inclusive local days, and whether the custom dates were
    unreadable (then the default range is used instead and the page says so)."""

    key: str
    date_from: date
    date_to: date
    invalid: bool = False

    @property
    def label(self) -> str:
        if self.key == "custom":
            if self.date_from == self.date_to:
                return self.date_from.isoformat()
            return f"{self.date_from.isoformat()} to {self.date_to.isoformat()}"
        return dict(RANGES)[self.key]

    def url_args(self) -> dict[str, str]:
        """The query-string values that pick this range again."""
        if self.key == "custom":
            return {
                "range": "custom",
                "from": self.date_from.isoformat(),
                "to": self.date_to.isoformat(),
            }
        return {"range": self.key}


def _day(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat((raw or "").strip()[:10])
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def _preset(key: str, today: date, invalid: bool = False) -> DayRange:
    days = {"today": 0, "yesterday": 0, "7d": 6, "30d": 29}[key]
    last = today - timedelta(days=1) if key == "yesterday" else today
    return DayRange(key, last - timedelta(days=days), last, invalid)


def pick_range(key: str | None, raw_from: str | None, raw_to: str | None, today: date) -> DayRange:
    """The range a page was asked for; anything unreadable gives the default one."""
    key = (key or "").strip()
    if key == "custom" or (not key and (raw_from or raw_to)):
        first, last = _day(raw_from), _day(raw_to)
        if first is None and last is None:
            return _preset(DEFAULT_RANGE, today, invalid=True)
        first = first or last
        last = last or first
        assert first is not None and last is not None
        if first > last:
            first, last = last, first
        if (last - first).days >= MAX_DAYS:
            first = last - timedelta(days=MAX_DAYS - 1)
        return DayRange("custom", first, last)
    if key not in dict(RANGES):
        return _preset(DEFAULT_RANGE, today, invalid=bool(key))
    return _preset(key, today)
