"""The condition engine alone: every field kind and operator, case, versions, IPv4/IPv6 and CIDR,
time zones and DST, match all/any, and stored conditions it cannot check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tracker.tracking.conditions import (
    ConditionError,
    compile_condition,
    compile_rule,
    observed,
    parse_version,
    zone_named,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NOON_UTC = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def visit(**values: Any) -> dict[str, Any]:
    """Facts as the hot path builds them: every text empty unless given."""
    facts: dict[str, Any] = {
        "created_at": NOON_UTC,
        "campaign_id": 7,
        "traffic_source_id": 3,
        "ip": "81.2.69.160",
        "user_agent": "",
        "device_type": "",
        "brand": "",
        "model": "",
        "os": "",
        "os_version": "",
        "browser": "",
        "browser_version": "",
        "country": "",
        "region": "",
        "city": "",
        "isp": "",
        "asn": None,
        "connection_type": "",
        "language": "",
        "referrer": "",
        "referrer_domain": "",
        **{f"var{n}": "" for n in range(1, 11)},
    }
    facts.update(values)
    return facts


def holds(condition: Mapping[str, Any], facts: Mapping[str, Any], zone: Any = UTC) -> bool:
    return compile_condition(condition, zone)(facts)


def cond(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"field": field, "op": op, "values": list(values)}


# --- text fields ---------------------------------------------------------------------------------

TEXT_FIELDS = [
    ("country", "FR", "fr", "DE"),
    ("region", "Île-de-France", "ÎLE-DE-FRANCE", "Bavaria"),
    ("city", "Paris", "paris", "Lyon"),
    ("isp", "Orange", "orange", "Free"),
    ("connection_type", "Cable/DSL", "cable/dsl", "Cellular"),
    ("device_type", "mobile", "Mobile", "desktop"),
    ("brand", "Samsung", "SAMSUNG", "Apple"),
    ("model", "SM-S911B", "sm-s911b", "iPhone"),
    ("os", "iOS", "ios", "Android"),
    ("browser", "Mobile Safari", "mobile safari", "Chrome Mobile"),
    ("language", "fr", "FR", "en"),
    ("referrer_domain", "news.example", "NEWS.example", "other.example"),
    *((f"var{n}", f"zone{n}", f"ZONE{n}", "other") for n in range(1, 11)),
]


@pytest.mark.parametrize(("field", "value", "written", "other"), TEXT_FIELDS)
def test_text_fields_in_not_in_and_contains_ignore_case(
    field: str, value: str, written: str, other: str
) -> None:
    facts = visit(**{field: value})
    assert holds(cond(field, "in", other, written), facts)
    assert not holds(cond(field, "in", other), facts)
    assert holds(cond(field, "not_in", other), facts)
    assert not holds(cond(field, "not_in", written), facts)
    if field not in ("country", "device_type"):
        assert holds(cond(field, "contains", written[1:4]), facts)
        assert not holds(cond(field, "contains", "zzz"), facts)
    # An empty value of the visit is in nothing but "", and not_in everything else.
    empty = visit()
    assert not holds(cond(field, "in", written), empty)
    assert holds(cond(field, "not_in", written), empty)


def test_user_agent_and_referrer_contains_and_empty_referrer() -> None:
    facts = visit(
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) [FBAN/FBIOS]",
        referrer="https://m.facebook.com/story?id=1",
    )
    assert holds(cond("user_agent", "contains", "fban", "instagram"), facts)
    assert not holds(cond("user_agent", "contains", "Instagram"), facts)
    assert holds(cond("referrer", "contains", "FACEBOOK.com"), facts)
    assert not holds(cond("referrer", "in", ""), facts)  # "in ['']" is "no referrer"
    assert holds(cond("referrer", "in", ""), visit())
    assert holds(cond("referrer", "not_in", ""), facts)
    assert not holds(cond("referrer", "contains", "facebook"), visit())


# --- versions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "inside"),
    [
        ("13.7", False),
        ("14", True),
        ("14.0.1", True),
        ("15.8.3", True),
        ("16.4", True),
        ("16.4.1", True),  # at the precision of "16.4", 16.4.1 is 16.4
        ("16.5", False),
        ("17", False),
        ("", False),
        ("unknown", False),
    ],
)
def test_os_version_between_compares_numbers_part_by_part(version: str, inside: bool) -> None:
    assert holds(cond("os_version", "between", "14", "16.4"), visit(os_version=version)) is inside


def test_versions_compare_numerically_not_as_text() -> None:
    # As text, "9" > "10" and "124.0.10" < "124.0.9"; as versions they are not.
    assert holds(cond("browser_version", "between", "9", "10"), visit(browser_version="10.2"))
    assert not holds(cond("browser_version", "between", "9", "10"), visit(browser_version="100"))
    assert holds(
        cond("browser_version", "between", "124.0.10", "125"),
        visit(browser_version="124.0.12"),
    )
    assert not holds(
        cond("browser_version", "between", "124.0.10", "125"), visit(browser_version="124.0.9")
    )


def test_version_in_matches_at_the_precision_written() -> None:
    facts = visit(os_version="17.4.1")
    assert holds(cond("os_version", "in", "16", "17"), facts)
    assert holds(cond("os_version", "in", "17.4"), facts)
    assert not holds(cond("os_version", "in", "17.5", "7"), facts)
    assert holds(cond("os_version", "not_in", "16"), facts)
    assert holds(cond("os_version", "contains", ".4"), facts)
    assert holds(cond("os_version", "in", "Vista"), visit(os_version="vista"))
    assert parse_version("10.0 beta") == (10, 0)
    assert parse_version("16_4") == (16, 4)
    assert parse_version("x") is None


# --- numbers and ids ------------------------------------------------------------------------------


def test_asn_in_not_in_between() -> None:
    facts = visit(asn=13335)
    assert holds(cond("asn", "in", "15169", "13335"), facts)
    assert holds(cond("asn", "in", "AS13335"), facts)
    assert holds(cond("asn", "between", "13000", "14000"), facts)
    assert holds(cond("asn", "between", "13335", "13335"), facts)
    assert not holds(cond("asn", "between", "13336", "14000"), facts)
    assert holds(cond("asn", "not_in", "15169"), facts)
    unknown = visit(asn=None)
    assert not holds(cond("asn", "in", "13335"), unknown)
    assert not holds(cond("asn", "between", "0", "99999"), unknown)
    assert holds(cond("asn", "not_in", "13335"), unknown)


def test_campaign_and_traffic_source_by_id() -> None:
    facts = visit(campaign_id=7, traffic_source_id=3)
    assert holds(cond("campaign", "in", "7", "8"), facts)
    assert not holds(cond("campaign", "in", "8"), facts)
    assert holds(cond("traffic_source", "not_in", "4"), facts)
    assert not holds(cond("traffic_source", "not_in", "3"), facts)


def test_unique_visit() -> None:
    assert holds(cond("unique", "in", "true"), visit(is_unique=True))
    assert not holds(cond("unique", "in", "true"), visit(is_unique=False))
    assert holds(cond("unique", "in", "false"), visit(is_unique=False))
    assert holds(cond("unique", "in", "true", "false"), visit(is_unique=False))
    assert not holds(cond("unique", "in", "true", "false"), visit())  # not known: no match


# --- IP addresses ---------------------------------------------------------------------------------


def test_ip_exact_v4_and_v6_in_any_spelling() -> None:
    assert holds(cond("ip", "in", "203.0.113.7", "198.51.100.1"), visit(ip="203.0.113.7"))
    assert not holds(cond("ip", "in", "203.0.113.7"), visit(ip="203.0.113.8"))
    v6 = cond("ip", "in", "2001:DB8:0:0::1")
    assert holds(v6, visit(ip="2001:db8::1"))
    assert holds(v6, visit(ip="2001:0db8:0000::0001"))  # not canonical: parsed to compare
    assert not holds(v6, visit(ip="2001:db8::2"))
    assert holds(cond("ip", "not_in", "2001:db8::1"), visit(ip="203.0.113.7"))
    assert not holds(cond("ip", "in", "203.0.113.7"), visit(ip=""))


def test_ip_in_cidr_v4_v6_mapped_and_many_ranges() -> None:
    ranges = cond("ip", "in_cidr", "10.0.0.0/8", "203.0.113.0/24", "2001:db8::/32", "::1/128")
    assert holds(ranges, visit(ip="10.200.3.4"))
    assert holds(ranges, visit(ip="203.0.113.255"))
    assert not holds(ranges, visit(ip="203.0.114.0"))
    assert not holds(ranges, visit(ip="9.255.255.255"))
    assert holds(ranges, visit(ip="2001:db8:ffff::1"))
    assert not holds(ranges, visit(ip="2001:db9::1"))
    assert holds(ranges, visit(ip="::1"))
    assert holds(ranges, visit(ip="::ffff:10.1.2.3"))  # an IPv4-mapped IPv6 address is IPv4
    assert not holds(ranges, visit(ip="not an ip"))
    assert not holds(ranges, visit(ip=""))
    assert holds(cond("ip", "in_cidr", "::ffff:10.0.0.0/104"), visit(ip="10.9.9.9"))
    assert holds(cond("ip", "in_cidr", "203.0.113.9"), visit(ip="203.0.113.9"))  # a /32
    assert holds(cond("ip", "in_cidr", "10.0.0.0/8"), visit(ip="10.0.0.1"))
    # 2,000 ranges: still a bisect, and overlapping ranges merge.
    many = [f"100.{a}.{b}.0/24" for a in range(0, 40) for b in range(0, 250, 5)]
    big = cond("ip", "in_cidr", *many, "100.0.0.0/16")
    assert holds(big, visit(ip="100.39.245.77"))
    assert holds(big, visit(ip="100.0.3.1"))  # only in the /16
    assert not holds(big, visit(ip="100.39.246.1"))


# --- time -----------------------------------------------------------------------------------------


def at(text: str) -> dict[str, Any]:
    return visit(created_at=datetime.fromisoformat(text).astimezone(UTC))


def test_day_of_week_is_the_day_in_the_rule_zone() -> None:
    # Wednesday 23:30 UTC is Thursday 00:30 in Paris and Wednesday 18:30 in New York.
    facts = at("2026-11-25T23:30:00+00:00")
    thursday = cond("day_of_week", "in", "thursday")
    assert not holds(thursday, facts, UTC)
    assert holds(thursday, facts, PARIS)
    assert holds(cond("day_of_week", "in", "wednesday", "sunday"), facts, NEW_YORK)
    assert holds(cond("day_of_week", "not_in", "thursday"), facts, NEW_YORK)
    assert holds(cond("day_of_week", "in", "Thu"), facts, PARIS)
    assert observed("day_of_week", facts, PARIS) == "thursday (Europe/Paris)"


def test_time_of_day_includes_from_and_stops_before_to() -> None:
    office = cond("time_of_day", "between", "09:00", "17:00")
    assert holds(office, at("2026-11-25T09:00:00+00:00"))
    assert holds(office, at("2026-11-25T16:59:59+00:00"))
    assert not holds(office, at("2026-11-25T17:00:00+00:00"))
    assert not holds(office, at("2026-11-25T08:59:59+00:00"))


def test_time_of_day_wraps_past_midnight() -> None:
    night = cond("time_of_day", "between", "22:00", "06:00")
    assert holds(night, at("2026-11-25T23:15:00+00:00"))
    assert holds(night, at("2026-11-25T00:00:00+00:00"))
    assert holds(night, at("2026-11-25T05:59:00+00:00"))
    assert not holds(night, at("2026-11-25T06:00:00+00:00"))
    assert not holds(night, at("2026-11-25T21:59:00+00:00"))
    assert holds(night, at("2026-11-25T22:00:00+00:00"))


# A rule for 09:00-17:00 in Paris, checked at UTC instants around both changes of 2026:
# summer time ends on 25 October (03:00 CEST → 02:00 CET, at 01:00 UTC), starts on 29 March
# (02:00 CET → 03:00 CEST, at 01:00 UTC). Paris is UTC+2 in summer, UTC+1 in winter.
DST_CASES = [
    # the Saturday before summer time ends: UTC+2
    ("2026-10-24T06:59:00Z", False),
    ("2026-10-24T07:00:00Z", True),  # 09:00 CEST
    ("2026-10-24T14:59:00Z", True),
    ("2026-10-24T15:00:00Z", False),  # 17:00 CEST
    # the day of the change and the Monday after: UTC+1
    ("2026-10-25T07:30:00Z", False),  # 08:30 CET (it would be 09:30 at the old offset)
    ("2026-10-25T08:00:00Z", True),  # 09:00 CET
    ("2026-10-26T07:59:00Z", False),
    ("2026-10-26T08:00:00Z", True),
    ("2026-10-26T15:59:00Z", True),  # 16:59 CET (17:59 at the old offset)
    ("2026-10-26T16:00:00Z", False),
    # the Saturday before summer time starts: UTC+1
    ("2026-03-28T07:00:00Z", False),  # 08:00 CET
    ("2026-03-28T08:00:00Z", True),
    ("2026-03-28T15:59:00Z", True),
    ("2026-03-28T16:00:00Z", False),
    # the day of the change: UTC+2
    ("2026-03-29T06:59:00Z", False),
    ("2026-03-29T07:00:00Z", True),  # 09:00 CEST (08:00 at the old offset)
    ("2026-03-29T14:59:00Z", True),
    ("2026-03-29T15:00:00Z", False),  # 17:00 CEST
    ("2026-03-30T15:30:00Z", False),
]


@pytest.mark.parametrize(("instant", "inside"), DST_CASES)
def test_time_of_day_in_paris_across_dst(instant: str, inside: bool) -> None:
    office = compile_rule(
        [cond("time_of_day", "between", "09:00", "17:00")], zone=ZoneInfo("Europe/Paris")
    )
    facts = visit(created_at=datetime.fromisoformat(instant))
    assert all(p(facts) for p in office) is inside


def test_hour_of_day_day_and_hour() -> None:
    facts = at("2026-11-25T23:30:00+00:00")  # 00:30 on the 26th in Paris
    assert holds(cond("hour_of_day", "in", "23"), facts)
    assert holds(cond("hour_of_day", "in", "0"), facts, PARIS)
    assert holds(cond("hour_of_day", "between", "22", "2"), facts, PARIS)  # wraps, both included
    assert holds(cond("hour_of_day", "between", "20", "23"), facts)
    assert not holds(cond("hour_of_day", "between", "1", "5"), facts, PARIS)
    assert holds(cond("day", "in", "2026-11-26"), facts, PARIS)
    assert not holds(cond("day", "in", "2026-11-26"), facts)
    assert holds(cond("day", "between", "2026-11-01", "2026-11-25"), facts)
    assert not holds(cond("day", "between", "2026-11-01", "2026-11-25"), facts, PARIS)
    assert holds(cond("hour", "in", "2026-11-26 00"), facts, PARIS)
    assert holds(cond("hour", "between", "2026-11-25 20", "2026-11-25 23"), facts)
    assert not holds(cond("hour", "between", "2026-11-25 20", "2026-11-25 22"), facts)
    assert not holds(cond("day_of_week", "in", "monday"), {"country": "FR"})  # no time at all


# --- rules ----------------------------------------------------------------------------------------


def test_values_are_ored_and_conditions_anded_or_any() -> None:
    conditions = [cond("country", "in", "FR", "BE"), cond("os", "in", "iOS")]
    rule_all = compile_rule(conditions)
    rule_any = compile_rule(conditions, match="any")
    assert len(rule_any) == 1

    def matches(rule: tuple[Any, ...], facts: dict[str, Any]) -> bool:
        return all(p(facts) for p in rule)

    assert matches(rule_all, visit(country="BE", os="iOS"))
    assert not matches(rule_all, visit(country="BE", os="Android"))
    assert matches(rule_any, visit(country="BE", os="Android"))
    assert matches(rule_any, visit(country="US", os="iOS"))
    assert not matches(rule_any, visit(country="US", os="Android"))


@pytest.mark.parametrize(
    "condition",
    [
        cond("planet", "in", "mars"),
        cond("country", "in_cidr", "10.0.0.0/8"),
        cond("ip", "in_cidr", "10.0.0.300/8"),
        cond("ip", "in", "10.0.0.0/8"),
        cond("os_version", "between", "14"),
        cond("os_version", "between", "a", "b"),
        cond("time_of_day", "between", "25:00", "06:00"),
        cond("time_of_day", "between", "09:00", "09:00"),
        cond("day_of_week", "in", "funday"),
        cond("asn", "in", "many"),
        cond("campaign", "in", "seven"),
        cond("country", "in"),
        {"field": "country", "op": "in", "values": "FR"},
        "country in FR",
    ],
)
def test_conditions_it_cannot_check_are_refused(condition: Any) -> None:
    with pytest.raises(ConditionError):
        compile_condition(condition)


def test_unknown_match_and_zones_are_refused() -> None:
    with pytest.raises(ConditionError):
        compile_rule([cond("country", "in", "FR")], match="most")
    for name in ("Mars/Olympus", "../etc/passwd", 5):
        with pytest.raises(ConditionError):
            zone_named(name, UTC)  # type: ignore[arg-type]
    assert zone_named(None, PARIS) is PARIS and zone_named("", PARIS) is PARIS
    assert zone_named("America/New_York", PARIS) == NEW_YORK
