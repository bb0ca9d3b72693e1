"""``GET /api/v1/report``, ``GET /api/v1/report.csv`` and ``POST /api/v1/costs``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracker.api.blueprint import api_bp
from tracker.api.errors import ApiError
from tracker.api.frame import Page, acting_membership, document, page_args, page_body, parse_body
from tracker.config import Settings
from tracker.extensions import db
from tracker.models import Role
from tracker.reports.costs import (
    CostError,
    CostImportError,
    CostUpdateRequest,
    apply_cost_update,
    cost_update_page,
    import_costs_csv,
    undo_cost_update,
)
from tracker.reports.dimensions import DIMENSIONS
from tracker.reports.export import report_csv
from tracker.reports.metrics import METRICS
from tracker.reports.query import ReportError, parse_report_args, run_report
from tracker.reports.rollups import refresh_if_stale

_MONEY_NOTE = (
    "Money (revenue, cost, profit, epv, epc, ap, cpv, cpc, cpa) is a JSON number rounded to 6 "
    "decimal places; percentages (roi, ctr, cr, cv) are numbers rounded to 4 places. A ratio "
    "whose denominator is zero is null."
)


class ReportOut(BaseModel):
    """A report: one object per group (dimension values, then every metric) and the totals.

    Entity dimensions give the name under the dimension's name and the id under ``<name>_id``.
    ``day`` is ``YYYY-MM-DD``, ``hour`` ``YYYY-MM-DD HH:00`` (local), ``hour_of_day`` 0-23,
    ``day_of_week`` 1 (Monday) to 7.
    """

    model_config = ConfigDict(json_schema_extra={"description": _MONEY_NOTE})

    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    total_rows: int = Field(description="rows before `limit`")


_REPORT_QUERY: list[dict[str, Any]] = [
    {
        "name": "group_by",
        "in": "query",
        "required": True,
        "description": "one to three dimensions, comma-separated: "
        + ", ".join(d.name for d in DIMENSIONS),
        "schema": {"type": "string"},
    },
    {
        "name": "from",
        "in": "query",
        "description": "first local day (inclusive); default: 6 days before `to`",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "to",
        "in": "query",
        "description": "last local day (inclusive); default: today",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "tz",
        "in": "query",
        "description": "IANA time zone of the days; default: the account's",
        "schema": {"type": "string"},
    },
    {
        "name": "include_bots",
        "in": "query",
        "description": "1 to count bot visits",
        "schema": {"type": "integer", "enum": [0, 1]},
    },
    {
        "name": "sort",
        "in": "query",
        "description": "a metric or grouped dimension; `-` for descending (`-profit`)",
        "schema": {"type": "string"},
    },
    {
        "name": "limit",
        "in": "query",
        "description": "at most this many rows (totals cover all)",
        "schema": {"type": "integer"},
    },
    {
        "name": "<dimension>",
        "in": "query",
        "description": "filter: `country=US`, repeat for several values; entities also by id: "
        "`campaign_id=7` (empty: none). " + _MONEY_NOTE,
        "schema": {"type": "string"},
    },
]


def _report_from_request() -> Any:
    membership = acting_membership(Role.VIEWER)
    settings: Settings = current_app.config["SETTINGS"]
    args = {name: request.args.getlist(name) for name in request.args}
    try:
        query = parse_report_args(args, membership.workspace_id, settings.timezone)
    except ReportError as exc:
        raise ApiError(400, "invalid", exc.message, {exc.param: exc.message}) from exc
    refresh_if_stale(db.session)
    db.session.commit()
    return run_report(db.session, query)


@api_bp.get("/report")
@document(
    "get",
    "/report",
    "A report: grouped rows with every metric, and totals",
    "reports",
    response=ReportOut,
    query=_REPORT_QUERY,
)
def report() -> ResponseReturnValue:
    """Group visits and conversions by one to three dimensions over local days."""
    result = _report_from_request()
    return jsonify(
        {
            "rows": [row.as_json() for row in result.rows],
            "totals": result.totals.as_json(),
            "total_rows": result.total_rows,
        }
    )


@api_bp.get("/report.csv")
@document(
    "get",
    "/report.csv",
    "The same report as CSV (header row, then one line per group)",
    "reports",
    query=_REPORT_QUERY,
    content_type="text/csv",
)
def report_as_csv() -> ResponseReturnValue:
    """The report as CSV; cells that a spreadsheet would run as a formula are neutralised."""
    result = _report_from_request()
    return Response(
        report_csv(result),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="report.csv"'},
    )


class CostUpdateIn(BaseModel):
    """A manual cost: ``cost`` spread evenly over the campaign's visits in the range (optionally
    only those whose variable has a value), replacing their cost. ``from``/``to`` are local days
    (inclusive) or local times (``to`` exclusive) in ``tz``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    campaign_id: int
    cost: Decimal = Field(ge=0, max_digits=14, decimal_places=6)
    date_from: date | datetime = Field(alias="from")
    date_to: date | datetime = Field(alias="to")
    tz: str | None = None
    variable: str | None = Field(
        default=None, description="var1..var10, or the source's variable name"
    )
    value: str | None = Field(default=None, description="the variable's value, e.g. one zone ID")

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _day_or_time(cls, value: Any) -> date | datetime:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("a day (YYYY-MM-DD) or a local time (YYYY-MM-DDTHH:MM)") from None

    @field_validator("variable")
    @classmethod
    def _variable_named(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class CostUpdateOut(BaseModel):
    id: int
    campaign_id: int
    cost: float
    starts_at: datetime
    ends_at: datetime
    timezone: str
    variable: str | None
    value: str | None
    visits_affected: int
    undone: bool


def _cost_out(update: Any) -> dict[str, Any]:
    return CostUpdateOut(
        id=update.id,
        campaign_id=update.campaign_id,
        cost=float(update.amount),
        starts_at=update.starts_at,
        ends_at=update.ends_at,
        timezone=update.timezone,
        variable=update.variable,
        value=update.variable_value,
        visits_affected=update.visits_affected,
        undone=update.undone_at is not None,
    ).model_dump(mode="json")


@api_bp.post("/costs")
@document(
    "post",
    "/costs",
    "A manual cost update for a campaign over a time range",
    "reports",
    body=CostUpdateIn,
    response=CostUpdateOut,
    status=201,
)
def create_cost_update() -> ResponseReturnValue:
    """Spread a total cost evenly over a campaign's visits in a range; reports show it at once."""
    membership = acting_membership(Role.BUYER)
    body = parse_body(CostUpdateIn)
    settings: Settings = current_app.config["SETTINGS"]
    try:
        update = apply_cost_update(
            db.session,
            CostUpdateRequest(
                workspace_id=membership.workspace_id,
                campaign_id=body.campaign_id,
                amount=body.cost,
                date_from=body.date_from,
                date_to=body.date_to,
                tz=body.tz or settings.timezone,
                variable=body.variable,
                value=body.value,
                user_id=membership.user_id,
            ),
        )
    except CostError as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, exc.message, {exc.field: exc.message}) from exc
    db.session.commit()
    return jsonify(_cost_out(update)), 201


@api_bp.get("/costs")
@document(
    "get",
    "/costs",
    "The workspace's manual cost updates, newest first",
    "reports",
    list_of=CostUpdateOut,
)
def list_cost_updates() -> ResponseReturnValue:
    """Manual cost updates of the workspace, newest first, a page at a time."""
    membership = acting_membership(Role.VIEWER)
    settings: Settings = current_app.config["SETTINGS"]
    page = page_args(settings.api_max_per_page)
    updates, total = cost_update_page(
        db.session, membership.workspace_id, page.offset, page.per_page
    )
    return jsonify(page_body([_cost_out(u) for u in updates], total, page))


@api_bp.post("/costs/import")
@document(
    "post",
    "/costs/import",
    "Import costs from CSV (header date,campaign,cost[,variable]); all lines or none",
    "reports",
    list_of=CostUpdateOut,
    status=201,
    query=[
        {
            "name": "tz",
            "in": "query",
            "description": "time zone of the dates",
            "schema": {"type": "string"},
        }
    ],
)
def import_cost_csv() -> ResponseReturnValue:
    """Apply a CSV body (text/csv, UTF-8) of costs: one cost update per line and local day."""
    membership = acting_membership(Role.BUYER)
    settings: Settings = current_app.config["SETTINGS"]
    try:
        text = request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed", "the body must be UTF-8 CSV text") from exc
    try:
        applied = import_costs_csv(
            db.session,
            membership.workspace_id,
            text,
            request.args.get("tz") or settings.timezone,
            membership.user_id,
        )
    except CostImportError as exc:
        db.session.rollback()
        fields = {f"line {line}": message for line, message in exc.errors}
        raise ApiError(422, "invalid", str(exc).split(";")[0], fields) from exc
    db.session.commit()
    page = Page(1, max(len(applied), 1))
    return jsonify(page_body([_cost_out(u) for u in applied], len(applied), page)), 201


@api_bp.post("/costs/<int:update_id>/undo")
@document(
    "post",
    "/costs/{id}/undo",
    "Undo a manual cost update (the visits get their costs back)",
    "reports",
    response=CostUpdateOut,
)
def undo_cost(update_id: int) -> ResponseReturnValue:
    """Give the visits of a cost update back the costs they had before it."""
    membership = acting_membership(Role.BUYER)
    try:
        update = undo_cost_update(db.session, membership.workspace_id, update_id)
    except CostError as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, exc.message, {exc.field: exc.message}) from exc
    db.session.commit()
    return jsonify(_cost_out(update))


__all__ = ["METRICS"]
