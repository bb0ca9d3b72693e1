"""Reports: every metric against hand-computed figures, filters, levels, time zones, bots, sort,
rollups agreeing with raw visits, the API, CSV, and workspace isolation."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.report_data import AT, Dataset, add_conversion, add_visit
from tracker.models import Campaign, Visit
from tracker.reports import rollups
from tracker.reports.metrics import METRIC_NAMES, Metrics, Sums
from tracker.reports.periods import SECONDS_PER_DAY, SECONDS_PER_HOUR
from tracker.reports.query import (
    ReportError,
    metrics_by_entity,
    parse_report_args,
    run_report,
)

DAY = "2026-11-10"


def report(db: Session, workspace_id: int, tz: str = "UTC", **params: str) -> Any:
    args = {"from": [DAY], "to": [DAY], **{k: [v] for k, v in params.items()}}
    return run_report(db, parse_report_args(args, workspace_id, tz))


def by(result: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {row.values[key]: row.as_dict() for row in result.rows}


def test_every_metric_by_traffic_source_matches_hand_computed_figures(
    db: Session, data: Dataset
) -> None:
    rows = by(report(db, data.c1.workspace_id, group_by="traffic_source"), "traffic_source")
    alpha = rows["Alpha"]
    assert alpha["traffic_source_id"] == data.alpha.id
    assert (alpha["visits"], alpha["unique_visits"], alpha["clicks"]) == (5, 4, 4)
    # v1 approved, v3 pending count; v5 declined does not; v4 is a bot's.
    assert alpha["conversions"] == 3
    assert alpha["revenue"] == Decimal("11")
    # 4 human visits at 0.01 (cpc) + 50 % revshare of C3's 6.00.
    assert alpha["cost"] == Decimal("3.04")
    assert alpha["profit"] == Decimal("7.96")
    assert alpha["roi"].quantize(Decimal("0.0001")) == Decimal("261.8421")
    assert alpha["ctr"] == Decimal("80")
    assert alpha["cr"] == Decimal("75")
    assert alpha["cv"] == Decimal("60")
    assert alpha["epv"] == Decimal("2.2")
    assert alpha["epc"] == Decimal("2.75")
    assert alpha["ap"].quantize(Decimal("0.000001")) == Decimal("3.666667")
    assert alpha["cpv"] == Decimal("0.608")
    assert alpha["cpc"] == Decimal("0.76")
    assert alpha["cpa"].quantize(Decimal("0.000001")) == Decimal("1.013333")

    beta = rows["Beta"]  # cpa 2.00 per counted conversion
    assert (beta["visits"], beta["clicks"], beta["conversions"]) == (2, 1, 1)
    assert (beta["revenue"], beta["cost"], beta["profit"]) == (Decimal(4), Decimal(2), Decimal(2))
    assert (beta["roi"], beta["ctr"], beta["cr"], beta["cv"]) == (100, 50, 100, 50)
    assert (beta["epv"], beta["epc"], beta["ap"]) == (2, 4, 4)
    assert (beta["cpv"], beta["cpc"], beta["cpa"]) == (1, 2, 2)


def test_zero_denominators_are_null_never_zero(db: Session, data: Dataset) -> None:
    gamma = by(report(db, data.c1.workspace_id, group_by="traffic_source"), "traffic_source")[
        "Gamma"
    ]
    assert gamma["visits"] == 1 and gamma["clicks"] == 0 and gamma["conversions"] == 0
    assert gamma["ctr"] == 0  # clicks / visits: a real zero
    assert gamma["cv"] == 0 and gamma["epv"] == 0 and gamma["cpv"] == 0
    for ratio in ("roi", "cr", "epc", "ap", "cpc", "cpa"):
        assert gamma[ratio] is None, ratio
    empty = Metrics.from_sums(Sums())
    assert all(getattr(empty, n) is None for n in ("roi", "ctr", "cr", "cv", "epv", "ap", "cpa"))


def test_totals_and_bots_on_request(db: Session, data: Dataset) -> None:
    totals = report(db, data.c1.workspace_id, group_by="campaign").totals
    assert (totals.visits, totals.unique_visits, totals.clicks, totals.conversions) == (8, 7, 5, 4)
    assert (totals.revenue, totals.cost, totals.profit) == (
        Decimal("15"),
        Decimal("5.04"),
        Decimal("9.96"),
    )
    with_bots = report(db, data.c1.workspace_id, group_by="campaign", include_bots="1")
    c1 = by(with_bots, "campaign")["C1"]
    assert (c1["visits"], c1["clicks"], c1["conversions"], c1["revenue"]) == (5, 4, 3, 15)
    assert c1["cost"] == Decimal("0.05")


def test_filters_by_name_id_and_value_and_three_levels(db: Session, data: Dataset) -> None:
    ws = data.c1.workspace_id
    result = report(db, ws, group_by="campaign,country,var1", traffic_source="Alpha")
    keys = {(r.values["campaign"], r.values["country"], r.values["var1"]) for r in result.rows}
    assert keys == {("C1", "US", "z1"), ("C1", "DE", "z2"), ("C3", "US", "")}
    by_id = report(db, ws, group_by="country", campaign_id=str(data.c1.id))
    assert {r.values["country"]: r.sums.visits for r in by_id.rows} == {"US": 2, "DE": 2}
    only_de = report(db, ws, group_by="device_type", campaign_id=str(data.c1.id), country="DE")
    assert only_de.totals.visits == 2 and only_de.totals.conversions == 1
    nobody = report(db, ws, group_by="campaign", traffic_source="No such source")
    assert nobody.rows == [] and nobody.totals.visits == 0


def test_missing_entity_is_filtered_by_an_empty_id(db: Session, data: Dataset) -> None:
    result = report(db, data.c1.workspace_id, group_by="lander", lander_id="")
    assert [r.values for r in result.rows] == [{"lander": None, "lander_id": None}]
    assert result.totals.visits == 8


def test_sort_by_any_column_nulls_last(db: Session, data: Dataset) -> None:
    ws = data.c1.workspace_id
    names = lambda **p: [r.values["campaign"] for r in report(db, ws, **p).rows]  # noqa: E731
    assert names(group_by="campaign", sort="-profit") == ["C1", "C3", "C2", "C4"]
    assert names(group_by="campaign", sort="profit") == ["C4", "C2", "C3", "C1"]
    assert names(group_by="campaign", sort="-roi")[-1] == "C4"  # null ROI last either way
    assert names(group_by="campaign", sort="roi")[-1] == "C4"
    assert names(group_by="campaign", sort="campaign") == ["C1", "C2", "C3", "C4"]
    assert len(report(db, ws, group_by="campaign", limit="2").rows) == 2


@pytest.mark.parametrize("rolled_up", [False, True])
def test_a_limited_report_sorted_by_a_metric_is_the_full_sort_cut_short(
    db: Session, data: Dataset, rolled_up: bool
) -> None:
    ws = data.c1.workspace_id
    if rolled_up:
        rollups.refresh_rollups(db, now=AT + timedelta(days=3))
        db.commit()
    levels = "campaign,country,var1"
    everything = report(db, ws, group_by=levels, include_bots="1")
    assert everything.total_rows == len(everything.rows) >= 4
    for metric in METRIC_NAMES:
        for sort in (metric, f"-{metric}"):
            # The order the glossary's own Decimal figures give, nulls last either way.
            values = [getattr(r.metrics, metric) for r in everything.rows]
            present = sorted((v for v in values if v is not None), reverse=sort[0] == "-")
            expected = present + [None] * (len(values) - len(present))
            ordered = report(db, ws, group_by=levels, include_bots="1", sort=sort)
            assert [getattr(r.metrics, metric) for r in ordered.rows] == expected, sort
            limited = report(db, ws, group_by=levels, include_bots="1", sort=sort, limit="2")
            assert [r.values for r in limited.rows] == [r.values for r in ordered.rows[:2]]
            # Totals and the row count stay over every group, not the rows returned.
            assert limited.total_rows == everything.total_rows
            assert limited.totals == everything.totals


def test_day_and_hour_in_a_zone_across_the_end_of_dst(
    db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    """Europe/Paris leaves summer time on 2026-10-25 at 01:00 UTC: that day has 25 hours."""
    campaign = make_campaign()
    for at in (
        datetime(2026, 10, 24, 21, 59, tzinfo=UTC),  # 23:59 on the 24th (UTC+2)
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # 00:00 on the 25th
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 summer time
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 02:30 again, winter time
        datetime(2026, 10, 25, 22, 59, tzinfo=UTC),  # 23:59 on the 25th (UTC+1)
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 on the 26th
    ):
        add_visit(db, campaign, at=at)
    db.commit()
    args = {"from": ["2026-10-24"], "to": ["2026-10-26"], "tz": ["Europe/Paris"]}
    days = run_report(
        db, parse_report_args({**args, "group_by": ["day"]}, campaign.workspace_id, "UTC")
    )
    assert [(r.values["day"], r.sums.visits) for r in days.rows] == [
        ("2026-10-24", 1),
        ("2026-10-25", 4),
        ("2026-10-26", 1),
    ]
    one_day = {**args, "from": ["2026-10-25"], "to": ["2026-10-25"], "group_by": ["hour_of_day"]}
    hours = run_report(db, parse_report_args(one_day, campaign.workspace_id, "UTC"))
    assert {r.values["hour_of_day"]: r.sums.visits for r in hours.rows} == {0: 1, 2: 2, 23: 1}
    weekday = {**one_day, "group_by": ["day_of_week"]}
    assert [
        r.values["day_of_week"]
        for r in run_report(db, parse_report_args(weekday, campaign.workspace_id, "UTC")).rows
    ] == [7]
    # The same instants seen from UTC fall on other days.
    utc = run_report(
        db,
        parse_report_args(
            {**args, "tz": ["UTC"], "group_by": ["day"]}, campaign.workspace_id, "UTC"
        ),
    )
    assert [(r.values["day"], r.sums.visits) for r in utc.rows] == [
        ("2026-10-24", 2),
        ("2026-10-25", 4),
    ]


def test_conversions_count_on_the_visits_day(db: Session, data: Dataset) -> None:
    """A conversion recorded days later still counts on its visit's day (cohort view)."""
    late_visit = add_visit(db, data.c4, at=AT - timedelta(days=3))
    add_conversion(db, late_visit, "9.00", created_at=AT)
    db.commit()
    assert report(db, data.c1.workspace_id, group_by="campaign").totals.conversions == 4
    earlier = run_report(
        db,
        parse_report_args(
            {"from": ["2026-11-07"], "to": ["2026-11-07"], "group_by": ["campaign"]},
            data.c1.workspace_id,
            "UTC",
        ),
    )
    assert earlier.totals.conversions == 1 and earlier.totals.revenue == Decimal("9")


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"group_by": ["nope"]}, "group_by"),
        ({"group_by": ["campaign,country,os,browser"]}, "group_by"),
        ({}, "group_by"),
        ({"group_by": ["campaign"], "from": ["2026-13-01"]}, "from"),
        ({"group_by": ["campaign"], "from": ["2026-11-05"], "to": ["2026-11-01"]}, "from"),
        ({"group_by": ["campaign"], "tz": ["Mars/Olympus"]}, "tz"),
        ({"group_by": ["campaign"], "sort": ["-nonsense"]}, "sort"),
        ({"group_by": ["campaign"], "campaign_id": ["seven"]}, "campaign_id"),
        ({"group_by": ["campaign"], "contry": ["US"]}, "contry"),
        ({"group_by": ["campaign"], "include_bots": ["maybe"]}, "include_bots"),
        ({"group_by": ["campaign"], "day": ["yesterday"]}, "day"),
        ({"group_by": ["campaign"], "limit": ["0"]}, "limit"),
    ],
)
def test_bad_parameters_are_named(args: dict[str, list[str]], param: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report_args(args, 1, "UTC")
    assert caught.value.param == param


def test_metrics_by_entity_for_list_pages(db: Session, data: Dataset) -> None:
    day = date(2026, 11, 10)
    found = metrics_by_entity(
        db, data.c1.workspace_id, "campaign", [data.c1.id, data.c2.id], day, day, "UTC"
    )
    assert set(found) == {data.c1.id, data.c2.id}
    assert found[data.c1.id].visits == 4 and found[data.c2.id].cost == Decimal("2")
    everyone = metrics_by_entity(db, data.c1.workspace_id, "traffic_source", None, day, day, "UTC")
    assert everyone[data.beta.id].profit == Decimal("2")
    assert metrics_by_entity(db, data.c1.workspace_id, "offer", [], day, day, "UTC") == {}
    with pytest.raises(ValueError):
        metrics_by_entity(db, data.c1.workspace_id, "country", None, day, day, "UTC")


# --- rollups agree with raw visits ---------------------------------------------------------------


def _raw_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollups, "plan", lambda session, query: None)


def _snapshot(db: Session, ws: int, **params: str) -> dict[str, Any]:
    """Every row (keyed by its dimension values) and the totals, compared as numbers."""
    result = report(db, ws, **params)
    rows = {repr(sorted(r.values.items(), key=str)): r.metrics.as_dict() for r in result.rows}
    return {"rows": rows, "totals": result.totals.as_dict()}


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "traffic_source"},
        {"group_by": "campaign,country"},
        {"group_by": "traffic_source,var1,device_type"},
        # Zone keys: without the source level (a key per source, added up), with campaigns,
        # levels in another order, a time level, a filter.
        {"group_by": "var1,device_type"},
        {"group_by": "device_type,campaign,var1"},
        {"group_by": "day,var1,device_type", "tz": "America/New_York"},
        {"group_by": "traffic_source,var1,device_type", "device_type": "mobile"},
        {"group_by": "var1", "traffic_source": "Alpha"},
        {"group_by": "campaign,var1"},
        {"group_by": "affiliate_network"},
        {"group_by": "hour", "tz": "Europe/Paris"},
        {"group_by": "campaign", "include_bots": "1"},
        {"group_by": "isp"},  # no rollup holds it: raw
    ],
)
def test_rollups_and_raw_visits_never_disagree(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    ws = data.c1.workspace_id
    rollups.refresh_rollups(db, now=AT + timedelta(days=3))
    db.commit()
    tz = params.pop("tz", "UTC")
    from_rollups = _snapshot(db, ws, tz=tz, **params)
    sources = report(db, ws, tz=tz, **params).sources
    if params["group_by"] != "isp":
        assert sources[0].startswith("rollup_"), sources
    _raw_only(monkeypatch)
    assert _snapshot(db, ws, tz=tz, **params) == from_rollups


@pytest.mark.parametrize(
    ("group_by", "table"),
    [
        ("traffic_source,var1,device_type", "rollup_source_zone"),
        ("var1", "rollup_source_zone"),
        ("campaign,var1", "rollup_zone"),
        ("var1,device_type", "rollup_source_zone"),
    ],
)
def test_zones_across_campaigns_read_the_rollup_without_campaigns(
    db: Session, data: Dataset, group_by: str, table: str
) -> None:
    rollups.refresh_rollups(db, now=AT + timedelta(days=3))
    db.commit()
    assert report(db, data.c1.workspace_id, group_by=group_by).sources[0] == table
    filtered = report(db, data.c1.workspace_id, group_by=group_by, campaign="C1")
    assert filtered.sources[0] == "rollup_zone"  # a campaign filter needs the campaigns


def test_the_migration_fills_the_source_zone_rollup_from_the_zone_rollup(
    app: Any, db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_migrate import downgrade, upgrade

    from tracker.models import Conversion

    ws = data.c1.workspace_id
    pending_visit_id = data.visits["v3"].id
    now = AT + timedelta(days=3)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    levels = "traffic_source,var1,device_type"
    built = _snapshot(db, ws, group_by=levels, include_bots="1")
    db.close()
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision="c4e8a1f27b90")  # before source_zone
    upgrade(directory=directory)
    assert report(db, ws, group_by=levels).sources[0] == "rollup_source_zone"
    assert _snapshot(db, ws, group_by=levels, include_bots="1") == built
    # A late status change rebuilds the conversion rows alone: they were kept apart.
    pending = db.query(Conversion).filter_by(visit_id=pending_visit_id).one()
    pending.status, pending.updated_at = "declined", now
    db.commit()
    assert rollups.refresh_rollups(db, now=now + timedelta(seconds=10)).rebuilt_hours == 1
    db.commit()
    from_rollups = _snapshot(db, ws, group_by=levels, include_bots="1")
    assert from_rollups != built
    _raw_only(monkeypatch)
    assert _snapshot(db, ws, group_by=levels, include_bots="1") == from_rollups


def _zone_key_triples(db: Session) -> dict[int, tuple[int, str, str]]:
    from tracker.models.rollups import ZoneKey

    return {k.id: (k.traffic_source_id, k.var1, k.device_type) for k in db.query(ZoneKey)}


def test_zone_rollups_are_grouped_by_one_key_per_source_zone_and_device(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event

    from tracker.models.rollups import SourceZoneRollup, ZoneRollup

    ws = data.c1.workspace_id
    # A visit whose traffic source is gone (deleted outside the tracker): key source 0.
    orphan = add_visit(db, data.c2, AT + timedelta(minutes=5), var1="z-9", device_type="tablet")
    db.flush()
    db.execute(update(Visit).where(Visit.id == orphan.id).values(traffic_source_id=None))
    db.commit()
    now = AT + timedelta(days=3)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    keys = _zone_key_triples(db)
    visits = {(v.traffic_source_id or 0, v.var1, v.device_type) for v in db.query(Visit).all()}
    assert sorted(keys.values()) == sorted(visits)  # one each, no more
    for model in (SourceZoneRollup, ZoneRollup):
        for row in db.query(model):
            assert keys[row.zone_key_id] == (row.traffic_source_id or 0, row.var1, row.device_type)
    statements: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", remember)
    try:
        levels = "traffic_source,var1,device_type"
        from_rollups = _snapshot(db, ws, group_by=levels)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    rollup_statement = next(s for s in statements if "FROM rollup_source_zone" in s)
    assert "GROUP BY rollup_rows.zone_key_id" in rollup_statement
    assert any("None" in row and "z-9" in row for row in from_rollups["rows"])
    # New visits: a zone already numbered, and a new one; only the new one gets a key.
    add_visit(db, data.c1, now + timedelta(minutes=1), var1="z-9", device_type="tablet")
    add_visit(db, data.c1, now + timedelta(minutes=2), var1="z-new", device_type="mobile")
    db.commit()
    rollups.refresh_rollups(db, now=now + timedelta(hours=2))
    db.commit()
    added = set(_zone_key_triples(db).items()) - set(keys.items())
    source = data.c1.traffic_source_id
    assert sorted(triple for _, triple in added) == [
        (source, "z-9", "tablet"),
        (source, "z-new", "mobile"),
    ]
    window = ("2026-11-10", "2026-11-13")
    from_rollups = _range_snapshot(db, ws, *window, group_by=levels)
    assert any("z-new" in row for row in from_rollups["rows"])
    _raw_only(monkeypatch)
    assert _range_snapshot(db, ws, *window, group_by=levels) == from_rollups


def test_rolled_up_money_is_exact_to_the_millionth(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports sum money as whole millionths (``rollups.money_sum``): large sums keep every digit
    of the six places, from rollups as from raw visits."""
    ws = data.c1.workspace_id
    for n in range(60):
        at = AT - timedelta(days=n % 20, minutes=n)
        visit = add_visit(db, data.c1, at, cost=Decimal("123456.789013") + n, var1=f"m{n % 3}")
        add_conversion(db, visit, f"{987654 + n}.000001", created_at=at, updated_at=at)
    db.commit()
    rollups.refresh_rollups(db, now=AT + timedelta(days=3))
    db.commit()
    window = ("2026-10-20", "2026-11-10")
    levels = ("campaign", "traffic_source,var1,device_type")
    from_rollups = [_range_snapshot(db, ws, *window, group_by=level) for level in levels]
    assert _range_report(db, ws, *window, group_by="campaign").sources[0] == "rollup_entity"
    cost = from_rollups[0]["totals"]["cost"]
    assert cost > Decimal("7407407") and cost.as_tuple().exponent == -6
    _raw_only(monkeypatch)
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == from_rollups


def test_money_sums_past_a_billion_keep_every_millionth(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty days of the largest cost and payout a visit can have: their sums pass what 14
    digits hold (spans of 16 days and more), and a float sum would end in ...971."""
    ws = data.c1.workspace_id
    most = "99999999.999999"
    for n in range(1, 31):
        at = AT - timedelta(days=n)
        visit = add_visit(db, data.c1, at, cost=Decimal(most), var1="big")
        add_conversion(db, visit, most, created_at=at, updated_at=at)
    db.commit()
    rollups.refresh_rollups(db, now=AT + timedelta(days=3))
    db.commit()
    window = ("2026-10-10", "2026-11-09")
    levels = ("campaign", "traffic_source,var1,device_type")
    args = {"from": [window[0]], "to": [window[1]], "group_by": ["campaign"]}
    plan = rollups.plan(db, parse_report_args(args, ws, "UTC"))
    assert plan is not None and max(grain for grain, _, _ in plan.parts) >= 16 * SECONDS_PER_DAY
    from_rollups = [_range_snapshot(db, ws, *window, group_by=level) for level in levels]
    for snapshot in from_rollups:
        [row] = snapshot["rows"].values()
        assert row["cost"] == row["revenue"] == Decimal("2999999999.999970")
    _raw_only(monkeypatch)
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == from_rollups


def test_the_migration_numbers_the_zones_of_the_rollups(
    app: Any, db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_migrate import downgrade, upgrade

    ws = data.c1.workspace_id
    now = AT + timedelta(days=3)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    levels = ("traffic_source,var1,device_type", "campaign,var1,device_type")
    built = [_snapshot(db, ws, group_by=level, include_bots="1") for level in levels]
    keys = set(_zone_key_triples(db).values())
    campaign_id = data.c1.id
    db.close()
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision="a9c3e5f1d207")  # before zone keys
    upgrade(directory=directory)
    assert set(_zone_key_triples(db).values()) == keys
    assert [_snapshot(db, ws, group_by=level, include_bots="1") for level in levels] == built
    # The next hours roll up with keys as before.
    campaign = db.get(Campaign, campaign_id)
    assert campaign is not None
    add_visit(db, campaign, now + timedelta(minutes=1), var1="z-after", device_type="mobile")
    db.commit()
    rollups.refresh_rollups(db, now=now + timedelta(hours=2))
    db.commit()
    window = ("2026-11-10", "2026-11-13")
    after = [_range_snapshot(db, ws, *window, group_by=level) for level in levels]
    assert any("z-after" in row for row in after[0]["rows"])
    _raw_only(monkeypatch)
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == after


def test_late_clicks_rebuild_sealed_hours(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = data.c1.workspace_id
    now = AT + timedelta(days=3)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    visit = data.visits["v2"]
    db.get(Visit, visit.id).clicks = 1  # type: ignore[union-attr]
    db.get(Visit, visit.id).clicked_at = now + timedelta(seconds=5)  # type: ignore[union-attr]
    db.commit()
    outcome = rollups.refresh_rollups(db, now=now + timedelta(seconds=10))
    db.commit()
    assert outcome.rebuilt_hours == 1
    levels = ("campaign", "traffic_source,var1,device_type")
    from_rollups = [_snapshot(db, ws, group_by=level) for level in levels]
    _raw_only(monkeypatch)
    assert [_snapshot(db, ws, group_by=level) for level in levels] == from_rollups
    assert by(report(db, ws, group_by="campaign"), "campaign")["C1"]["clicks"] == 4


def test_pruned_visits_keep_their_totals_in_the_rollups(db: Session, data: Dataset) -> None:
    ws = data.c1.workspace_id
    levels = ("traffic_source", "traffic_source,var1,device_type")
    before = [_snapshot(db, ws, group_by=level) for level in levels]
    deleted = rollups.prune_raw_visits(db, 30, now=AT + timedelta(days=40))
    db.commit()
    assert deleted == 9  # every visit, bots included
    assert db.query(Visit).count() == 0
    assert [_snapshot(db, ws, group_by=level) for level in levels] == before


def test_a_zone_with_half_hour_offsets_reads_raw_visits(db: Session, data: Dataset) -> None:
    rollups.refresh_rollups(db, now=AT + timedelta(days=3))
    db.commit()
    result = report(db, data.c1.workspace_id, tz="Asia/Kolkata", group_by="campaign")
    assert result.sources == ["raw"]


# --- the API and CSV ------------------------------------------------------------------------------


def test_api_report_shape(api: Callable[..., Any], data: Dataset) -> None:
    client = api("viewer")
    response = client.get(
        f"/api/v1/report?group_by=traffic_source,country&from={DAY}&to={DAY}&tz=UTC&sort=-visits"
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert set(body) >= {"rows", "totals"}
    first = body["rows"][0]
    assert first["traffic_source"] == "Alpha" and first["traffic_source_id"] == data.alpha.id
    assert first["country"] == "US"
    assert set(first) >= {
        "visits",
        "unique_visits",
        "clicks",
        "conversions",
        "revenue",
        "cost",
        "profit",
        "roi",
        "ctr",
        "cr",
        "cv",
        "epv",
        "epc",
        "ap",
        "cpv",
        "cpc",
        "cpa",
    }
    assert body["totals"]["revenue"] == 15.0 and body["totals"]["cost"] == 5.04
    gamma = next(r for r in body["rows"] if r["traffic_source"] == "Gamma")
    assert gamma["cr"] is None and gamma["roi"] is None and gamma["ctr"] == 0


def test_api_filters_by_id_and_bots(api: Callable[..., Any], data: Dataset) -> None:
    client = api("viewer")
    body = client.get(
        f"/api/v1/report?group_by=country&from={DAY}&to={DAY}&campaign_id={data.c1.id}&include_bots=1"
    ).get_json()
    assert {r["country"]: r["visits"] for r in body["rows"]} == {"US": 3, "DE": 2}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group_by=planet", "group_by"),
        ("group_by=campaign&from=yesterday", "from"),
        ("group_by=campaign&tz=Nowhere/City", "tz"),
        ("group_by=campaign&campaign_id=abc", "campaign_id"),
        ("group_by=campaign&colour=red", "colour"),
    ],
)
def test_api_bad_parameters_answer_400_naming_them(
    api: Callable[..., Any], query: str, field: str
) -> None:
    response = api("viewer").get(f"/api/v1/report?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_api_report_needs_a_token(client: Any) -> None:
    assert client.get("/api/v1/report?group_by=campaign").status_code == 401


def test_workspace_isolation(api: Callable[..., Any], data: Dataset, db: Session) -> None:
    outsider = api("buyer", email="outsider@example.com", workspace="Other team")
    body = outsider.get(f"/api/v1/report?group_by=campaign&from={DAY}&to={DAY}").get_json()
    assert body["rows"] == [] and body["totals"]["visits"] == 0
    # Naming another workspace's campaign by id or name finds nothing either.
    body = outsider.get(
        f"/api/v1/report?group_by=country&from={DAY}&to={DAY}&campaign=C1"
    ).get_json()
    assert body["rows"] == []
    mine = api("viewer")
    theirs = outsider.get(f"/api/v1/report?group_by=campaign&workspace_id={data.c1.workspace_id}")
    assert theirs.status_code == 404
    assert (
        mine.get(f"/api/v1/report?group_by=campaign&from={DAY}&to={DAY}").get_json()["totals"][
            "visits"
        ]
        == 8
    )


def test_csv_has_the_same_columns_and_neutralises_formulas(
    api: Callable[..., Any], data: Dataset, db: Session
) -> None:
    add_visit(db, data.c4, var1='=HYPERLINK("http://evil")', country="GB")
    add_visit(db, data.c4, var1="@SUM(A1)", country="GB")
    add_visit(db, data.c4, var1="-2+3", country="GB")
    db.commit()
    response = api("viewer").get(
        f"/api/v1/report.csv?group_by=campaign,var1&from={DAY}&to={DAY}&campaign_id={data.c4.id}"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[:3] == ["campaign", "campaign_id", "var1"]
    values = {r["var1"] for r in rows}
    assert values == {"", '\'=HYPERLINK("http://evil")', "'@SUM(A1)", "'-2+3"}
    empty = next(r for r in rows if r["var1"] == "")
    assert empty["cr"] == "" and empty["ctr"] == "0"  # null is an empty cell


def test_csv_money_is_exact(api: Callable[..., Any], data: Dataset) -> None:
    text = (
        api("viewer")
        .get(f"/api/v1/report.csv?group_by=traffic_source&from={DAY}&to={DAY}&sort=traffic_source")
        .get_data(as_text=True)
    )
    alpha = next(iter(csv.DictReader(io.StringIO(text))))
    assert (alpha["traffic_source"], alpha["cost"], alpha["profit"], alpha["ap"]) == (
        "Alpha",
        "3.04",
        "7.96",
        "3.666667",
    )


def test_openapi_documents_the_report(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert (
        "/report" in spec["paths"] and "/report.csv" in spec["paths"] and "/costs" in spec["paths"]
    )
    assert "6 decimal places" in str(spec["paths"]["/report"])


def test_visit_retention_is_a_setting() -> None:
    from tracker.config import ConfigError, Settings

    assert Settings.from_env(environ={}).visit_retention_days == 0
    assert (
        Settings.from_env(environ={"TRACKER_VISIT_RETENTION_DAYS": "90"}).visit_retention_days == 90
    )
    with pytest.raises(ConfigError, match="TRACKER_VISIT_RETENTION_DAYS"):
        Settings.from_env(environ={"TRACKER_VISIT_RETENTION_DAYS": "-1"})


def test_refresh_and_prune_commands(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_root: Any, data: Dataset, db: Session
) -> None:
    from click.testing import CliRunner

    from tracker.cli import main

    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_root / "instance"))
    monkeypatch.setenv("TRACKER_SECRET_KEY", "test-secret-key")
    cli = CliRunner()
    result = cli.invoke(main, ["reports", "refresh"])
    assert result.exit_code == 0, result.output
    assert "rolled up until" in result.output
    assert cli.invoke(main, ["reports", "prune"]).output.strip() == "0"  # retention off
    monkeypatch.setenv("TRACKER_VISIT_RETENTION_DAYS", "1")
    result = cli.invoke(main, ["reports", "prune"])
    assert result.exit_code == 0 and result.output.strip() == "9", result.output
    db.expire_all()
    assert report(db, data.c1.workspace_id, group_by="traffic_source").totals.visits == 8


def test_late_postbacks_and_status_changes_reach_sealed_hours(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.models import Conversion

    ws = data.c1.workspace_id
    now = AT + timedelta(days=3)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    add_conversion(db, data.visits["v2"], "7.00", created_at=now, updated_at=now)
    pending = db.query(Conversion).filter_by(visit_id=data.visits["v3"].id).one()
    pending.status = "declined"
    pending.updated_at = now
    db.commit()
    outcome = rollups.refresh_rollups(db, now=now + timedelta(seconds=10))
    db.commit()
    assert outcome.rebuilt_hours == 1
    c1 = by(report(db, ws, group_by="campaign"), "campaign")["C1"]
    assert (c1["conversions"], c1["revenue"]) == (2, Decimal("10"))
    levels = ("campaign,country", "traffic_source,var1,device_type")
    from_rollups = [_snapshot(db, ws, group_by=level) for level in levels]
    _raw_only(monkeypatch)
    assert [_snapshot(db, ws, group_by=level) for level in levels] == from_rollups


def test_group_by_conversion_type_has_conversion_figures_alone(db: Session, data: Dataset) -> None:
    from tracker.models import Conversion, ConversionType

    deposit = ConversionType(workspace_id=data.c1.workspace_id, name="Deposit", et_values=["dep"])
    install = ConversionType(
        workspace_id=data.c1.workspace_id,
        name="Install",
        et_values=["install"],
        counts_as_conversion=False,
        counts_in_revenue=False,
    )
    db.add_all([deposit, install])
    db.flush()
    add_conversion(db, data.visits["v6"], "50.00", et="dep", conversion_type_id=deposit.id)
    add_conversion(
        db,
        data.visits["v6"],
        "0",
        et="install",
        conversion_type_id=install.id,
        counts_as_conversion=False,
        counts_in_revenue=False,
    )
    db.commit()
    result = report(db, data.c1.workspace_id, group_by="conversion_type")
    rows = {r.values["conversion_type"]: r.as_dict() for r in result.rows}
    assert rows["Deposit"]["conversion_type_id"] == deposit.id
    assert (rows["Deposit"]["conversions"], rows["Deposit"]["revenue"]) == (1, Decimal("50"))
    assert rows["Deposit"]["cost"] == Decimal("2")  # C2 is cpa 2.00
    assert rows["Deposit"]["visits"] == 0 and rows["Deposit"]["cv"] is None
    assert rows["Install"]["conversions"] == 0  # a type that does not count
    assert rows[None]["conversions"] == 4  # the untyped ones
    # The installs count nowhere else either, the deposit does.
    totals = report(db, data.c1.workspace_id, group_by="campaign").totals
    assert (totals.conversions, totals.revenue) == (5, Decimal("65"))
    assert db.query(Conversion).count() == 9
    by_name = report(db, data.c1.workspace_id, group_by="campaign", conversion_type="Deposit")
    assert [(r.values["campaign"], r.sums.conversions) for r in by_name.rows] == [("C2", 1)]


def test_the_worker_runs_the_report_jobs(app: Any, data: Dataset, db: Session) -> None:
    import threading

    from tracker.conversions.worker import run_worker

    totals = run_worker(app, threading.Event(), once=True)
    assert totals["report rollups"] > 0  # every hour up to an hour ago sealed
    assert totals["visit retention"] == 0  # retention off
    db.expire_all()
    assert rollups.read_state(db) is not None


def test_a_report_pauses_the_garbage_collector_only_while_it_runs(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from tracker.reports import query as report_query

    seen: list[bool] = []
    real_aggregate = report_query.aggregate

    def watched(session: Any, query: Any) -> Any:
        seen.append(gc.isenabled())
        return real_aggregate(session, query)

    monkeypatch.setattr(report_query, "aggregate", watched)
    assert gc.isenabled()
    report(db, data.c1.workspace_id, group_by="campaign")
    assert seen == [False] and gc.isenabled()

    def failing(session: Any, query: Any) -> Any:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(report_query, "aggregate", failing)
    with pytest.raises(RuntimeError):
        report(db, data.c1.workspace_id, group_by="campaign")
    assert gc.isenabled()  # resumed even when the report failed
    gc.disable()
    try:
        monkeypatch.setattr(report_query, "aggregate", watched)
        report(db, data.c1.workspace_id, group_by="campaign")
        assert not gc.isenabled()  # a collector paused by someone else stays paused
    finally:
        gc.enable()


def test_in_a_request_the_collector_resumes_at_its_teardown(
    app: Any, db: Session, data: Dataset, api: Callable[..., Any]
) -> None:
    """Not as soon as the report is built: its rows are still in use then (JSON, CSV, page),
    and the first collection would walk them all; at the teardown they are freed."""
    import gc

    from tracker.reports import collector

    with app.test_request_context("/reports"):
        report(db, data.c1.workspace_id, group_by="campaign")
        report(db, data.c1.workspace_id, group_by="country")
        assert not gc.isenabled() and collector.is_paused()
    assert gc.isenabled() and not collector.is_paused()
    response = api("viewer").get(f"/api/v1/report?group_by=campaign&from={DAY}&to={DAY}&tz=UTC")
    assert response.status_code == 200
    assert gc.isenabled() and not collector.is_paused()  # the API's own teardown resumed it


# --- spans of days -------------------------------------------------------------------------------


def _spread_over_weeks(db: Session, data: Dataset) -> None:
    """Visits (bots, zones, devices, conversions) on every day of four weeks, at varied hours."""
    first = datetime(2026, 10, 12, tzinfo=UTC)
    for n in range(28):
        at = first + timedelta(days=n, hours=(n * 5) % 24)
        campaign = (data.c1, data.c2, data.c3)[n % 3]
        visit = add_visit(
            db,
            campaign,
            at,
            cost=Decimal("0.013") * (n % 4),
            clicks=n % 2,
            is_bot=n % 7 == 0,
            var1=f"z{n % 5}",
            device_type=("mobile", "desktop")[n % 2],
            country=("US", "DE", "FR")[n % 3],
        )
        if n % 3 == 1:
            status = ("approved", "pending", "declined")[n % 3]
            add_conversion(db, visit, f"{n}.25", status, created_at=at, updated_at=at)
    db.commit()


def _range_report(db: Session, ws: int, date_from: str, date_to: str, **params: str) -> Any:
    args = {"from": [date_from], "to": [date_to], **{k: [v] for k, v in params.items()}}
    return run_report(db, parse_report_args(args, ws, params.get("tz", "UTC")))


def _range_snapshot(db: Session, ws: int, date_from: str, date_to: str, **params: str) -> Any:
    result = _range_report(db, ws, date_from, date_to, **params)
    rows = {repr(sorted(r.values.items(), key=str)): r.metrics.as_dict() for r in result.rows}
    return {"rows": rows, "totals": result.totals.as_dict()}


WEEK_REPORTS = [
    {"group_by": "traffic_source,var1,device_type"},
    {"group_by": "campaign,country", "include_bots": "1"},
    {"group_by": "campaign", "tz": "Europe/Paris"},
    {"group_by": "var1", "traffic_source": "Alpha"},
]


@pytest.mark.parametrize("params", WEEK_REPORTS)
def test_spans_days_and_hours_add_up_to_raw_visits(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    ws = data.c1.workspace_id
    _spread_over_weeks(db, data)
    rollups.refresh_rollups(db, now=datetime(2026, 11, 12, 20, tzinfo=UTC))
    db.commit()
    ranges = [
        ("2026-10-13", "2026-11-08"),
        ("2026-10-10", "2026-11-12"),
        ("2026-10-20", "2026-10-29"),
    ]
    query = parse_report_args(
        {"from": ["2026-10-13"], "to": ["2026-11-08"], "group_by": [params["group_by"]]}, ws, "UTC"
    )
    plan = rollups.plan(db, query)
    assert plan is not None
    # 2026-10-13 to 11-08 (epoch days 20739 to 20765): day 20739, 4 days from 20740, two spans of
    # 8 days from 20744, 4 days from 20760 and 2 from 20764.
    parts = [
        (grain // SECONDS_PER_DAY, lo // grain, (hi - lo) // grain) for grain, lo, hi in plan.parts
    ]
    assert sorted(parts) == [
        (1, 20739, 1),
        (2, 20764 // 2, 1),
        (4, 20740 // 4, 1),
        (4, 20760 // 4, 1),
        (8, 20744 // 8, 2),
    ]
    from_rollups = [_range_snapshot(db, ws, lo, hi, **params) for lo, hi in ranges]
    _raw_only(monkeypatch)
    assert [_range_snapshot(db, ws, lo, hi, **params) for lo, hi in ranges] == from_rollups


def test_late_changes_and_pruning_keep_the_spans_right(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.models import Conversion

    ws = data.c1.workspace_id
    _spread_over_weeks(db, data)
    now = datetime(2026, 11, 12, 20, tzinfo=UTC)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    # A late click and a late status change, both inside sealed spans.
    visit = db.query(Visit).filter(Visit.created_at < datetime(2026, 10, 25, tzinfo=UTC))
    late = visit.filter(Visit.clicks == 0).order_by(Visit.created_at.desc()).first()
    assert late is not None
    late.clicks, late.clicked_at = 1, now
    conversion = db.query(Conversion).order_by(Conversion.visit_at).first()
    assert conversion is not None
    conversion.status, conversion.updated_at = "declined", now
    db.commit()
    assert rollups.refresh_rollups(db, now=now + timedelta(seconds=10)).rebuilt_hours >= 2
    db.commit()
    window = ("2026-10-13", "2026-11-08")
    levels = ("traffic_source,var1,device_type", "campaign,country")
    from_rollups = [_range_snapshot(db, ws, *window, group_by=level) for level in levels]
    with monkeypatch.context() as raw:
        _raw_only(raw)
        assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == (
            from_rollups
        )
    # Raw visits before November go; the spans that held them still count them.
    assert rollups.prune_raw_visits(db, 11, now=now + timedelta(seconds=20)) > 0
    db.commit()
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == from_rollups


def _rollup_rows(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every rollup, sorted: what a refresh or a migration built (but the ids, and
    the zone keys' numbers, which a migration may give in another order)."""
    rows = {}
    for spec in rollups.SPECS:
        table = spec.table
        columns = [c for c in table.c if c.name not in ("id", "zone_key_id")]
        rows[spec.name] = sorted(tuple(r) for r in db.execute(select(*columns)))
    return rows


def _grains(db: Session) -> set[int]:
    """The grains every rollup holds (all hold the same)."""
    found = [set(db.scalars(select(spec.table.c.grain).distinct())) for spec in rollups.SPECS]
    assert all(grains == found[0] for grains in found)
    return found[0]


@pytest.mark.parametrize(
    ("revision", "grains_before"),
    [
        ("e5b7c2d9a614", {SECONDS_PER_HOUR, SECONDS_PER_DAY}),  # before weeks
        ("d2f6b8e4a153", {SECONDS_PER_HOUR, SECONDS_PER_DAY, 7 * SECONDS_PER_DAY}),  # weeks
    ],
)
def test_the_migrations_to_spans_build_what_a_refresh_builds(
    app: Any,
    db: Session,
    data: Dataset,
    monkeypatch: pytest.MonkeyPatch,
    revision: str,
    grains_before: set[int],
) -> None:
    from flask_migrate import downgrade, upgrade

    ws = data.c1.workspace_id
    _spread_over_weeks(db, data)
    rollups.refresh_rollups(db, now=datetime(2026, 11, 12, 20, tzinfo=UTC))
    db.commit()
    refreshed = _rollup_rows(db)
    # Spans of 2 to 32 days (the 64 days from 10-10 end after the sealed hour), no weeks.
    spans = {d * SECONDS_PER_DAY for d in (2, 4, 8, 16, 32)}
    assert _grains(db) == {SECONDS_PER_HOUR, SECONDS_PER_DAY, *spans}
    for spec in rollups.SPECS:  # spans hold visit rows only; days and hours both
        table = spec.table
        kinds = select(table.c.grain, table.c.visits == 0).distinct()
        assert set(db.execute(kinds).tuples()) == {
            *((grain, False) for grain in (SECONDS_PER_HOUR, SECONDS_PER_DAY, *spans)),
            (SECONDS_PER_HOUR, True),
            (SECONDS_PER_DAY, True),
        }
    window = ("2026-10-13", "2026-11-08")
    levels = ("traffic_source,var1,device_type", "campaign,country", "campaign")
    built = [_range_snapshot(db, ws, *window, group_by=level) for level in levels]
    db.close()
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision=revision)
    assert _grains(db) == grains_before
    db.close()
    upgrade(directory=directory)
    assert _rollup_rows(db) == refreshed
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == built
    _raw_only(monkeypatch)
    assert [_range_snapshot(db, ws, *window, group_by=level) for level in levels] == built


def test_late_postbacks_of_one_day_rebuild_its_day_once_and_no_span(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:

    ws = data.c1.workspace_id
    _spread_over_weeks(db, data)
    day = datetime(2026, 10, 21, tzinfo=UTC)
    early = add_visit(db, data.c1, day + timedelta(hours=3), var1="z9", device_type="tablet")
    late = add_visit(db, data.c1, day + timedelta(hours=17), var1="z9", device_type="tablet")
    db.commit()
    now = datetime(2026, 11, 12, 20, tzinfo=UTC)
    rollups.refresh_rollups(db, now=now)
    db.commit()
    add_conversion(db, early, "4.00", created_at=now, updated_at=now)
    add_conversion(db, late, "6.00", created_at=now, updated_at=now)
    db.commit()
    rebuilt: list[tuple[int, int, bool]] = []
    real_rebuild = rollups._rebuild

    def counted(
        session: Any, grain: int, lo: int, hi: int, workspace_id: int, only: bool = False
    ) -> None:
        rebuilt.append((grain, lo, only))
        real_rebuild(session, grain, lo, hi, workspace_id, only)

    monkeypatch.setattr(rollups, "_rebuild", counted)
    assert rollups.refresh_rollups(db, now=now + timedelta(seconds=10)).rebuilt_hours >= 2
    db.commit()
    start = int(day.timestamp())
    around = [r for r in rebuilt if start <= r[1] < start + SECONDS_PER_DAY]
    assert sorted(around) == [
        (SECONDS_PER_HOUR, start + 3 * SECONDS_PER_HOUR, True),
        (SECONDS_PER_HOUR, start + 17 * SECONDS_PER_HOUR, True),
        (SECONDS_PER_DAY, start, True),
    ]
    # Spans hold no conversion rows: a late postback rebuilds none.
    assert not any(grain > SECONDS_PER_DAY for grain, _, _ in rebuilt)
    window = ("2026-10-13", "2026-11-08")
    from_rollups = _range_snapshot(db, ws, *window, group_by="traffic_source,var1,device_type")
    _raw_only(monkeypatch)
    assert _range_snapshot(db, ws, *window, group_by="traffic_source,var1,device_type") == (
        from_rollups
    )
