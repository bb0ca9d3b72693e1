"""The dashboard's figures and the charts' time series, in the account's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tracker.extensions import DbSession
from tracker.models import Campaign, Conversion, TrafficSource, Visit
from tracker.reports.metrics import Metrics
from tracker.reports.periods import make_period
from tracker.reports.query import ReportQuery, metrics_by_entity, run_report

CHART_METRICS = ("visits", "conversions", "revenue", "cost", "profit")
RANKED = 5


def time_series(session: DbSession, query: ReportQuery, granularity: str) -> dict[str, Any]:
    """Visits, conversions, revenue, cost and profit per local day (or hour) of the query's
    period, every day present (zero when quiet), for a chart."""
    chart_query = ReportQuery(
        query.workspace_id, (granularity,), query.period, query.filters, query.include_bots
    )
    report = run_report(session, chart_query)
    by_label = {row.values[granularity]: row.metrics for row in report.rows}
    labels = time_labels(query, granularity)
    series: dict[str, list[float]] = {name: [] for name in CHART_METRICS}
    for label in labels:
        metrics = by_label.get(label)
        for name in CHART_METRICS:
            series[name].append(float(getattr(metrics, name)) if metrics else 0.0)
    return {"labels": labels, "series": series, "granularity": granularity}


def time_labels(query: ReportQuery, granularity: str) -> list[str]:
    """Every local day (or hour, DST included) of the period, as the report labels them."""
    period = query.period
    if granularity == "day":
        days = (period.date_to - period.date_from).days + 1
        return [(period.date_from + timedelta(days=n)).isoformat() for n in range(days)]
    labels: list[str] = []
    moment = period.start
    while moment < period.end:
        label = moment.astimezone(period.zone).strftime("%Y-%m-%d %H:00")
        if not labels or labels[-1] != label:
            labels.append(label)
        moment += timedelta(hours=1)
    return labels


@dataclass
class Ranked:
    id: int
    name: str
    metrics: Metrics


@dataclass
class Dashboard:
    today: Metrics
    yesterday: Metrics
    last_7_days: Metrics
    best_campaigns: list[Ranked]
    worst_campaigns: list[Ranked]
    best_sources: list[Ranked]
    worst_sources: list[Ranked]
    chart: dict[str, Any]
    recent_conversions: list[dict[str, Any]]
    timezone: str


def has_visits(session: DbSession, workspace_id: int) -> bool:
    """True once the workspace has recorded a visit (the dashboard replaces the set-up steps)."""
    return (
        session.scalar(select(Visit.id).where(Visit.workspace_id == workspace_id).limit(1))
        is not None
    )


def _totals(
    session: DbSession, workspace_id: int, first: date, last: date, zone: ZoneInfo
) -> Metrics:
    return run_report(session, ReportQuery(workspace_id, (), make_period(first, last, zone))).totals


def _ranked(
    session: DbSession, workspace_id: int, model: Any, entity: str, first: date, last: date, tz: str
) -> tuple[list[Ranked], list[Ranked]]:
    by_id = metrics_by_entity(session, workspace_id, entity, None, first, last, tz)
    names = (
        dict(
            session.execute(
                select(model.id, model.name).where(
                    model.id.in_(list(by_id)), model.workspace_id == workspace_id
                )
            )
            .tuples()
            .all()
        )
        if by_id
        else {}
    )
    ranked = sorted(
        (Ranked(i, names.get(i, f"#{i}"), m) for i, m in by_id.items()),
        key=lambda r: r.metrics.profit,
        reverse=True,
    )
    best = [r for r in ranked[:RANKED] if r.metrics.profit > 0]
    worst = [r for r in reversed(ranked[-RANKED:]) if r.metrics.profit < 0]
    return best, worst


def build_dashboard(session: DbSession, workspace_id: int, tz: str, now: datetime) -> Dashboard:
    """Today, yesterday and the last 7 days; best and worst campaigns and sources by profit
    over 7 days; a 14-day chart; the latest conversions."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=6)
    best_campaigns, worst_campaigns = _ranked(
        session, workspace_id, Campaign, "campaign", week_start, today, tz
    )
    best_sources, worst_sources = _ranked(
        session, workspace_id, TrafficSource, "traffic_source", week_start, today, tz
    )
    chart_query = ReportQuery(
        workspace_id, (), make_period(today - timedelta(days=13), today, zone)
    )
    recent = session.execute(
        select(Conversion, Campaign.name)
        .join(Campaign, Campaign.id == Conversion.campaign_id)
        .where(Conversion.workspace_id == workspace_id)
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
        .limit(10)
    ).all()
    return Dashboard(
        today=_totals(session, workspace_id, today, today, zone),
        yesterday=_totals(
            session, workspace_id, today - timedelta(days=1), today - timedelta(days=1), zone
        ),
        last_7_days=_totals(session, workspace_id, week_start, today, zone),
        best_campaigns=best_campaigns,
        worst_campaigns=worst_campaigns,
        best_sources=best_sources,
        worst_sources=worst_sources,
        chart=time_series(session, chart_query, "day"),
        recent_conversions=[
            {
                "created_at": conversion.created_at,
                "campaign": campaign_name,
                "campaign_id": conversion.campaign_id,
                "payout": conversion.payout,
                "currency": conversion.currency,
                "status": conversion.status,
                "et": conversion.et,
                "click_id": conversion.click_id,
            }
            for conversion, campaign_name in recent
        ],
        timezone=tz,
    )
