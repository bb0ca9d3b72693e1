"""The start page: set-up steps for an empty workspace, the dashboard once there are visits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tests.report_data import add_conversion, add_visit
from tracker.models import Campaign, CostModel, TrafficSource
from tracker.reports.dashboard import build_dashboard


def test_empty_workspace_shows_the_set_up_steps(client: Any, login: Callable[..., Any]) -> None:
    login("buyer")
    page = client.get("/")
    assert page.status_code == 200
    assert "Set up in this order" in page.text and "dashboard-chart" not in page.text


def _week_of_data(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
    now: datetime,
) -> tuple[Campaign, Campaign]:
    good_source = make_traffic_source(name="Good source")
    bad_source = make_traffic_source(name="Bad source")
    winner = make_campaign(
        name="Winner",
        traffic_source_id=good_source.id,
        cost_model=CostModel.CPC,
        cost_value=Decimal("0.10"),
    )
    loser = make_campaign(
        name="Loser",
        traffic_source_id=bad_source.id,
        cost_model=CostModel.CPC,
        cost_value=Decimal("1"),
    )
    for days_ago in (0, 1, 3):
        at = now - timedelta(days=days_ago, minutes=5)
        visit = add_visit(db, winner, at=at, cost=Decimal("0.10"))
        add_conversion(db, visit, "5.00", et="deposit")
        add_visit(db, loser, at=at, cost=Decimal("1"))
    db.commit()
    return winner, loser


def test_dashboard_tiles_rankings_and_recent_conversions(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    winner, _loser = _week_of_data(db, make_campaign, make_traffic_source, now)
    dashboard = build_dashboard(db, winner.workspace_id, "UTC", now)
    assert (dashboard.today.visits, dashboard.yesterday.visits, dashboard.last_7_days.visits) == (
        2,
        2,
        6,
    )
    assert dashboard.today.revenue == Decimal("5") and dashboard.today.cost == Decimal("1.1")
    assert dashboard.last_7_days.profit == Decimal("15") - Decimal("3.3")
    assert [r.name for r in dashboard.best_campaigns] == ["Winner"]
    assert [r.name for r in dashboard.worst_campaigns] == ["Loser"]
    assert [r.name for r in dashboard.best_sources] == ["Good source"]
    assert [r.name for r in dashboard.worst_sources] == ["Bad source"]
    assert len(dashboard.chart["labels"]) == 14 and dashboard.chart["series"]["visits"][-1] == 2
    assert len(dashboard.recent_conversions) == 3
    assert dashboard.recent_conversions[0]["campaign"] == "Winner"


def test_dashboard_days_are_the_accounts_days(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    """23:30 UTC on the 19th is already the 20th in Tokyo."""
    campaign = make_campaign()
    add_visit(db, campaign, at=datetime(2026, 11, 19, 23, 30, tzinfo=UTC))
    db.commit()
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert build_dashboard(db, campaign.workspace_id, "Asia/Tokyo", now).today.visits == 1
    assert build_dashboard(db, campaign.workspace_id, "UTC", now).today.visits == 0


def test_dashboard_page_renders(
    client: Any,
    login: Callable[..., Any],
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    login("viewer")
    _week_of_data(db, make_campaign, make_traffic_source, datetime.now(UTC))
    page = client.get("/")
    assert page.status_code == 200, page.text
    for text in (
        "Today",
        "Yesterday",
        "Last 7 days",
        "Best campaigns",
        "Winner",
        "Loser",
        "Recent conversions",
        "deposit",
    ):
        assert text in page.text, text
    assert 'id="dashboard-chart-data"' in page.text and "<script>" not in page.text
