"""Conversion routes: ``/postback``, ``/conversion.gif`` and ``/conversion.js`` (no login), and
the buyer's pages: conversions, upload, conversion types, forwards, the postback log."""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

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
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_cookie
from wtforms import SelectChoice

from tracker.auth.sessions import current_membership, public, role_required
from tracker.config import Settings
from tracker.conversions import event_types, outbox, queries
from tracker.conversions.forms import (
    ConversionFilterForm,
    ConversionTypeForm,
    DeleteForm,
    ForwardFilterForm,
    LogFilterForm,
    RetryForm,
    UploadForm,
)
from tracker.conversions.params import first_values
from tracker.conversions.services import (
    PIXEL,
    POSTBACK,
    SCRIPT,
    PostbackOutcome,
    PostbackRequest,
    handle_postback,
    now_utc,
    with_retries,
)
from tracker.conversions.upload import (
    UploadError,
    decode_upload,
    parse_csv,
    upload_conversions,
)
from tracker.edge import NO_STORE, Answer, lean_edge, query_values
from tracker.extensions import csrf, db
from tracker.models.users import Role
from tracker.numbers import parse_id, parse_page
from tracker.setup.variables import NO_NAMES, named_sub_ids, sub_id_names
from tracker.tracking.clickid import CLICK_COOKIE
from tracker.tracking.enrich import normalize_ip
from tracker.web import client_ip, client_ip_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

conversions_bp = Blueprint("conversions", __name__)

POSTBACK_MAX_BODY = 64 * 1024  # a postback is a few parameters; anything bigger is refused
PAGE_SIZE = 100
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
RESULT_HEADER = "X-Conversion-Result"
ENDPOINTS = "conversions.endpoints"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
SCRIPT_TYPE = "application/javascript; charset=utf-8"

log = logging.getLogger(__name__)


@conversions_bp.record_once
def _init_conversions(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    # Pixels and postbacks come from other sites and servers: no session, no CSRF token.
    for view in (postback, conversion_pixel, conversion_script):
        csrf.exempt(view)
    endpoints = app.extensions[ENDPOINTS] = ConversionEndpoints(app)
    edge = lean_edge(app)
    edge.add("/postback", endpoints.postback_route)
    edge.add("/conversion.gif", endpoints.pixel_route)
    edge.add("/conversion.js", endpoints.script_route)


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def _endpoints() -> ConversionEndpoints:
    endpoints: ConversionEndpoints = current_app.extensions[ENDPOINTS]
    return endpoints


# --- tracking endpoints --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Body:
    """What a POST carried: its parameters, its text for the log, or why it was not read."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    raw: str = ""
    problem: str | None = None
    problem_status: int = 400


NO_BODY = Body()


def _read_body() -> Body:
    """A POST's form or JSON body (Flask parses it: only POSTs reach this, through Flask)."""
    request.max_content_length = POSTBACK_MAX_BODY
    try:
        data = request.get_data(cache=True)
        raw = data.decode("utf-8", "replace")
        if request.is_json:
            pairs, problem = _json_pairs(data)
            return Body(pairs, raw, problem)
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return Body(list(request.form.items(multi=True)), raw)
        return Body([], raw)
    except RequestEntityTooLarge:
        return Body(problem=f"body larger than {POSTBACK_MAX_BODY // 1024} KB", problem_status=413)


def _json_pairs(data: bytes) -> tuple[list[tuple[str, str]], str | None]:
    try:
        # Numbers stay as written ("12.50"), so a payout keeps its digits.
        document = json.loads(
            data.decode("utf-8"), parse_float=str, parse_int=str, parse_constant=str
        )
    except (UnicodeDecodeError, ValueError):
        return [], "the body is not valid JSON"
    if not isinstance(document, dict):
        return [], "the JSON body must be an object of parameters"
    pairs = [
        (str(name), value if isinstance(value, str) else json.dumps(value))
        for name, value in document.items()
        if value is not None
    ]
    return pairs, None


def _wants_json() -> bool:
    if request.is_json:
        return True
    if "json" not in request.headers.get("Accept", ""):  # most networks send */* or nothing
        return False
    best = request.accept_mimetypes.best_match(["text/plain", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > 0


_HEAD_ANSWER = (("Cache-Control", NO_STORE),)


class ConversionEndpoints:
    """The handlers of ``/postback``, ``/conversion.gif`` and ``/conversion.js``, bound to one
    app's store and settings (read at start-up: the lean path has no application context).

    A GET or HEAD is answered on the lean path (tracker/edge.py), ahead of Flask's request
    machinery; a POST (a body to parse) and a postback that asks for JSON go through Flask's
    routes, which call the same handlers."""

    def __init__(self, app: Flask) -> None:
        self.settings: Settings = app.config["SETTINGS"]
        with app.app_context():
            self.engine = db.engine

    # --- the routes of the lean path ---------------------------------------------------------

    def postback_route(self, environ: WSGIEnvironment, _rest: str) -> Answer | None:
        """``GET /postback``; one that asks for JSON is left to Flask's content negotiation."""
        if "json" in environ.get("HTTP_ACCEPT", ""):
            return None
        return self.postback(environ, NO_BODY, wants_json=False)

    def pixel_route(self, environ: WSGIEnvironment, _rest: str) -> Answer:
        """``GET /conversion.gif``."""
        return self.pixel(environ)

    def script_route(self, environ: WSGIEnvironment, _rest: str) -> Answer:
        """``GET /conversion.js``."""
        return self.script(environ)

    # --- the handlers ------------------------------------------------------------------------

    def postback(self, environ: WSGIEnvironment, body: Body, *, wants_json: bool) -> Answer:
        """Record a network's conversion and answer with the result, as text or JSON."""
        if environ["REQUEST_METHOD"] == "HEAD":  # link checkers: nothing to record
            return Answer(200, list(_HEAD_ANSWER))
        outcome = self._record(environ, POSTBACK, body)
        if outcome is None:
            status, result, reason = 503, "unavailable", "the store is unavailable; retry later"
        else:
            status, result, reason = outcome.http_status, outcome.result, outcome.reason
        if wants_json:
            document = {
                "result": result,
                "reason": reason,
                "conversion_id": outcome.conversion_id if outcome else None,
            }
            answer = Answer(status, [("Content-Type", JSON)], json.dumps(document).encode())
        else:
            text = f"{result}: {reason}\n" if reason else f"{result}\n"
            answer = Answer(status, [("Content-Type", TEXT)], text.encode())
        answer.headers += [("Cache-Control", NO_STORE), (RESULT_HEADER, result)]
        if status == 503:
            answer.headers.append(("Retry-After", "60"))
        return answer

    def pixel(self, environ: WSGIEnvironment) -> Answer:
        """Record a conversion from an image pixel; a GIF whatever the result."""
        result = self._record_quietly(environ, PIXEL)
        headers = [("Content-Type", "image/gif"), ("Cache-Control", NO_STORE)]
        return Answer(200, [*headers, (RESULT_HEADER, result)], GIF)

    def script(self, environ: WSGIEnvironment) -> Answer:
        """Record a conversion from a script tag; a comment of JavaScript whatever the result."""
        result = self._record_quietly(environ, SCRIPT)
        headers = [("Content-Type", SCRIPT_TYPE), ("Cache-Control", NO_STORE)]
        return Answer(
            200, [*headers, (RESULT_HEADER, result)], f"/* conversion: {result} */\n".encode()
        )

    # --- the work ------------------------------------------------------------------------------

    def _record_quietly(self, environ: WSGIEnvironment, endpoint: str) -> str:
        if environ["REQUEST_METHOD"] == "HEAD":
            return "ok"
        outcome = self._record(environ, endpoint, NO_BODY)
        return outcome.result if outcome else "unavailable"

    def _read_request(self, environ: WSGIEnvironment, endpoint: str, body: Body) -> PostbackRequest:
        """The call's parameters (query string, then a form or JSON body over it)."""
        ip = client_ip_of(environ, self.settings.trusted_proxies)
        cookie = None
        if endpoint != POSTBACK and "HTTP_COOKIE" in environ:
            cookie = parse_cookie(environ).get(CLICK_COOKIE)
        raw_query: str = environ.get("QUERY_STRING", "")
        if not raw_query.isascii():
            raw_query = raw_query.encode("latin-1").decode("utf-8", "replace")
        return PostbackRequest(
            endpoint=endpoint,
            method=environ["REQUEST_METHOD"][:8],
            ip=normalize_ip(ip) or ip[:45],
            raw_query=raw_query,
            raw_body=body.raw,
            values=first_values([*body.pairs, *query_values(environ).items()]),
            received_at=now_utc(),
            default_currency=self.settings.currency,
            cookie_click_id=cookie,
            problem=body.problem,
            problem_status=body.problem_status,
        )

    def _record(
        self, environ: WSGIEnvironment, endpoint: str, body: Body
    ) -> PostbackOutcome | None:
        """Run a postback through the service and commit; None when the store is unreachable."""
        postback_request = self._read_request(environ, endpoint, body)
        try:
            return with_retries(
                self.engine, lambda conn: handle_postback(conn, postback_request), time.sleep
            )
        except OperationalError as exc:
            # The postback log is in the store: this line is its only trace (the network
            # retries on the 503; the query and body let a person replay it by hand if not).
            log.error(
                "postback not recorded, store unavailable (%s): %s %s?%s body=%r",
                str(exc.orig).strip().splitlines()[0][:200] if str(exc.orig).strip() else "error",
                postback_request.method,
                endpoint,
                postback_request.raw_query[:2000],
                postback_request.raw_body[:2000],
            )
            return None


# --- the Flask routes: the same handlers, for POST bodies, JSON answers and url_for ------------


@conversions_bp.route("/postback", methods=["GET", "POST"])
@public
def postback() -> Response:
    """Record a conversion an affiliate network reports (query string, form or JSON body)."""
    body = _read_body() if request.method == "POST" else NO_BODY
    return _endpoints().postback(request.environ, body, wants_json=_wants_json()).to_flask()


@conversions_bp.get("/conversion.gif")
@public
def conversion_pixel() -> Response:
    """Record a conversion from an image pixel (click ID from ``cid`` or the cookie); a GIF."""
    return _endpoints().pixel(request.environ).to_flask()


@conversions_bp.get("/conversion.js")
@public
def conversion_script() -> Response:
    """Record a conversion from a script tag on a thank-you page; answers JavaScript."""
    return _endpoints().script(request.environ).to_flask()


# --- pages ---------------------------------------------------------------------------------------


def _page_number() -> int:
    return parse_page(request.args.get("page"))


def _pages(total: int, page: int) -> dict[str, Any]:
    last = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    return {
        "page": page,
        "last": last,
        "total": total,
        "prev_url": url_for(request.endpoint or "", **args, page=page - 1) if page > 1 else None,
        "next_url": url_for(request.endpoint or "", **args, page=page + 1) if page < last else None,
    }


def _days(form: ConversionFilterForm | LogFilterForm) -> tuple[date | None, date | None]:
    if form.date_from.errors or form.date_to.errors:
        return None, None
    return form.date_from.data, form.date_to.data


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def _can_edit() -> bool:
    return current_membership().role.allows(Role.BUYER)


@conversions_bp.get("/conversions")
def index() -> ResponseReturnValue:
    """The workspace's conversions, newest first, with their visit's campaign, source, geo,
    device and sub IDs; filterable by campaign, status, day and click ID."""
    membership = current_membership()
    form = ConversionFilterForm(request.args)
    campaigns = queries.campaign_choices(db.session, membership.workspace_id)
    form.campaign_id.choices = [
        SelectChoice("", "Any"),
        *(SelectChoice(str(cid), name) for cid, name in campaigns),
    ]
    form.validate()
    day_from, day_to = _days(form)
    since, until = queries.day_bounds(day_from, day_to, _settings().zone)
    campaign_raw = form.campaign_id.data or ""
    filters = queries.ConversionFilters(
        campaign_id=parse_id(campaign_raw),
        status=form.status.data or None,
        click_id=form.click_id.data or None,
        since=since,
        until=until,
    )
    page = _page_number()
    rows, total = queries.list_conversions(
        db.session, membership.workspace_id, filters, (page - 1) * PAGE_SIZE, PAGE_SIZE
    )
    names = sub_id_names(
        db.session, membership.workspace_id, (r.get("traffic_source_id") for r in rows)
    )

    def sub_ids(row: dict[str, Any]) -> list[tuple[str, str, str]]:
        return named_sub_ids(row, names.get(row.get("traffic_source_id") or 0, NO_NAMES))

    return render_template(
        "conversions/index.html",
        form=form,
        rows=rows,
        pages=_pages(total, page),
        sub_ids=sub_ids,
        live=bool(form.live.data),
        can_edit=_can_edit(),
    )


@conversions_bp.get("/postback-log")
def postback_log() -> ResponseReturnValue:
    """Every postback and pixel call of the workspace, accepted or refused, with its reason."""
    membership = current_membership()
    form = LogFilterForm(request.args)
    form.validate()
    day_from, day_to = _days(form)
    since, until = queries.day_bounds(day_from, day_to, _settings().zone)
    filters = queries.LogFilters(
        click_id=form.click_id.data or None,
        result=form.result.data or None,
        since=since,
        until=until,
    )
    unattributed = queries.unattributed_visible(
        db.session, membership.workspace_id, membership.role.allows(Role.ADMIN)
    )
    page = _page_number()
    rows, total = queries.list_postback_log(
        db.session,
        membership.workspace_id,
        filters,
        include_unattributed=unattributed,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return render_template(
        "conversions/postback_log.html",
        form=form,
        rows=rows,
        pages=_pages(total, page),
        unattributed=unattributed,
        retention_days=_settings().postback_log_retention_days,
    )


@conversions_bp.route("/conversions/upload", methods=["GET", "POST"])
@role_required(Role.BUYER)
def upload() -> ResponseReturnValue:
    """Paste or upload a CSV of conversions: every row checked, then all recorded or none."""
    form = UploadForm()
    report = None
    problem = None
    status = 200
    if form.validate_on_submit():
        try:
            text = form.csv_text.data or ""
            file = form.csv_file.data
            if file is not None and file.filename:
                text = decode_upload(file.read())
            rows = parse_csv(text)
        except UploadError as exc:
            problem, status = _sentence(str(exc)), 400
        else:
            membership = current_membership()
            report = upload_conversions(
                db.session,
                membership.workspace_id,
                rows,
                apply=bool(form.apply.data),
                default_currency=_settings().currency,
                now=now_utc(),
                ip=client_ip(),
            )
            if report.applied:
                db.session.commit()
                flash(
                    f"{len(report.rows)} rows recorded: {report.count('recorded')} new, "
                    f"{report.count('updated')} updated, {report.count('duplicate')} duplicates.",
                    "success",
                )
            else:
                db.session.rollback()
                if report.errors:
                    status = 400
                    flash(
                        f"{len(report.errors)} of {len(report.rows)} rows have errors: "
                        "nothing was recorded. Fix them and send the file again.",
                        "error",
                    )
                else:
                    flash(f"All {len(report.rows)} rows are fine (nothing recorded yet).", "info")
    elif form.is_submitted():
        status = 400
    return render_template(
        "conversions/upload.html", form=form, report=report, problem=problem
    ), status


@conversions_bp.route("/conversions/types", methods=["GET", "POST"])
def types() -> ResponseReturnValue:
    """Custom conversion types: which et values mean which event, and whether they count."""
    membership = current_membership()
    form = ConversionTypeForm()
    status = 200
    if form.is_submitted():
        if not _can_edit():
            abort(403, description="This needs the buyer role in this workspace.")
        if form.validate():
            try:
                event_types.create_type(
                    db.session,
                    membership.workspace_id,
                    form.name.data or "",
                    event_types.clean_et_values(form.et_values.data or ""),
                    bool(form.counts_as_conversion.data),
                    bool(form.counts_in_revenue.data),
                )
            except event_types.ConversionTypeError as exc:
                db.session.rollback()
                getattr(form, exc.field).errors = [_sentence(exc.message)]
                status = 400
            else:
                db.session.commit()
                flash(f"Conversion type {form.name.data!r} saved.", "success")
                return redirect(url_for("conversions.types"))
        else:
            status = 400
    return render_template(
        "conversions/types.html",
        form=form,
        kinds=event_types.list_types(db.session, membership.workspace_id),
        delete_form=DeleteForm(),
        can_edit=_can_edit(),
    ), status


@conversions_bp.route("/conversions/types/<int:type_id>", methods=["GET", "POST"])
@role_required(Role.BUYER)
def edit_type(type_id: int) -> ResponseReturnValue:
    """Change a conversion type; its conversions follow."""
    kind = event_types.get_type(db.session, current_membership().workspace_id, type_id)
    if kind is None:
        abort(404)
    form = ConversionTypeForm(obj=None if request.method == "POST" else kind)
    if request.method == "GET":
        form.et_values.data = ", ".join(kind.et_values)
    status = 200
    if form.validate_on_submit():
        try:
            event_types.update_type(
                db.session,
                kind,
                form.name.data or "",
                event_types.clean_et_values(form.et_values.data or ""),
                bool(form.counts_as_conversion.data),
                bool(form.counts_in_revenue.data),
            )
        except event_types.ConversionTypeError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [_sentence(exc.message)]
            status = 400
        else:
            db.session.commit()
            flash("Conversion type saved; its conversions follow.", "success")
            return redirect(url_for("conversions.types"))
    elif form.is_submitted():
        status = 400
    return render_template("conversions/type_edit.html", form=form, kind=kind), status


@conversions_bp.post("/conversions/types/<int:type_id>/delete")
@role_required(Role.BUYER)
def delete_type(type_id: int) -> ResponseReturnValue:
    """Delete a conversion type; its conversions become untyped (and count)."""
    kind = event_types.get_type(db.session, current_membership().workspace_id, type_id)
    if kind is None:
        abort(404)
    if not DeleteForm().validate_on_submit():
        abort(400, description="The form expired; try again.")
    event_types.delete_type(db.session, kind)
    db.session.commit()
    flash("Conversion type deleted.", "success")
    return redirect(url_for("conversions.types"))


@conversions_bp.get("/conversions/forwards")
def forwards() -> ResponseReturnValue:
    """Postbacks sent to traffic sources: status, attempts, the last answer."""
    membership = current_membership()
    form = ForwardFilterForm(request.args)
    page = _page_number()
    rows, total = queries.list_forwards(
        db.session,
        membership.workspace_id,
        form.status.data or None,
        (page - 1) * PAGE_SIZE,
        PAGE_SIZE,
    )
    return render_template(
        "conversions/forwards.html",
        form=form,
        rows=rows,
        pages=_pages(total, page),
        retry_form=RetryForm(),
        can_edit=_can_edit(),
    )


@conversions_bp.post("/conversions/forwards/retry")
@role_required(Role.BUYER)
def retry_forward() -> ResponseReturnValue:
    """Send a failed forward again now."""
    form = RetryForm()
    message_id = parse_id(form.message_id.data)
    if (
        form.validate_on_submit()
        and message_id is not None
        and outbox.retry_now(db.session, current_membership().workspace_id, message_id, now_utc())
    ):
        db.session.commit()
        flash("It goes out again at the worker's next pass.", "success")
    else:
        flash("No such failed or waiting forward here.", "error")
    return redirect(url_for("conversions.forwards"))
