"""Time in reports: inclusive local days in a time zone → UTC instants, and the zone's UTC offsets
over that span, so the store can compute local days and hours with integer arithmetic alone
(no time zone support needed in SQLite; DST changes included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY


def epoch_seconds(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (on a DST day, the first instant of that date)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """A span of whole local days: ``start`` (inclusive) and ``end`` (exclusive) in UTC, and
    the zone's offsets over it as ``(from_epoch_second, offset_seconds)``, first one at start."""

    zone: ZoneInfo
    date_from: date
    date_to: date
    start: datetime
    end: datetime
    offsets: tuple[tuple[int, int], ...]

    @property
    def start_epoch(self) -> int:
        return epoch_seconds(self.start)

    @property
    def end_epoch(self) -> int:
        return epoch_seconds(self.end)

    @property
    def whole_hours(self) -> bool:
        """True when every local hour is a UTC hour: bounds, transitions and offsets fall on
        whole hours (false for zones like Asia/Kolkata), so hourly rollups can answer."""
        if self.start_epoch % SECONDS_PER_HOUR or self.end_epoch % SECONDS_PER_HOUR:
            return False
        return all(t % SECONDS_PER_HOUR == 0 and o % SECONDS_PER_HOUR == 0 for t, o in self.offsets)


def _offset(zone: ZoneInfo, epoch: int) -> int:
    moment = EPOCH + timedelta(seconds=epoch)
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta else 0


def zone_offsets(zone: ZoneInfo, start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The zone's offsets between two epoch seconds: hourly probes find each change, a binary
    search pins it to the second."""
    result = [(start, _offset(zone, start))]
    probe = start
    while probe < end:
        step = min(probe + SECONDS_PER_HOUR, end)
        if _offset(zone, step) != result[-1][1]:
            low, high = probe, step  # offset(low) is the current one, offset(high) the new one
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == result[-1][1]:
                    low = middle
                else:
                    high = middle
            result.append((high, _offset(zone, high)))
        probe = step
    return tuple(result)


def make_period(date_from: date, date_to: date, zone: ZoneInfo) -> Period:
    """Inclusive local days ``date_from``..``date_to`` in ``zone``."""
    start = local_midnight(date_from, zone)
    end = local_midnight(date_to + timedelta(days=1), zone)
    return Period(
        zone,
        date_from,
        date_to,
        start,
        end,
        zone_offsets(zone, epoch_seconds(start), epoch_seconds(end)),
    )


def day_label(day_number: int) -> str:
    """Local day number (days since 1970-01-01) as ``YYYY-MM-DD``."""
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


def hour_label(hour_number: int) -> str:
    """Local hour number (hours since 1970-01-01 00:00) as ``YYYY-MM-DD HH:00``."""
    return (datetime(1970, 1, 1) + timedelta(hours=hour_number)).strftime("%Y-%m-%d %H:00")


def day_number(value: date) -> int:
    return (value - date(1970, 1, 1)).days


def hour_number(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds()) // SECONDS_PER_HOUR
