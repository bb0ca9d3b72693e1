"""Costs: the per-visit cost of a campaign's cost model, manual cost updates and their undo,
and cost import from CSV.

- ``cpc``, ``cpm`` and ``auto`` cost a visit when it happens: the recorder stores
  ``visit_cost(...)`` in ``Visit.cost``. ``cpa`` and ``revshare`` cost conversions and are
  computed at report time from the counted conversions; ``none`` costs nothing.
- A manual cost update spreads a total evenly over a campaign's visits in a range (optionally
  one variable value, e.g. one zone), replacing their cost. Each replaced cost is kept in
  ``cost_adjustment`` so an undo restores it with one set-based UPDATE; the rollups of those
  hours are rebuilt in the same transaction, so reports show it at once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from tracker.extensions import DbSession
from tracker.models import Campaign, CostModel, CostUpdate, TrafficSource, Visit
from tracker.models.events import VAR_COUNT
from tracker.models.rollups import CostAdjustment
from tracker.models.types import utcnow
from tracker.numbers import is_whole_number
from tracker.reports.periods import local_midnight
from tracker.reports.rollups import rebuild_range

CENT_MILLIONTH = Decimal("0.000001")
MAX_COST = Decimal("99999999.999999")  # what Numeric(14, 6) holds
MACRO_MARKS = ("{", "}", "[", "]", "%", "$", "#")
VARIABLES = tuple(f"var{n}" for n in range(1, VAR_COUNT + 1))


def visit_cost(
    cost_model: CostModel | str, cost_value: Decimal | None, cost_param: str | None
) -> Decimal:
    """What one visit costs when it happens: ``cpc`` the cost value, ``cpm`` a thousandth of
    it, ``auto`` the cost the traffic source sent (``cost_param``; absent, unreplaced macro,
    not a number or negative: 0); ``cpa``, ``revshare`` and ``none``: 0 (cpa and revshare
    are computed from conversions at report time). Six decimal places, never an error."""
    try:
        model = CostModel(cost_model)
    except ValueError:
        return Decimal("0")
    if model is CostModel.CPC:
        return _clamp(cost_value)
    if model is CostModel.CPM:
        return _clamp(cost_value / 1000 if cost_value is not None else None)
    if model is CostModel.AUTO:
        return _clamp(parse_cost(cost_param))
    return Decimal("0")


def parse_cost(raw: str | None) -> Decimal | None:
    """A cost as sent by a traffic source: ``0.0035`` or ``0,0035``; None when not a number."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or any(mark in text for mark in MACRO_MARKS):
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _clamp(value: Decimal | None) -> Decimal:
    if value is None or not value.is_finite() or value <= 0:
        return Decimal("0")
    return min(value, MAX_COST).quantize(CENT_MILLIONTH, rounding=ROUND_HALF_UP)


# --- manual cost updates -----------------------------------------------------------------------


class CostError(ValueError):
    """A cost update cannot be made: ``field`` names the input at fault."""

    def __init__(self, field: str, message: str, status: int = 422, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        self.code = code


# cost_update.id is a 32-bit integer column: a larger id cannot exist (and PostgreSQL would
# refuse to compare with it).
MAX_COST_UPDATE_ID = 2**31 - 1


@dataclass(frozen=True)
class CostUpdateRequest:
    """A buyer's manual cost: ``amount`` for ``campaign_id`` over [from, to) in ``tz``.

    ``date_from``/``date_to`` are local days (inclusive) or local times (``to`` exclusive);
    ``variable`` is ``var1``..``var10`` or the source's name for it, with its ``value``."""

    workspace_id: int
    campaign_id: int
    amount: Decimal
    date_from: date | datetime
    date_to: date | datetime
    tz: str
    variable: str | None = None
    value: str | None = None
    user_id: int | None = None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CostError("tz", f"unknown time zone: {name!r}") from exc


def _instant(value: date | datetime, zone: ZoneInfo, is_end: bool) -> datetime:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    day = value + timedelta(days=1) if is_end else value
    return local_midnight(day, zone)


def resolve_variable(source: TrafficSource | None, variable: str) -> str:
    """``var3``, or the traffic source's name for one of its variables (``zone``) → ``varN``."""
    name = variable.strip()
    if name.lower() in VARIABLES:
        return name.lower()
    for position, declared in enumerate(source.variables if source else [], start=1):
        if position <= VAR_COUNT and str(declared.get("name", "")).lower() == name.lower():
            return f"var{position}"
    raise CostError("variable", f"not var1..var10 nor one of the source's variables: {variable!r}")


def _matching(
    workspace_id: int,
    campaign_id: int,
    start: datetime,
    end: datetime,
    variable: str | None,
    value: str | None,
) -> ColumnElement[bool]:
    conditions = [
        Visit.workspace_id == workspace_id,
        Visit.campaign_id == campaign_id,
        Visit.created_at >= start,
        Visit.created_at < end,
    ]
    if variable is not None:
        conditions.append(getattr(Visit, variable) == (value or ""))
    return and_(*conditions)


def apply_cost_update(session: DbSession, request: CostUpdateRequest) -> CostUpdate:
    """Spread ``amount`` evenly over the matching visits (bot visits get 0, so the total is
    right with or without bots), keeping each visit's previous cost for undo. Only flushes."""
    campaign = session.scalar(
        select(Campaign).where(
            Campaign.id == request.campaign_id, Campaign.workspace_id == request.workspace_id
        )
    )
    if campaign is None:
        raise CostError("campaign_id", "no such campaign in this workspace", 404, "not_found")
    if request.amount < 0 or request.amount > MAX_COST:
        raise CostError("cost", "must be between 0 and 99,999,999.999999")
    zone = _zone(request.tz)
    start = _instant(request.date_from, zone, is_end=False)
    end = _instant(request.date_to, zone, is_end=True)
    if end <= start:
        raise CostError("to", "must be after `from`")
    variable = None
    if request.variable:
        source = session.get(TrafficSource, campaign.traffic_source_id)
        variable = resolve_variable(source, request.variable)
        if request.value is None:
            raise CostError("value", "give the variable's value")
    matching = _matching(request.workspace_id, campaign.id, start, end, variable, request.value)
    humans = (
        session.scalar(
            select(func.count()).select_from(Visit).where(matching, Visit.is_bot == false())
        )
        or 0
    )
    everyone = session.scalar(select(func.count()).select_from(Visit).where(matching)) or 0
    if everyone == 0:
        raise CostError("from", "no visits of this campaign in that range to spread the cost over")
    # Cost goes to the visits reports count by default; only when all are bots do they carry it.
    payers = Visit.is_bot == false() if humans else true()
    payer_count = humans or everyone

    cost_update = CostUpdate(
        workspace_id=request.workspace_id,
        campaign_id=campaign.id,
        variable=variable,
        variable_value=request.value if variable else None,
        starts_at=start,
        ends_at=end,
        timezone=zone.key,
        amount=request.amount.quantize(CENT_MILLIONTH),
        visits_affected=everyone,
        previous_costs={},
        created_by_id=request.user_id,
    )
    session.add(cost_update)
    session.flush()
    session.execute(
        insert(CostAdjustment).from_select(
            ["cost_update_id", "visit_id", "previous_cost"],
            select(literal(cost_update.id), Visit.id, Visit.cost).where(matching),
        )
    )
    # Six places: the share rounded down, and the remainder in millionths to the first visits,
    # so the visits add up to the amount exactly.
    amount = cost_update.amount
    share = (amount / payer_count).quantize(CENT_MILLIONTH, rounding=ROUND_DOWN)
    remainder = int((amount - share * payer_count) / CENT_MILLIONTH)
    session.execute(update(Visit).where(matching, payers).values(cost=share))
    if humans:
        session.execute(update(Visit).where(matching, Visit.is_bot == true()).values(cost=0))
    if remainder:
        first_ids = select(Visit.id).where(matching, payers).order_by(Visit.id).limit(remainder)
        session.execute(
            update(Visit)
            .where(Visit.id.in_(select(first_ids.subquery().c.id)))
            .values(cost=share + CENT_MILLIONTH)
        )
    session.expire_all()
    rebuild_range(session, request.workspace_id, start, end)
    session.flush()
    return cost_update


def undo_cost_update(session: DbSession, workspace_id: int, update_id: int) -> CostUpdate:
    """Give the visits of a cost update the costs they had before it. A later update that
    replaced some of the same visits' costs must be undone first (409). Only flushes."""
    if not 1 <= update_id <= MAX_COST_UPDATE_ID:  # past the column's range: none such
        raise CostError("id", "no such cost update in this workspace", 404, "not_found")
    cost_update = session.scalar(
        select(CostUpdate).where(
            CostUpdate.id == update_id, CostUpdate.workspace_id == workspace_id
        )
    )
    if cost_update is None:
        raise CostError("id", "no such cost update in this workspace", 404, "not_found")
    if cost_update.undone_at is not None:
        raise CostError("id", "this cost update is already undone", 409, "conflict")
    mine = select(CostAdjustment.visit_id).where(CostAdjustment.cost_update_id == update_id)
    later = session.scalar(
        select(CostUpdate.id)
        .join(CostAdjustment, CostAdjustment.cost_update_id == CostUpdate.id)
        .where(
            CostUpdate.id > update_id,
            CostUpdate.undone_at.is_(None),
            CostAdjustment.visit_id.in_(mine),
        )
        .order_by(CostUpdate.id.desc())
        .limit(1)
    )
    if later is not None:
        raise CostError(
            "id",
            f"undo the later cost update #{later} first: it replaced some of the same costs",
            409,
            "conflict",
        )
    previous = (
        select(CostAdjustment.previous_cost)
        .where(CostAdjustment.cost_update_id == update_id, CostAdjustment.visit_id == Visit.id)
        .scalar_subquery()
    )
    session.execute(
        update(Visit)
        .where(Visit.id.in_(mine))
        .values(cost=previous)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(CostAdjustment).where(CostAdjustment.cost_update_id == update_id))
    cost_update.undone_at = utcnow()
    session.flush()
    session.expire_all()
    rebuild_range(session, workspace_id, cost_update.starts_at, cost_update.ends_at)
    refreshed = session.get(CostUpdate, update_id)
    assert refreshed is not None
    return refreshed


def cost_updates_of(session: DbSession, workspace_id: int, limit: int = 50) -> list[Any]:
    """The workspace's latest cost updates with their campaign names, newest first."""
    rows = session.execute(
        select(CostUpdate, Campaign.name)
        .join(Campaign, Campaign.id == CostUpdate.campaign_id)
        .where(CostUpdate.workspace_id == workspace_id)
        .order_by(CostUpdate.id.desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def cost_update_page(
    session: DbSession, workspace_id: int, offset: int, limit: int
) -> tuple[list[CostUpdate], int]:
    """A page of the workspace's cost updates (newest first) and how many there are."""
    where = CostUpdate.workspace_id == workspace_id
    total = session.scalar(select(func.count()).select_from(CostUpdate).where(where)) or 0
    items = session.scalars(
        select(CostUpdate).where(where).order_by(CostUpdate.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(items), total


# --- CSV import ---------------------------------------------------------------------------------


class CostImportError(ValueError):
    """The CSV has errors; nothing was applied. ``errors`` are ``(line, message)``."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"line {line}: {message}" for line, message in errors))
        self.errors = errors


def import_costs_csv(
    session: DbSession, workspace_id: int, text: str, tz: str, user_id: int | None = None
) -> list[CostUpdate]:
    """Apply a CSV of ``date,campaign,cost`` with an optional ``variable`` column holding
    ``var1=123`` (or ``zone=123``, the source's name): each line is one cost update over that
    local day. All lines are checked first; any error applies none. Only flushes."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = {"date", "campaign", "cost"} - set(header)
    if missing:
        raise CostImportError(
            [(1, f"the header needs date, campaign, cost (missing: {', '.join(sorted(missing))})")]
        )
    campaigns = {
        name: campaign_id
        for campaign_id, name in session.execute(
            select(Campaign.id, Campaign.name).where(Campaign.workspace_id == workspace_id)
        ).tuples()
    }
    ids = set(campaigns.values())
    requests: list[tuple[int, CostUpdateRequest]] = []
    errors: list[tuple[int, str]] = []
    for line, raw in enumerate(reader, start=2):
        row = {
            (k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None
        }
        try:
            day = date.fromisoformat(row.get("date", ""))
        except ValueError:
            errors.append((line, f"date is not YYYY-MM-DD: {row.get('date')!r}"))
            continue
        name = row.get("campaign", "")
        campaign_id = campaigns.get(name)
        if campaign_id is None and is_whole_number(name) and int(name) in ids:
            campaign_id = int(name)
        if campaign_id is None:
            errors.append((line, f"no campaign named {name!r}"))
            continue
        cost = parse_cost(row.get("cost"))
        if cost is None or cost < 0:
            errors.append((line, f"cost is not a number: {row.get('cost')!r}"))
            continue
        variable = value = None
        if row.get("variable"):
            variable, sep, value = row["variable"].partition("=")
            if not sep:
                errors.append((line, "variable must look like var1=12345"))
                continue
        requests.append(
            (
                line,
                CostUpdateRequest(
                    workspace_id, campaign_id, cost, day, day, tz, variable, value, user_id
                ),
            )
        )
    if errors:
        raise CostImportError(errors)
    if not requests:
        raise CostImportError([(1, "no cost lines")])
    applied = []
    for line, request in requests:
        try:
            applied.append(apply_cost_update(session, request))
        except CostError as exc:
            errors.append((line, exc.message))
    if errors:
        raise CostImportError(errors)
    return applied
