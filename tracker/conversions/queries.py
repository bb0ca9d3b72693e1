"""Reading conversions, the postback log and the outbox for pages and the API: one workspace's
rows, newest first, filtered, with the visit's campaign, source, geo, device and sub IDs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from tracker.extensions import DbSession
from tracker.models.conversions import ConversionType
from tracker.models.events import Conversion, OutboxMessage, PostbackLog, Visit
from tracker.models.setup import Campaign, TrafficSource
from tracker.models.users import Workspace


def day_bounds(
    day_from: date | None, day_to: date | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Inclusive days in ``zone`` as a UTC [since, until) range (DST included)."""
    since = datetime.combine(day_from, time(), zone) if day_from else None
    until = datetime.combine(day_to + timedelta(days=1), time(), zone) if day_to else None
    return since, until


@dataclass(frozen=True)
class ConversionFilters:
    """What the conversions list can be narrowed by; ``None`` means any."""

    campaign_id: int | None = None
    traffic_source_id: int | None = None
    status: str | None = None
    click_id: str | None = None
    et: str | None = None
    conversion_type_id: int | None = None
    since: datetime | None = None  # conversion time, inclusive
    until: datetime | None = None  # exclusive


SourceAlias = aliased(TrafficSource)

_CONVERSION_COLUMNS = (
    Conversion.id,
    Conversion.click_id,
    Conversion.workspace_id,
    Conversion.campaign_id,
    Conversion.offer_id,
    Conversion.affiliate_network_id,
    Conversion.visit_id,
    Conversion.txid,
    Conversion.et,
    Conversion.status,
    Conversion.payout,
    Conversion.currency,
    Conversion.param1,
    Conversion.param2,
    Conversion.param3,
    Conversion.param4,
    Conversion.param5,
    Conversion.created_at,
    Conversion.updated_at,
    Conversion.visit_at,
    Conversion.conversion_type_id,
    Conversion.counts_as_conversion,
    Conversion.counts_in_revenue,
    Conversion.source,
    ConversionType.name.label("conversion_type"),
    Campaign.name.label("campaign"),
    Visit.traffic_source_id,
    SourceAlias.name.label("traffic_source"),
    Visit.country,
    Visit.device_type,
    Visit.os,
    Visit.browser,
    Visit.external_id,
    *(getattr(Visit, f"var{n}") for n in range(1, 11)),
)


def _conversions_query(workspace_id: int, filters: ConversionFilters) -> Select[Any]:
    stmt = (
        select(*_CONVERSION_COLUMNS)
        .select_from(Conversion)
        .join(Visit, Visit.id == Conversion.visit_id)
        .outerjoin(Campaign, Campaign.id == Conversion.campaign_id)
        .outerjoin(SourceAlias, SourceAlias.id == Visit.traffic_source_id)
        .outerjoin(ConversionType, ConversionType.id == Conversion.conversion_type_id)
        .where(Conversion.workspace_id == workspace_id)
    )
    if filters.campaign_id is not None:
        stmt = stmt.where(Conversion.campaign_id == filters.campaign_id)
    if filters.traffic_source_id is not None:
        stmt = stmt.where(Visit.traffic_source_id == filters.traffic_source_id)
    if filters.status:
        stmt = stmt.where(Conversion.status == filters.status)
    if filters.click_id:
        stmt = stmt.where(Conversion.click_id == filters.click_id.strip())
    if filters.et is not None:
        stmt = stmt.where(Conversion.et == filters.et)
    if filters.conversion_type_id is not None:
        stmt = stmt.where(Conversion.conversion_type_id == filters.conversion_type_id)
    if filters.since is not None:
        stmt = stmt.where(Conversion.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Conversion.created_at < filters.until)
    return stmt


def list_conversions(
    session: DbSession,
    workspace_id: int,
    filters: ConversionFilters,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the workspace's conversions, newest first, and how many match in all."""
    stmt = _conversions_query(workspace_id, filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Conversion.created_at.desc(), Conversion.id.desc())
        .offset(offset)
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows], total


# --- the postback log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    """What the postback log can be searched by."""

    click_id: str | None = None
    result: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def unattributed_visible(session: DbSession, workspace_id: int, is_admin: bool) -> bool:
    """Postbacks that named no known visit belong to no workspace: the admins of the default
    workspace (the installation's owners) see them."""
    if not is_admin:
        return False
    return bool(session.scalar(select(Workspace.is_default).where(Workspace.id == workspace_id)))


def list_postback_log(
    session: DbSession,
    workspace_id: int,
    filters: LogFilters,
    *,
    include_unattributed: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[PostbackLog], int]:
    """A page of the postback log of a workspace (and unattributed calls when allowed)."""
    scope = PostbackLog.workspace_id == workspace_id
    if include_unattributed:
        scope = or_(scope, PostbackLog.workspace_id.is_(None))
    stmt = select(PostbackLog).where(scope)
    if filters.click_id:
        stmt = stmt.where(PostbackLog.click_id == filters.click_id.strip()[:64])
    if filters.result:
        stmt = stmt.where(PostbackLog.result == filters.result)
    if filters.since is not None:
        stmt = stmt.where(PostbackLog.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(PostbackLog.created_at < filters.until)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.order_by(PostbackLog.created_at.desc(), PostbackLog.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


# --- forwards ------------------------------------------------------------------------------------


def list_forwards(
    session: DbSession,
    workspace_id: int,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the workspace's postbacks to traffic sources, newest first."""
    stmt = (
        select(
            OutboxMessage.id,
            OutboxMessage.conversion_id,
            OutboxMessage.url,
            OutboxMessage.status,
            OutboxMessage.attempts,
            OutboxMessage.next_attempt_at,
            OutboxMessage.last_status_code,
            OutboxMessage.last_response,
            OutboxMessage.last_error,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
            TrafficSource.name.label("traffic_source"),
            Conversion.click_id,
        )
        .select_from(OutboxMessage)
        .outerjoin(TrafficSource, TrafficSource.id == OutboxMessage.traffic_source_id)
        .outerjoin(Conversion, Conversion.id == OutboxMessage.conversion_id)
        .where(OutboxMessage.workspace_id == workspace_id)
    )
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(OutboxMessage.id.desc()).offset(offset).limit(limit)
    ).mappings()
    return [dict(row) for row in rows], total


def campaign_choices(session: DbSession, workspace_id: int) -> list[tuple[int, str]]:
    """The workspace's campaigns (archived ones too: their conversions still show)."""
    rows = session.execute(
        select(Campaign.id, Campaign.name)
        .where(Campaign.workspace_id == workspace_id)
        .order_by(func.lower(Campaign.name))
    )
    return [(row.id, row.name) for row in rows]
