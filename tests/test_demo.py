"""`tracker demo`: a realistic, seeded month of data made by the tracker's own code, which the
dashboard and the reports then show with consistent, non-zero figures."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import empty_all_tables
from tracker.cli import main
from tracker.demo import DemoOptions, DemoRefused, build_demo
from tracker.demo.agents import UserAgentPool
from tracker.demo.audience import COUNTRIES, AddressPool
from tracker.demo.service import demo_click_id
from tracker.models import (
    Campaign,
    Conversion,
    CostModel,
    CostUpdate,
    Flow,
    PostbackLog,
    TrafficSource,
    Visit,
)
from tracker.models.types import utcnow
from tracker.reports import rollups
from tracker.reports.rollups import refresh_rollups
from tracker.tracking.clickid import click_id_age, normalize_click_id
from tracker.tracking.enrich import parse_user_agent

SMALL = ["demo", "--days", "3", "--visits", "2000", "--seed", "5"]


@pytest.fixture
def cli(
    app: Flask, database_url: str, tmp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    """A runner whose commands build their own app on the test store, as `tracker` would."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_root / "instance"))
    monkeypatch.setenv("TRACKER_SECRET_KEY", "test-secret-key")
    return CliRunner()


def _count(db: Session, model: Any, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_demo_fills_an_empty_store_and_prints_one_line(cli: CliRunner, db: Session) -> None:
    started = utcnow()
    result = cli.invoke(main, SMALL)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert "\n" not in line
    assert re.match(r"2,000 visits over 3 days in 7 campaigns", line), line
    db.expire_all()

    # Setup: sources and networks from presets, every cost model, a flow with rules.
    campaigns = db.scalars(select(Campaign)).all()
    assert {c.cost_model for c in campaigns} == set(CostModel)
    sources = db.scalars(select(TrafficSource)).all()
    assert sum(1 for s in sources if s.preset) >= 5
    assert all(s.postback_url == "" for s in sources)  # nothing forwarded to real platforms
    flow = db.scalars(select(Flow)).one()
    assert len(flow.rules) >= 2
    assert any(c.flow_id == flow.id for c in campaigns)

    # Visits: all in the last three days, enriched like live ones.
    visits = db.scalars(select(Visit)).all()
    assert len(visits) == 2000
    assert all(started - timedelta(days=3, seconds=5) <= v.created_at <= utcnow() for v in visits)
    assert len({v.country for v in visits}) >= 15
    assert {"mobile", "desktop", "tablet", "bot"} <= {v.device_type for v in visits}
    assert len({v.user_agent for v in visits}) >= 60
    assert {"iOS", "Android", "Windows"} <= {v.os for v in visits}
    assert any(v.is_bot for v in visits) and not all(v.is_bot for v in visits)
    assert any(not v.is_unique for v in visits)  # returning visitors
    assert any(v.var1 for v in visits) and any(v.referrer_domain for v in visits)
    assert len({v.language for v in visits}) >= 10
    assert any(v.cost > 0 for v in visits)
    assert any(v.lander_id and v.clicks for v in visits) and any(
        v.lander_id and not v.clicks for v in visits
    )
    for visit in visits[:50]:
        assert normalize_click_id(visit.click_id) == visit.click_id
        age = click_id_age(visit.click_id)
        assert age is not None
        assert abs(age - (utcnow() - visit.created_at).total_seconds()) < 60

    # Conversions arrived as postbacks: statuses, event types, refusals, all in the log.
    conversions = db.scalars(select(Conversion)).all()
    assert 0.003 * len(visits) <= len(conversions) <= 0.04 * len(visits)
    assert len({c.et for c in conversions}) >= 2
    assert all(
        c.visit_at == next(v for v in visits if v.id == c.visit_id).created_at
        for c in conversions[:20]
    )
    results = {r for (r,) in db.execute(select(PostbackLog.result).distinct())}
    assert {"recorded", "unknown_click"} <= results
    assert _count(db, CostUpdate) >= 1  # the campaign without a cost model


def test_dashboard_and_report_show_consistent_figures(
    cli: CliRunner,
    db: Session,
    client: Any,
    login: Callable[..., Any],
    api: Callable[..., Any],
) -> None:
    assert cli.invoke(main, SMALL).exit_code == 0
    login("viewer")
    today = datetime.now(UTC).date()
    week = f"from={today - timedelta(days=6)}&to={today}&tz=UTC"

    page = client.get("/")
    assert page.status_code == 200
    tile = page.text[page.text.index("Last 7 days") :]
    figures = re.findall(r"<dt>(\w+)</dt><dd[^>]*>([^<]+)</dd>", tile)[:6]
    shown = dict(figures)
    assert int(shown["Visits"].replace(",", "")) > 0
    assert int(shown["Conversions"].replace(",", "")) > 0

    report = api("viewer").get(f"/api/v1/report?group_by=traffic_source&{week}").get_json()
    totals = report["totals"]
    assert shown["Visits"] == f"{totals['visits']:,}"
    assert shown["Conversions"] == f"{totals['conversions']:,}"
    assert shown["Revenue"] == f"${Decimal(str(totals['revenue'])):,.2f}"
    assert shown["Cost"] == f"${Decimal(str(totals['cost'])):,.2f}"
    assert totals["revenue"] > 0 and totals["cost"] > 0
    rows = report["rows"]
    assert len(rows) >= 5
    assert sum(r["visits"] for r in rows) == totals["visits"]
    assert sum(r["conversions"] for r in rows) == totals["conversions"]
    assert abs(sum(r["revenue"] for r in rows) - totals["revenue"]) < 0.01
    # Reports leave bots out: every human visit is counted.
    humans = _count(db, Visit, Visit.is_bot.is_(False))
    assert totals["visits"] == humans

    html = client.get(f"/reports?group_by=campaign&{week}")
    assert html.status_code == 200
    assert "PropellerAds · Push · Sweeps WW" in html.text


def test_demo_refuses_a_store_with_campaigns_unless_forced(
    cli: CliRunner, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    make_campaign()
    refused = cli.invoke(main, SMALL)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "already has 1 campaign" in refused.stderr and "--force" in refused.stderr
    db.expire_all()
    assert _count(db, Campaign) == 1 and _count(db, Visit) == 0

    forced = cli.invoke(main, [*SMALL, "--force"])
    assert forced.exit_code == 0, forced.output
    db.expire_all()
    assert _count(db, Campaign) == 8


def _fingerprint(db: Session) -> list[tuple[Any, ...]]:
    rows = db.execute(
        select(
            Visit.click_id,
            Visit.created_at,
            Visit.ip,
            Visit.user_agent,
            Visit.country,
            Visit.var1,
            Visit.cost,
            Visit.clicks,
            Campaign.name,
        )
        .join(Campaign, Campaign.id == Visit.campaign_id)
        .order_by(Visit.created_at, Visit.click_id)
    ).all()
    conversions = db.execute(
        select(Conversion.click_id, Conversion.et, Conversion.status, Conversion.payout).order_by(
            Conversion.click_id, Conversion.et
        )
    ).all()
    return [tuple(r) for r in rows] + [tuple(c) for c in conversions]


def test_recent_conversions_of_the_demo_pend(app: Flask, db: Session) -> None:
    """Networks settle conversions hours to days later, so some recent ones are pending. At a
    fixed moment: the command's own run (above) is at the real time, and its 20 or so
    conversions held no pending one when run at some minutes of the day (20:51 UTC)."""
    now = datetime(2026, 11, 29, 18, tzinfo=UTC)
    build_demo(db, app.config["SETTINGS"], DemoOptions(days=3, visits=2000, seed=5), now=now)
    db.commit()
    assert {"approved", "pending"} <= set(db.scalars(select(Conversion.status)))


def test_same_seed_same_month(app: Flask, db: Session) -> None:
    settings = app.config["SETTINGS"]
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    options = DemoOptions(seed=11, days=2, visits=600)
    build_demo(db, settings, options, now=now)
    db.commit()
    first = _fingerprint(db)
    empty_all_tables(db)
    build_demo(db, settings, options, now=now)
    db.commit()
    assert _fingerprint(db) == first
    empty_all_tables(db)
    build_demo(db, settings, DemoOptions(seed=12, days=2, visits=600), now=now)
    db.commit()
    assert _fingerprint(db) != first


def test_visits_land_in_reports_of_a_store_that_already_rolled_up(
    app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose rollups are sealed up to now (a server ran on it) still shows the demo's
    past visits: their hours are rolled up again."""
    from zoneinfo import ZoneInfo

    from tracker.reports.periods import make_period
    from tracker.reports.query import ReportQuery, run_report

    refresh_rollups(db)
    db.commit()
    build_demo(db, app.config["SETTINGS"], DemoOptions(seed=3, days=3, visits=1500))
    db.commit()
    today = datetime.now(UTC).date()
    query = ReportQuery(
        1, ("campaign",), make_period(today - timedelta(days=4), today, ZoneInfo("UTC"))
    )
    query = ReportQuery(
        db.scalars(select(Campaign.workspace_id)).first() or 1, query.group_by, query.period
    )
    from_rollups = run_report(db, query)
    assert any(source.startswith("rollup") for source in from_rollups.sources)
    monkeypatch.setattr(rollups, "plan", lambda session, query: None)
    from_visits = run_report(db, query)
    assert from_rollups.totals == from_visits.totals
    assert from_rollups.totals.visits == _count(db, Visit, Visit.is_bot.is_(False))


def test_refuses_in_the_service_too(
    app: Flask, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    make_campaign()
    with pytest.raises(DemoRefused):
        build_demo(db, app.config["SETTINGS"], DemoOptions(visits=10))


def test_user_agents_and_addresses_are_real() -> None:
    """A few hundred user agents that ua-parser reads as what they claim to be, and addresses
    the country table places where the demo says."""
    import random

    import iptocc

    pool = UserAgentPool()
    assert len(pool) >= 200
    for name, expected in (("iphone", "iOS"), ("android", "Android")):
        assert all(parse_user_agent(ua).os == expected for ua in pool.classes[name])
    assert all(parse_user_agent(ua).device_type == "desktop" for ua in pool.classes["desktop"])
    assert all(parse_user_agent(ua).device_type == "tablet" for ua in pool.classes["tablet"])
    assert sum(parse_user_agent(ua).is_bot for ua in pool.classes["bot"]) >= 6
    addresses = AddressPool()
    rng = random.Random(1)
    placed = 0
    for country in COUNTRIES:
        for _ in range(5):
            placed += iptocc.country_code(addresses.address(rng, country.code)) == country.code
    assert placed >= 0.95 * 5 * len(COUNTRIES)
    click_id = demo_click_id(datetime.now(UTC) - timedelta(hours=2), rng)
    assert normalize_click_id(click_id) == click_id
    assert 7190 < (click_id_age(click_id) or 0) < 7210
