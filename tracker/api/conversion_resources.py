"""``GET /api/v1/conversions`` (the workspace's conversions, newest first) and
``POST /api/v1/conversions`` (a manual upload: JSON rows or CSV text, all rows or none)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from tracker.api.blueprint import api_bp
from tracker.api.errors import ApiError
from tracker.api.frame import acting_membership, document, page_args, page_body, parse_body
from tracker.config import Settings
from tracker.conversions.params import STATUSES
from tracker.conversions.queries import ConversionFilters, day_bounds, list_conversions
from tracker.conversions.services import now_utc
from tracker.conversions.upload import (
    UploadError,
    UploadReport,
    UploadRow,
    parse_csv,
    rows_from_items,
    upload_conversions,
)
from tracker.extensions import db
from tracker.models import Role
from tracker.numbers import parse_id
from tracker.setup.schemas import MoneyOut
from tracker.web import client_ip


class ConversionOut(BaseModel):
    """A conversion, with the visit it belongs to (its time is the cohort time of reports)."""

    id: int
    click_id: str
    campaign_id: int
    campaign: str | None
    offer_id: int | None
    affiliate_network_id: int | None
    traffic_source_id: int | None
    traffic_source: str | None
    txid: str
    et: str
    conversion_type_id: int | None
    conversion_type: str | None
    counts_as_conversion: bool
    counts_in_revenue: bool
    status: str
    payout: MoneyOut
    currency: str
    param1: str
    param2: str
    param3: str
    param4: str
    param5: str
    source: str = Field(description="postback, pixel, script or upload")
    created_at: datetime
    updated_at: datetime
    visit_at: datetime
    country: str
    device_type: str
    os: str
    browser: str
    external_id: str
    var1: str
    var2: str
    var3: str
    var4: str
    var5: str
    var6: str
    var7: str
    var8: str
    var9: str
    var10: str


class UploadIn(BaseModel):
    """Rows as objects, or CSV text (``cid,payout,txid,status,et``, a header line optional)."""

    rows: list[dict[str, Any]] | None = None
    csv: str | None = None
    dry_run: bool = Field(default=False, description="check every row, record nothing")


class UploadRowOut(BaseModel):
    line: int = Field(description="the row's index in `rows` (from 0), or its CSV line (from 1)")
    click_id: str
    result: str | None = Field(description="recorded, updated or duplicate; null if not applied")
    conversion_id: int | None
    error: str | None


class UploadOut(BaseModel):
    applied: bool
    recorded: int
    updated: int
    duplicate: int
    rows: list[UploadRowOut]


_LIST_QUERY: list[dict[str, Any]] = [
    {"name": "campaign_id", "in": "query", "schema": {"type": "integer"}},
    {"name": "traffic_source_id", "in": "query", "schema": {"type": "integer"}},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    {"name": "click_id", "in": "query", "schema": {"type": "string"}},
    {
        "name": "et",
        "in": "query",
        "description": "event type; empty: main",
        "schema": {"type": "string"},
    },
    {"name": "conversion_type_id", "in": "query", "schema": {"type": "integer"}},
    {
        "name": "from",
        "in": "query",
        "description": "first day (YYYY-MM-DD, in `tz`) or instant (ISO 8601) of arrival",
        "schema": {"type": "string"},
    },
    {
        "name": "to",
        "in": "query",
        "description": "last day (inclusive) or instant (exclusive)",
        "schema": {"type": "string"},
    },
    {
        "name": "tz",
        "in": "query",
        "description": "default: the account's",
        "schema": {"type": "string"},
    },
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    ident = parse_id(raw)
    if ident is None:
        raise ApiError(
            400, "invalid", f"{name} must be an id (a whole number)", {name: "not an id"}
        )
    return ident


def _zone() -> ZoneInfo:
    name = request.args.get("tz") or _settings().timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(400, "invalid", f"unknown time zone {name!r}", {"tz": "unknown"}) from exc


def _bound(name: str, zone: ZoneInfo, end: bool) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        since, until = day_bounds(day, day, zone)
        return until if end else since
    try:
        instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(
            400, "invalid", f"{name} must be YYYY-MM-DD or an ISO 8601 time", {name: "not a date"}
        ) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=zone)


def _filters() -> ConversionFilters:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(
            400, "invalid", f"status is one of {', '.join(STATUSES)}", {"status": "unknown"}
        )
    zone = _zone()
    return ConversionFilters(
        campaign_id=_int_arg("campaign_id"),
        traffic_source_id=_int_arg("traffic_source_id"),
        status=status,
        click_id=request.args.get("click_id") or None,
        et=request.args.get("et"),
        conversion_type_id=_int_arg("conversion_type_id"),
        since=_bound("from", zone, end=False),
        until=_bound("to", zone, end=True),
    )


@api_bp.get("/conversions")
@document(
    "get",
    "/conversions",
    "The workspace's conversions, newest first",
    "conversions",
    list_of=ConversionOut,
    query=_LIST_QUERY,
)
def list_conversions_view() -> ResponseReturnValue:
    """A page of the workspace's conversions, filtered, newest first."""
    membership = acting_membership(Role.VIEWER)
    page = page_args(_settings().api_max_per_page)
    rows, total = list_conversions(
        db.session, membership.workspace_id, _filters(), page.offset, page.per_page
    )
    items = [ConversionOut.model_validate(row).model_dump(mode="json") for row in rows]
    return jsonify(page_body(items, total, page))


def _upload_rows() -> tuple[list[UploadRow], bool]:
    if request.mimetype in ("text/csv", "text/plain"):
        try:
            text = request.get_data().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "malformed", "the CSV must be UTF-8 text") from exc
        return parse_csv(text), request.args.get("dry_run") in ("1", "true")
    body = parse_body(UploadIn)
    if (body.rows is None) == (body.csv is None):
        raise ApiError(
            422, "invalid", "send either rows or csv", {"rows": "rows or csv", "csv": "rows or csv"}
        )
    if body.rows is not None:
        return rows_from_items(body.rows), body.dry_run
    return parse_csv(body.csv or ""), body.dry_run


def _upload_out(report: UploadReport) -> dict[str, Any]:
    return UploadOut(
        applied=report.applied,
        recorded=report.count("recorded"),
        updated=report.count("updated"),
        duplicate=report.count("duplicate"),
        rows=[
            UploadRowOut(
                line=r.line,
                click_id=r.click_id,
                result=r.result,
                conversion_id=r.conversion_id,
                error=r.error,
            )
            for r in report.rows
        ],
    ).model_dump(mode="json")


@api_bp.post("/conversions")
@document(
    "post",
    "/conversions",
    "Upload conversions (JSON rows or CSV text): every row checked, then all recorded or none",
    "conversions",
    body=UploadIn,
    response=UploadOut,
)
def upload_conversions_view() -> ResponseReturnValue:
    """Record conversions by hand: 200 with each row's result, or 422 naming the bad rows."""
    membership = acting_membership(Role.BUYER)
    try:
        rows, dry_run = _upload_rows()
    except UploadError as exc:
        raise ApiError(422, "invalid", str(exc), {"rows": str(exc)}) from exc
    report = upload_conversions(
        db.session,
        membership.workspace_id,
        rows,
        apply=not dry_run,
        default_currency=_settings().currency,
        now=now_utc(),
        ip=client_ip(),
    )
    if report.errors:
        db.session.rollback()
        fields = {f"rows.{r.line}": r.error or "" for r in report.errors}
        first = report.errors[0]
        raise ApiError(
            422,
            "invalid",
            f"{len(report.errors)} of {len(report.rows)} rows cannot be recorded (row "
            f"{first.line}: {first.error}); nothing was recorded",
            fields,
        )
    db.session.commit()
    return jsonify(_upload_out(report))
