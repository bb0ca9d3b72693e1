"""Flow rule conditions compiled into predicates over a visit's facts.

A condition is ``{"field", "op", "values"}`` as ``tracker.setup.schemas`` validated and stored
it. Compiling does every costly step once per snapshot (lower-cased value sets, parsed networks
as sorted integer ranges, version tuples, time zones), so checking a visit is a few dictionary
reads and comparisons. The facts are the visit's column values as the hot path builds them
(``tracker.tracking.service``): ``country``, ``os_version``, ``var3``, ``campaign_id``,
``created_at`` (aware UTC), and ``is_unique`` when a rule asks for it.

How values match, per kind of field:
- text (geo, device, browser, language, referrer, user agent, vars): ``in``/``not_in`` compare
  whole values, ``contains`` looks for a part; all case-insensitive. ``in [""]`` matches an empty
  value (no referrer).
- versions (``os_version``, ``browser_version``): compared number by number at the precision of
  the value written: ``in ["17"]`` matches 17, 17.0 and 17.4.1; ``between 14 and 16.4`` matches
  14.0 up to every 16.4.x, not 16.5 (both ends included).
- ``asn``, ``hour_of_day``: numbers; ``between`` includes both ends (hours may wrap: 22 to 3).
- ``ip``: ``in`` exact addresses, ``in_cidr`` IPv4 and IPv6 ranges (IPv4-mapped IPv6 addresses
  are their IPv4 address).
- time (``day_of_week``, ``time_of_day``, ``hour_of_day``, ``day``, ``hour``): the visit's time in
  the rule's time zone (else the account's). ``time_of_day between 09:00 and 17:00`` includes
  09:00 and stops before 17:00; from 22:00 to 06:00 wraps past midnight.
- ``campaign``, ``traffic_source``: ids. ``unique``: ``true`` or ``false``.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.setup.schemas import DAYS_OF_WEEK, FIELD_KINDS, OPS_BY_KIND
from tracker.tracking.enrich import CANONICAL_IPV4

Facts = Mapping[str, Any]
# A compiled condition (or rule): true when the visit's facts match.
Predicate = Callable[[Facts], bool]

# Condition field → the visit value it reads (the same name unless listed).
FACT_KEYS: dict[str, str] = {
    "campaign": "campaign_id",
    "traffic_source": "traffic_source_id",
    "unique": "is_unique",
    **dict.fromkeys(("day_of_week", "time_of_day", "hour_of_day", "day", "hour"), "created_at"),
}
TIME_KINDS = ("day_of_week", "time_of_day", "hour_of_day", "day", "hour")


class ConditionError(ValueError):
    """A stored condition that cannot be checked (unknown field or op, or a bad value)."""


def fact_key(field: str) -> str:
    """The visit value a condition field reads."""
    return FACT_KEYS.get(field, field)


def zone_named(name: str | None, default: tzinfo) -> tzinfo:
    """A rule's time zone by IANA name (``None`` or empty: ``default``, the account's)."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConditionError(f"unknown time zone {name!r}") from exc


def compile_rule(
    conditions: Sequence[Mapping[str, Any]], *, match: str = "all", zone: tzinfo = UTC
) -> tuple[Predicate, ...]:
    """A rule's conditions as predicates that must all hold (``match: any``: one predicate
    that holds when any condition does). Raises ``ConditionError`` for one it cannot check."""
    if match not in ("all", "any"):
        raise ConditionError(f"unknown match {match!r}")
    predicates = tuple(compile_condition(c, zone) for c in conditions)
    if match == "any" and len(predicates) > 1:
        return (_any_of(predicates),)
    return predicates


def _any_of(predicates: tuple[Predicate, ...]) -> Predicate:
    def any_holds(facts: Facts) -> bool:
        return any(predicate(facts) for predicate in predicates)

    return any_holds


def compile_condition(condition: Mapping[str, Any], zone: tzinfo = UTC) -> Predicate:
    """One condition as a predicate; values of the condition are OR'ed."""
    if not isinstance(condition, Mapping):
        raise ConditionError("a condition is an object with field, op and values")
    field, op, values = condition.get("field"), condition.get("op"), condition.get("values")
    kind = FIELD_KINDS.get(field) if isinstance(field, str) else None
    if kind is None:
        raise ConditionError(f"unknown field {field!r}")
    if op not in OPS_BY_KIND[kind]:
        raise ConditionError(f"op {op!r} does not apply to {field}")
    if not isinstance(values, list) or not values:
        raise ConditionError(f"{field}: no values")
    texts = [str(v).strip() for v in values]
    assert isinstance(field, str) and isinstance(op, str)
    try:
        predicate = _COMPILERS[kind](fact_key(field), op, texts, zone)
    except (ValueError, TypeError, IndexError) as exc:
        raise ConditionError(f"{field} {op}: {exc}") from exc
    if op == "not_in":
        return _negated(predicate)
    return predicate


def _negated(predicate: Predicate) -> Predicate:
    def negated(facts: Facts) -> bool:
        return not predicate(facts)

    return negated


def _pair(values: list[str]) -> tuple[str, str]:
    if len(values) != 2:
        raise ValueError("between takes two values")
    return values[0], values[1]


# --- text -----------------------------------------------------------------------------------------


def _text(key: str, op: str, values: list[str], _zone: tzinfo) -> Predicate:
    folded = tuple(dict.fromkeys(v.casefold() for v in values))
    if op == "contains":
        parts = tuple(p for p in folded if p)
        if not parts:
            raise ValueError("nothing to look for")

        def contains(facts: Facts) -> bool:
            value = facts.get(key)
            if not value:
                return False
            value = value.casefold()
            return any(part in value for part in parts)

        return contains
    wanted = frozenset(folded)

    def is_in(facts: Facts) -> bool:
        return (facts.get(key) or "").casefold() in wanted

    return is_in


# --- versions ------------------------------------------------------------------------------------

_VERSION_PART = re.compile(r"\d+")


@lru_cache(maxsize=2048)
def parse_version(text: str) -> tuple[int, ...] | None:
    """``"16.4.1"`` → ``(16, 4, 1)``; parts after the first without digits are ignored
    (``"10.0 beta"`` → ``(10, 0)``); None without a leading number."""
    parts: list[int] = []
    for piece in re.split(r"[._]", text.strip()):
        found = _VERSION_PART.match(piece)
        if found is None:
            break
        parts.append(int(found.group()))
        if found.end() != len(piece):
            break
    return tuple(parts) if parts else None


def _at_precision(version: tuple[int, ...], length: int) -> tuple[int, ...]:
    """The version cut (or padded with zeros) to ``length`` numbers: 16.4.1 at 2 is 16.4."""
    if len(version) >= length:
        return version[:length]
    return version + (0,) * (length - len(version))


def _visit_version(facts: Facts, key: str) -> tuple[int, ...] | None:
    value = facts.get(key)
    return parse_version(value) if value else None


def _version(key: str, op: str, values: list[str], zone: tzinfo) -> Predicate:
    if op == "contains":
        return _text(key, op, values, zone)
    if op == "between":
        low_text, high_text = _pair(values)
        low, high = parse_version(low_text), parse_version(high_text)
        if low is None or high is None:
            raise ValueError("between takes two versions")
        low_len, high_len = len(low), len(high)

        def between(facts: Facts) -> bool:
            version = _visit_version(facts, key)
            return (
                version is not None
                and low <= _at_precision(version, low_len)
                and _at_precision(version, high_len) <= high
            )

        return between
    exact = frozenset(v.casefold() for v in values)
    versions = tuple({parsed for v in values if (parsed := parse_version(v)) is not None})

    def is_in(facts: Facts) -> bool:
        value = facts.get(key) or ""
        if value.casefold() in exact:
            return True
        version = parse_version(value) if value else None
        if version is None:
            return False
        return any(_at_precision(version, len(wanted)) == wanted for wanted in versions)

    return is_in


# --- numbers and ids ------------------------------------------------------------------------------


def _number(key: str, op: str, values: list[str], _zone: tzinfo) -> Predicate:
    if op == "between":
        low, high = (int(v.upper().removeprefix("AS")) for v in _pair(values))

        def between(facts: Facts) -> bool:
            value = facts.get(key)
            return value is not None and low <= value <= high

        return between
    wanted = frozenset(int(v.upper().removeprefix("AS")) for v in values)

    def is_in(facts: Facts) -> bool:
        return facts.get(key) in wanted

    return is_in


def _unique(key: str, _op: str, values: list[str], _zone: tzinfo) -> Predicate:
    wanted = frozenset(v.lower() in ("true", "1", "yes") for v in values)

    def is_in(facts: Facts) -> bool:
        value = facts.get(key)
        return value is not None and bool(value) in wanted

    return is_in


# --- IP addresses ---------------------------------------------------------------------------------


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _merged_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted, non-overlapping (starts, ends) of integer ranges."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(ranges):
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return tuple(starts), tuple(ends)


def _ip(key: str, op: str, values: list[str], _zone: tzinfo) -> Predicate:
    if op == "in_cidr":
        by_version: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for value in values:
            network = ipaddress.ip_network(value, strict=False)
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
                mapped = network.network_address.ipv4_mapped
                if mapped is not None:  # ::ffff:10.0.0.0/104 is 10.0.0.0/8
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            first = int(network.network_address)
            by_version[network.version].append((first, first + network.num_addresses - 1))
        tables = {version: _merged_ranges(ranges) for version, ranges in by_version.items()}

        v4_starts, v4_ends = tables[4]

        def in_cidr(facts: Facts) -> bool:
            text = facts.get(key)
            if not text:
                return False
            if CANONICAL_IPV4.fullmatch(text):  # most visitors: no ipaddress object
                a, b, c, d = text.split(".")
                number = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
                at = bisect_right(v4_starts, number) - 1
                return at >= 0 and number <= v4_ends[at]
            address = _address(text)
            if address is None:
                return False
            starts, ends = tables[address.version]
            number = int(address)
            at = bisect_right(starts, number) - 1
            return at >= 0 and number <= ends[at]

        return in_cidr
    wanted = set()
    for value in values:
        address = _address(value)
        if address is None:
            raise ValueError(f"{value!r} is not an IP address")
        wanted.add(str(address))
    exact = frozenset(wanted)

    def is_in(facts: Facts) -> bool:
        text = facts.get(key)
        if not text:
            return False
        if text in exact:
            return True
        # The hot path gives canonical addresses; anything else is parsed to compare.
        address = _address(text)
        return address is not None and str(address) in exact

    return is_in


# --- time -----------------------------------------------------------------------------------------


def local_time(facts: Facts, zone: tzinfo) -> datetime | None:
    """The visit's time in ``zone`` (None when the facts have no time)."""
    moment = facts.get("created_at")
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:  # stored times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value < 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def _hour_key(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H")


def _time(field: str) -> Callable[[str, str, list[str], tzinfo], Predicate]:
    """The compiler of one time field: each reads the visit's local time in the rule's zone."""

    def compile_time(_key: str, op: str, values: list[str], zone: tzinfo) -> Predicate:
        local_value = _LOCAL_VALUES[field]
        if op == "between":
            low, high = (_TIME_VALUE[field](v) for v in _pair(values))
            if field == "time_of_day" and low == high:
                raise ValueError("from and to are the same time")
            # Minutes of the day: from included, to excluded. Hours and days: both included.
            wraps = low > high and field in ("time_of_day", "hour_of_day")
            inclusive = field != "time_of_day"

            def between(facts: Facts) -> bool:
                local = local_time(facts, zone)
                if local is None:
                    return False
                value = local_value(local)
                if wraps:
                    return value >= low or (value <= high if inclusive else value < high)
                return low <= value <= high if inclusive else low <= value < high

            return between
        wanted = frozenset(_TIME_VALUE[field](v) for v in values)

        def is_in(facts: Facts) -> bool:
            local = local_time(facts, zone)
            return local is not None and local_value(local) in wanted

        return is_in

    return compile_time


def _day_of_week(text: str) -> int:
    lowered = text.strip().lower()
    for number, day in enumerate(DAYS_OF_WEEK):
        if lowered in (day, day[:3]):
            return number
    raise ValueError(f"{text!r} is not a day of the week")


def _hour_of_day(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 23:
        raise ValueError(f"{text!r} is not an hour of the day")
    return value


# How a condition value reads, and the same value of the visit's local time.
_TIME_VALUE: dict[str, Callable[[str], Any]] = {
    "day_of_week": _day_of_week,
    "time_of_day": _minutes,
    "hour_of_day": _hour_of_day,
    "day": date.fromisoformat,
    "hour": _hour_key,
}
_LOCAL_VALUES: dict[str, Callable[[datetime], Any]] = {
    "day_of_week": lambda local: local.weekday(),
    "time_of_day": lambda local: local.hour * 60 + local.minute,
    "hour_of_day": lambda local: local.hour,
    "day": lambda local: local.date(),
    "hour": lambda local: local.strftime("%Y-%m-%d %H"),
}


def _entity(key: str, op: str, values: list[str], zone: tzinfo) -> Predicate:
    return _number(key, op, values, zone)


_COMPILERS: dict[str, Callable[[str, str, list[str], tzinfo], Predicate]] = {
    "entity": _entity,
    "text": _text,
    "country": _text,
    "device_type": _text,
    "version": _version,
    "asn": _number,
    "ip": _ip,
    "unique": _unique,
    **{field: _time(field) for field in TIME_KINDS},
}


def observed(field: str, facts: Facts, zone: tzinfo) -> str:
    """What a condition on ``field`` sees of the visit, as text (for explaining a match)."""
    if field in TIME_KINDS:
        local = local_time(facts, zone)
        if local is None:
            return ""
        shown = {
            "day_of_week": DAYS_OF_WEEK[local.weekday()],
            "time_of_day": local.strftime("%H:%M"),
            "hour_of_day": str(local.hour),
            "day": local.date().isoformat(),
            "hour": local.strftime("%Y-%m-%d %H"),
        }[field]
        return f"{shown} ({getattr(zone, 'key', None) or zone.tzname(local) or 'UTC'})"
    value = facts.get(fact_key(field))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
