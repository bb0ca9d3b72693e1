"""The report page, its CSV export, manual costs, and the charting library's script."""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from tracker.auth.sessions import current_membership, role_required
from tracker.config import Settings
from tracker.extensions import db
from tracker.models import Campaign, Role
from tracker.numbers import parse_id
from tracker.reports import collector
from tracker.reports.costs import (
    CostError,
    CostImportError,
    CostUpdateRequest,
    apply_cost_update,
    cost_updates_of,
    import_costs_csv,
    undo_cost_update,
)
from tracker.reports.dashboard import time_series
from tracker.reports.dimensions import DIMENSION_BY_NAME, DIMENSIONS, WEEKDAY_NAMES
from tracker.reports.export import report_csv
from tracker.reports.forms import CostImportForm, CostUpdateForm, UndoForm
from tracker.reports.jobs import register_jobs
from tracker.reports.metrics import METRICS
from tracker.reports.query import (
    Report,
    ReportError,
    ReportQuery,
    parse_report_args,
    run_report,
)
from tracker.reports.rollups import refresh_if_stale
from tracker.setup.variables import sub_id_names

reports_bp = Blueprint("reports", __name__)
reports_bp.record_once(lambda state: register_jobs(cast(Flask, state.app)))
# Every request's, the API's and the dashboard's included: they run reports too.
reports_bp.teardown_app_request(collector.resume_after_request)

PAGE_ROWS = 1000


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def _args() -> dict[str, list[str]]:
    """The query string, with the form's ``level`` selects folded into ``group_by``."""
    args = {name: request.args.getlist(name) for name in request.args if name != "chart"}
    levels = [level for level in args.pop("level", []) if level.strip()]
    if levels:
        args["group_by"] = [",".join(dict.fromkeys(levels))]
    return args


def _page_query(args: dict[str, list[str]]) -> ReportQuery:
    """The page's state: the drill path in ``group_by`` (the table groups by its first level)."""
    if not args.get("group_by") or not args["group_by"][0].strip():
        args = {**args, "group_by": ["campaign"]}
    return parse_report_args(args, current_membership().workspace_id, _settings().timezone)


def _shown(query: ReportQuery) -> ReportQuery:
    """What the table shows: the first level of the drill path."""
    return ReportQuery(
        query.workspace_id,
        query.group_by[:1],
        query.period,
        query.filters,
        query.include_bots,
        query.sort if query.sort and query.sort.lstrip("-") not in query.group_by[1:] else None,
        PAGE_ROWS,
    )


def _url(args: dict[str, list[str]], **changes: list[str] | None) -> str:
    merged = {**args}
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    pairs = [(name, value) for name, values in merged.items() for value in values]
    return url_for("reports.index") + ("?" + urlencode(pairs) if pairs else "")


def _drill_url(args: dict[str, list[str]], query: ReportQuery, row: dict[str, Any]) -> str | None:
    """The row as a filter, and the next level of the drill path (none past the last)."""
    if len(query.group_by) < 2:
        return None
    level = DIMENSION_BY_NAME[query.group_by[0]]
    raw = row.get(level.id_key) if level.kind == "entity" else row.get(level.name)
    param = level.id_key if level.kind == "entity" else level.name
    value = "" if raw is None else str(raw)
    return _url(args, group_by=[",".join(query.group_by[1:])], **{param: [value]}, sort=None)


def _filter_chips(
    args: dict[str, list[str]],
    query: ReportQuery,
    names: dict[str, str],
    labels: dict[str, str],
) -> list[dict[str, str]]:
    chips = []
    for flt in query.filters:
        dimension = DIMENSION_BY_NAME[flt.dimension]
        shown = ", ".join(names.get(f"{flt.param}={v}", v) or "(none)" for v in flt.values)
        chips.append(
            {
                "label": labels.get(dimension.name, dimension.label),
                "value": shown,
                "remove": _url(args, **{flt.param: None}),
            }
        )
    return chips


def _chip_names(query: ReportQuery) -> dict[str, str]:
    """Names for id filters, so a chip reads ``Campaign: Summer push``, not ``7``."""
    names: dict[str, str] = {}
    for flt in query.filters:
        dimension = DIMENSION_BY_NAME[flt.dimension]
        if not flt.by_id or dimension.model is None:
            continue
        ids = [ident for v in flt.values if (ident := parse_id(v)) is not None]
        if not ids:
            continue
        model = dimension.model
        for ident, name in db.session.execute(
            db.select(model.id, model.name).where(
                model.workspace_id == query.workspace_id, model.id.in_(ids)
            )
        ).tuples():
            names[f"{flt.param}={ident}"] = name
    return names


def _dimension_labels(query: ReportQuery) -> dict[str, str]:
    """Each dimension's label; with one traffic source filtered, its sub IDs by the source's
    own names (``zone (var1)``): other sources may use var1 for something else."""
    labels = {d.name: d.label for d in DIMENSIONS}
    sources = [f for f in query.filters if f.dimension == "traffic_source" and f.by_id]
    if len(sources) != 1 or len(sources[0].values) != 1:
        return labels
    source_id = parse_id(sources[0].values[0])
    if source_id is None:
        return labels
    names = sub_id_names(db.session, query.workspace_id, [source_id]).get(source_id)
    for key, name in (names.names if names else {}).items():
        labels[key] = f"{name} ({key})"
    return labels


@reports_bp.get("/reports")
def index() -> ResponseReturnValue:
    """The report page: levels, range and filters; a dense table, totals, a chart."""
    args = _args()
    if "level" in request.args:  # the form's selects: answer with the canonical, shareable URL
        wanted = request.args.get("chart")
        return redirect(_url(args, chart=[wanted] if wanted else None))
    granularity = request.args.get("chart", "day")
    if granularity not in ("day", "hour"):
        granularity = "day"
    try:
        query = _page_query(args)
    except ReportError as exc:
        return _render_error(exc, args), 400
    refresh_if_stale(db.session)
    db.session.commit()
    shown = _shown(query)
    report = run_report(db.session, shown)
    if granularity == "hour" and (query.period.date_to - query.period.date_from).days > 31:
        granularity = "day"
    chart = time_series(db.session, query, granularity)
    level = DIMENSION_BY_NAME[shown.group_by[0]]
    rows = []
    for row in report.rows:
        data = row.as_dict()
        rows.append(
            {
                "data": data,
                "label": _label(level.name, data),
                "drill": _drill_url(args, query, data),
            }
        )
    names = _chip_names(query)
    labels = _dimension_labels(query)
    csv_args = {**args, "group_by": [shown.group_by[0]], "totals": ["1"]}
    return render_template(
        "reports/index.html",
        query=query,
        shown=shown,
        report=report,
        rows=rows,
        level=level,
        metrics=METRICS,
        dimensions=DIMENSIONS,
        chips=_filter_chips(args, query, names, labels),
        labels=labels,
        chart=chart,
        granularity=granularity,
        sort_url=lambda column: _url(args, sort=[_next_sort(shown.sort, column)]),
        chart_url=lambda g: _url(args, chart=[g]),
        csv_url=url_for("reports.export_csv")
        + "?"
        + urlencode([(k, v) for k, vs in csv_args.items() for v in vs]),
        hidden_filters=[(f.param, v) for f in query.filters for v in f.values],
        current_sort=shown.sort or ("-visits" if level.kind != "time" else level.name),
    )


def _label(level: str, data: dict[str, Any]) -> str:
    value = data.get(level)
    if level == "day_of_week" and isinstance(value, int):
        return WEEKDAY_NAMES[value - 1]
    if value is None:
        return "(none)"
    if value == "":
        return "(empty)"
    return str(value)


def _next_sort(current: str | None, column: str) -> str:
    if current == f"-{column}":
        return column
    return f"-{column}"


def _render_error(exc: ReportError, args: dict[str, list[str]]) -> str:
    return render_template(
        "reports/index.html",
        error=f"{exc.param}: {exc.message}",
        query=None,
        dimensions=DIMENSIONS,
        metrics=METRICS,
        args=args,
    )


@reports_bp.get("/reports.csv")
def export_csv() -> ResponseReturnValue:
    """The table on the page (first level, filters, totals) as CSV."""
    args = {name: request.args.getlist(name) for name in request.args}
    with_totals = request.args.get("totals") == "1"
    try:
        query = _page_query(args)
    except ReportError as exc:
        abort(400, description=f"{exc.param}: {exc.message}")
    refresh_if_stale(db.session)
    db.session.commit()
    report: Report = run_report(db.session, _shown(query))
    return Response(
        report_csv(report, with_totals=with_totals),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="report.csv"'},
    )


# --- costs ---------------------------------------------------------------------------------------


def _campaign_choices(workspace_id: int) -> list[tuple[int, str]]:
    return [
        (cid, name)
        for cid, name in db.session.execute(
            db.select(Campaign.id, Campaign.name)
            .where(Campaign.workspace_id == workspace_id)
            .order_by(Campaign.name)
        ).tuples()
    ]


@reports_bp.route("/costs", methods=["GET", "POST"])
@role_required(Role.VIEWER)
def costs() -> ResponseReturnValue:
    """Manual cost updates: enter a total for a campaign and range, import a CSV, undo."""
    membership = current_membership()
    if request.method == "POST" and not membership.role.allows(Role.BUYER):
        abort(403, description="This needs the buyer role in this workspace.")
    form = CostUpdateForm(prefix="update")
    form.campaign_id.choices = _campaign_choices(membership.workspace_id)
    if not form.tz.data:
        form.tz.data = _settings().timezone
    import_form = CostImportForm(prefix="import")
    if not import_form.tz.data:
        import_form.tz.data = _settings().timezone
    if form.submit.data and form.validate_on_submit():
        try:
            update = apply_cost_update(
                db.session,
                CostUpdateRequest(
                    workspace_id=membership.workspace_id,
                    campaign_id=form.campaign_id.data,
                    amount=form.cost.data,
                    date_from=form.date_from.data,
                    date_to=form.date_to.data,
                    tz=form.tz.data,
                    variable=form.variable.data or None,
                    value=form.value.data if form.variable.data else None,
                    user_id=membership.user_id,
                ),
            )
        except CostError as exc:
            db.session.rollback()
            field = getattr(
                form, {"from": "date_from", "to": "date_to"}.get(exc.field, exc.field), None
            )
            if field is not None and hasattr(field, "errors"):
                field.errors = [*field.errors, exc.message]
            else:
                flash(exc.message, "error")
        else:
            db.session.commit()
            flash(f"Cost spread over {update.visits_affected:,} visits.", "success")
            return redirect(url_for("reports.costs"))
    return render_template(
        "reports/costs.html",
        form=form,
        import_form=import_form,
        updates=cost_updates_of(db.session, membership.workspace_id),
        undo_form=UndoForm(),
        can_edit=membership.role.allows(Role.BUYER),
    )


@reports_bp.post("/costs/import")
@role_required(Role.BUYER)
def import_costs() -> ResponseReturnValue:
    """Apply a CSV of costs (date, campaign, optional variable, cost); all lines or none."""
    membership = current_membership()
    form = CostImportForm(prefix="import")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("reports.costs"))
    raw = form.file.data.read() if form.file.data else b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        flash("The file is not UTF-8 text.", "error")
        return redirect(url_for("reports.costs"))
    try:
        applied = import_costs_csv(
            db.session, membership.workspace_id, text, form.tz.data, membership.user_id
        )
    except CostImportError as exc:
        db.session.rollback()
        for line, message in exc.errors[:20]:
            flash(f"Line {line}: {message}", "error")
        return redirect(url_for("reports.costs"))
    db.session.commit()
    flash(f"Imported {len(applied)} cost lines.", "success")
    return redirect(url_for("reports.costs"))


@reports_bp.post("/costs/<int:update_id>/undo")
@role_required(Role.BUYER)
def undo_cost(update_id: int) -> ResponseReturnValue:
    """Undo a manual cost update: its visits get their previous costs back."""
    form = UndoForm()
    if not form.validate_on_submit():
        abort(400, description="The form expired; reload the page.")
    try:
        undo_cost_update(db.session, current_membership().workspace_id, update_id)
    except CostError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("Cost update undone.", "success")
    return redirect(url_for("reports.costs"))


# --- the charting library -------------------------------------------------------------------------


@cache
def _chart_library() -> tuple[bytes, bytes, str]:
    """plotly.min.js from the installed ``plotly`` package, with its gzip and an ETag."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    body = path.read_bytes()
    return body, gzip.compress(body, 6), hashlib.sha256(body).hexdigest()[:16]


def chart_library_url() -> str:
    """The library's URL, versioned by content so browsers may cache it for a year."""
    return url_for("reports.chart_library", v=_chart_library()[2])


@reports_bp.get("/assets/plotly.min.js")
def chart_library() -> ResponseReturnValue:
    """Serve plotly.js from the plotly package (gzip when accepted): no CDN, no copy."""
    body, compressed, etag = _chart_library()
    if request.if_none_match.contains(etag):
        return Response(status=304)
    gzipped = "gzip" in request.accept_encodings
    response = Response(compressed if gzipped else body, mimetype="text/javascript")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = 365 * 24 * 3600
    response.cache_control.immutable = True
    return response


@reports_bp.app_context_processor
def chart_context() -> dict[str, Any]:
    return {"chart_library_url": chart_library_url}
