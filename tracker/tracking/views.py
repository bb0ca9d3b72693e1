"""Tracking routes: ``/c/<key>`` (a campaign visit), ``/click`` and ``/click/<n>`` (a lander's
click-through), and ``/go/<token>`` (the referrer-stripping hop of double meta refresh)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.urls import iri_to_uri

from tracker.auth.sessions import public
from tracker.config import Settings
from tracker.conversions.worker import add_worker_job
from tracker.extensions import db
from tracker.models.setup import RedirectMode
from tracker.tracking.clickid import CLICK_COOKIE, CLICK_COOKIE_MAX_AGE
from tracker.tracking.enrich import (
    ACCEPT_CH,
    CRITICAL_CH,
    NO_HINTS,
    ClientHints,
    normalize_ip,
    ua_parser,
)
from tracker.tracking.geoip import GeoResolver
from tracker.tracking.service import (
    AskClientHints,
    NotFound,
    Redirect,
    TrackingState,
    Unavailable,
    VisitRequest,
    track_click,
    track_visit,
)
from tracker.tracking.snapshot import SnapshotCache
from tracker.tracking.writer import replay_spools
from tracker.web import client_ip

tracking_bp = Blueprint("tracking", __name__)

EXTENSION = "tracking"
HINTS_RETRY_PARAM = "_ch"  # marks the one reload of a campaign URL that asked for client hints
HOP_MAX_AGE = 600  # seconds a double-meta hop link stays valid
NO_STORE = "no-store, no-cache, must-revalidate, max-age=0"


@tracking_bp.record_once
def _init_tracking(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    settings: Settings = app.config["SETTINGS"]
    spool_dir = Path(app.instance_path) / "spool"
    app.extensions[EXTENSION] = TrackingState(
        snapshots=SnapshotCache(account_zone=settings.zone),
        geo=GeoResolver.from_settings(settings),
        spool_dir=spool_dir,
        spool_max_mb=settings.spool_max_mb,
        # Off under the test client by default: a test's next request expects the visit stored.
        write_behind=bool(app.config.get("TRACKING_WRITE_BEHIND", not app.testing)),
    )
    ua_parser()  # built once per process, before the first visitor rather than during

    def replay(app: Flask) -> int:
        return replay_spools(db.engine, spool_dir)

    # The background worker stores what a dead process's spool file still holds.
    add_worker_job(app, "visit spool replay", replay, every=30.0)


def tracking_state(app: Flask | None = None) -> TrackingState:
    """The process's tracking state (snapshot cache, GeoIP readers) of this app."""
    state: TrackingState = (app or current_app).extensions[EXTENSION]
    return state


def _hop_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="tracking.double-meta")


def _page(template: str, status: int = 200, **context: object) -> Response:
    # Rendered without the app's context processors: visitors need no session or layout.
    body = current_app.jinja_env.get_template(template).render(**context)
    return Response(body, status=status, mimetype="text/html")


def _not_found(message: str) -> Response:
    response = _page("tracking/not_found.html", 404, message=message)
    response.headers["Cache-Control"] = NO_STORE
    return response


def _unavailable() -> Response:
    # The store is down and this answer needs it: come back in a moment (never a 500).
    response = _page(
        "tracking/not_found.html", 503, title="Busy", message="Please try again in a moment."
    )
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Retry-After"] = "5"
    return response


def _redirect(outcome: Redirect) -> Response:
    url = outcome.url if outcome.url.isascii() else iri_to_uri(outcome.url)
    if outcome.mode is RedirectMode.META:
        response = _page("tracking/meta.html", url=url, strip_referrer=False)
    elif outcome.mode is RedirectMode.DOUBLE_META:
        hop = "/go/" + _hop_serializer().dumps(url)
        response = _page("tracking/meta.html", url=hop, strip_referrer=True)
        response.headers["Referrer-Policy"] = "no-referrer"
    else:
        response = Response(status=302, headers={"Location": url})
    response.headers["Cache-Control"] = NO_STORE
    return response


def _set_click_cookie(response: Response, click_id: str) -> None:
    # Written by hand: a click ID is URL-safe, and werkzeug's generic cookie writer is a
    # measurable share of a redirect's time. Max-Age alone: every current browser honours it.
    settings: Settings = current_app.config["SETTINGS"]
    secure = "; Secure" if settings.secure_cookies or request.is_secure else ""
    response.headers.add(
        "Set-Cookie",
        f"{CLICK_COOKIE}={click_id}; Max-Age={CLICK_COOKIE_MAX_AGE}; Path=/; HttpOnly"
        f"{secure}; SameSite=Lax",
    )


def _client_hints(environ: dict[str, Any]) -> ClientHints:
    ua = environ.get("HTTP_SEC_CH_UA")
    if ua is None:
        return NO_HINTS
    return ClientHints(
        ua=ua,
        model=environ.get("HTTP_SEC_CH_UA_MODEL"),
        platform=environ.get("HTTP_SEC_CH_UA_PLATFORM"),
        platform_version=environ.get("HTTP_SEC_CH_UA_PLATFORM_VERSION"),
        full_version_list=environ.get("HTTP_SEC_CH_UA_FULL_VERSION_LIST"),
    )


def _latin1_to_text(value: str) -> str:
    # WSGI gives headers as latin-1 decoded bytes; most senders meant UTF-8.
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _now() -> datetime:
    return datetime.now(UTC)


@tracking_bp.get("/c/<key>")
@public
def visit(key: str) -> Response:
    """Record a visit of a campaign URL and send the visitor on to its lander or offer."""
    if request.method == "HEAD":  # link checkers and previews are not visitors
        return Response(status=200, headers={"Cache-Control": NO_STORE})
    if len(key) > 32 or not key.isprintable():
        return _not_found("This link is not known here.")
    environ = request.environ  # read directly: the hot path reads many headers
    args = request.args
    visit_request = VisitRequest(
        key=key,
        params=args,
        ip=normalize_ip(client_ip()),
        user_agent=_latin1_to_text(environ.get("HTTP_USER_AGENT", "")),
        accept_language=environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        referrer=_latin1_to_text(environ.get("HTTP_REFERER", "")),
        hints=_client_hints(environ),
        hints_retry=HINTS_RETRY_PARAM in args,
    )
    outcome = track_visit(tracking_state(), db.engine, visit_request, _now())
    if isinstance(outcome, Unavailable):
        return _unavailable()
    if isinstance(outcome, AskClientHints):
        response = _ask_client_hints()
    elif isinstance(outcome, NotFound):
        if outcome.click_id is None:
            return _not_found("This link is not known here.")
        response = _not_found("There is nothing to show here right now.")
        _set_click_cookie(response, outcome.click_id)
    else:
        response = _redirect(outcome)
        _set_click_cookie(response, outcome.click_id)
    response.headers["Accept-CH"] = ACCEPT_CH
    return response


def _ask_client_hints() -> Response:
    # Chromium retries at once with the hints; any browser that does not reloads this page once.
    query = request.query_string.decode("latin-1")
    again = f"{request.path}?{query + '&' if query else ''}{HINTS_RETRY_PARAM}=1"
    response = _page("tracking/meta.html", url=again, strip_referrer=False)
    response.headers["Critical-CH"] = CRITICAL_CH
    response.headers["Vary"] = CRITICAL_CH
    response.headers["Cache-Control"] = NO_STORE
    return response


@tracking_bp.get("/click", defaults={"slot": None})
@tracking_bp.get("/click/<int:slot>")
@public
def click(slot: int | None) -> Response:
    """Record a lander's click-through on its visit and send the visitor to the offer."""
    if request.method == "HEAD":
        return Response(status=200, headers={"Cache-Control": NO_STORE})
    outcome = track_click(
        tracking_state(),
        db.engine,
        (request.args.get("cid"), request.cookies.get(CLICK_COOKIE)),
        slot,
        _now(),
        campaign_key=_campaign_hint(),
    )
    if isinstance(outcome, Unavailable):
        return _unavailable()
    if isinstance(outcome, NotFound):
        return _not_found("This visit is not known here, so there is no offer to go to.")
    return _redirect(outcome)


def _campaign_hint() -> str | None:
    key = request.args.get("campaign")
    return key if key and len(key) <= 32 and key.isprintable() else None


@tracking_bp.get("/go/<token>")
@public
def double_meta_hop(token: str) -> Response:
    """The second page of a double meta refresh: no referrer leaves it."""
    try:
        url = _hop_serializer().loads(token, max_age=HOP_MAX_AGE)
    except BadSignature:
        return _not_found("This link has expired or is not one of ours.")
    if not isinstance(url, str):
        return _not_found("This link has expired or is not one of ours.")
    response = _page("tracking/meta.html", url=url, strip_referrer=True)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = NO_STORE
    return response
