"""Tracking routes: ``/c/<key>`` (a campaign visit), ``/click`` and ``/click/<n>`` (a lander's
click-through), and ``/go/<token>`` (the referrer-stripping hop of double meta refresh).

They are served by the lean path (tracker/edge.py), ahead of Flask's request machinery: the
handlers read the WSGI environ and answer an ``Answer``. The Flask routes stay registered and
call the same handlers (``url_for``, the API description, and any request the lean path leaves
to Flask, such as a malformed path)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.http import parse_cookie
from werkzeug.urls import iri_to_uri

from tracker.auth.sessions import public
from tracker.config import Settings
from tracker.conversions.worker import add_worker_job
from tracker.edge import HTML, NO_STORE, Answer, lean_edge, path_parameter, query_values
from tracker.extensions import db
from tracker.models.setup import RedirectMode
from tracker.numbers import MAX_ID
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
from tracker.web import client_ip_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

tracking_bp = Blueprint("tracking", __name__)

EXTENSION = "tracking"
ENDPOINTS = "tracking.endpoints"
HINTS_RETRY_PARAM = "_ch"  # marks the one reload of a campaign URL that asked for client hints
HOP_MAX_AGE = 600  # seconds a double-meta hop link stays valid
UNKNOWN_LINK = "This link is not known here."
EXPIRED_HOP = "This link has expired or is not one of ours."


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

    # The background worker stores what a dead process's spool file still holds.
    add_worker_job(app, "visit spool replay", replay_dead_spools, every=30.0)

    endpoints = app.extensions[ENDPOINTS] = TrackingEndpoints(app)
    edge = lean_edge(app)
    edge.add("/c/", endpoints.visit_route, prefix=True)
    edge.add("/click", endpoints.click_route)
    edge.add("/click/", endpoints.click_slot_route, prefix=True)
    edge.add("/go/", endpoints.hop, prefix=True)


def replay_dead_spools(app: Flask) -> int:
    """Store what the spool files of dead processes still hold (inside an app context); how
    many lines were replayed."""
    return replay_spools(db.engine, tracking_state(app).spool_dir)


def tracking_state(app: Flask | None = None) -> TrackingState:
    """The process's tracking state (snapshot cache, GeoIP readers) of this app."""
    state: TrackingState = (app or current_app).extensions[EXTENSION]
    return state


def _endpoints() -> TrackingEndpoints:
    endpoints: TrackingEndpoints = current_app.extensions[ENDPOINTS]
    return endpoints


def _client_hints(environ: WSGIEnvironment) -> ClientHints:
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


def _campaign_hint(args: dict[str, str]) -> str | None:
    key = args.get("campaign")
    return key if key and len(key) <= 32 and key.isprintable() else None


_HEAD_ANSWER = (("Cache-Control", NO_STORE), ("Content-Type", HTML))


class TrackingEndpoints:
    """The tracking endpoints' handlers, bound to one app's store, settings and templates
    (read at start-up: the lean path has no application context)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.config = app.config
        self.state: TrackingState = app.extensions[EXTENSION]
        with app.app_context():
            self.engine = db.engine
        self.hops = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="tracking.double-meta")

    # --- the routes of the lean path: (environ, the path's parameter) ------------------------

    def visit_route(self, environ: WSGIEnvironment, key: str) -> Answer:
        """``/c/<key>``."""
        return self.visit(environ, key)

    def click_route(self, environ: WSGIEnvironment, _rest: str) -> Answer:
        """``/click``."""
        return self.click(environ, None)

    def click_slot_route(self, environ: WSGIEnvironment, slot: str) -> Answer | None:
        """``/click/<int:slot>``; anything but digits is Flask's to answer (its 404)."""
        if not (slot.isascii() and slot.isdigit()):
            return None
        number = int(slot)
        return self.click(environ, number if number <= MAX_ID else 0)

    # --- the handlers ------------------------------------------------------------------------

    def visit(self, environ: WSGIEnvironment, key: str) -> Answer:
        """Record a visit of a campaign URL and answer with its redirect."""
        if environ["REQUEST_METHOD"] == "HEAD":  # link checkers and previews are not visitors
            return Answer(200, list(_HEAD_ANSWER))
        if len(key) > 32 or not key.isprintable():
            return self._not_found(UNKNOWN_LINK)
        settings: Settings = self.config["SETTINGS"]
        args = query_values(environ)
        visit_request = VisitRequest(
            key=key,
            params=args,
            ip=normalize_ip(client_ip_of(environ, settings.trusted_proxies)),
            user_agent=_latin1_to_text(environ.get("HTTP_USER_AGENT", "")),
            accept_language=environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            referrer=_latin1_to_text(environ.get("HTTP_REFERER", "")),
            hints=_client_hints(environ),
            hints_retry=HINTS_RETRY_PARAM in args,
        )
        outcome = track_visit(self.state, self.engine, visit_request, _now())
        if isinstance(outcome, Unavailable):
            return self._unavailable()
        if isinstance(outcome, AskClientHints):
            answer = self._ask_client_hints(environ)
        elif isinstance(outcome, NotFound):
            if outcome.click_id is None:
                return self._not_found(UNKNOWN_LINK)
            answer = self._not_found("There is nothing to show here right now.")
            self._set_click_cookie(answer, environ, outcome.click_id)
        else:
            answer = self._redirect(outcome)
            self._set_click_cookie(answer, environ, outcome.click_id)
        answer.headers.append(("Accept-CH", ACCEPT_CH))
        return answer

    def click(self, environ: WSGIEnvironment, slot: int | None) -> Answer:
        """Record a lander's click-through on its visit and answer with the offer's redirect."""
        if environ["REQUEST_METHOD"] == "HEAD":
            return Answer(200, list(_HEAD_ANSWER))
        args = query_values(environ)
        cookie = parse_cookie(environ).get(CLICK_COOKIE) if "HTTP_COOKIE" in environ else None
        outcome = track_click(
            self.state,
            self.engine,
            (args.get("cid"), cookie),
            slot,
            _now(),
            campaign_key=_campaign_hint(args),
        )
        if isinstance(outcome, Unavailable):
            return self._unavailable()
        if isinstance(outcome, NotFound):
            return self._not_found("This visit is not known here, so there is no offer to go to.")
        return self._redirect(outcome)

    def hop(self, environ: WSGIEnvironment, token: str) -> Answer:
        """The second page of a double meta refresh: no referrer leaves it."""
        try:
            url = self.hops.loads(token, max_age=HOP_MAX_AGE)
        except BadSignature:
            return self._not_found(EXPIRED_HOP)
        if not isinstance(url, str):
            return self._not_found(EXPIRED_HOP)
        answer = self._page("tracking/meta.html", url=url, strip_referrer=True)
        answer.headers.append(("Referrer-Policy", "no-referrer"))
        answer.headers.append(("Cache-Control", NO_STORE))
        return answer

    # --- answers -----------------------------------------------------------------------------

    def _page(self, template: str, status: int = 200, **context: object) -> Answer:
        # Rendered without the app's context processors: visitors need no session or layout.
        body = self.app.jinja_env.get_template(template).render(**context)
        return Answer(status, [("Content-Type", HTML)], body.encode())

    def _not_found(self, message: str) -> Answer:
        answer = self._page("tracking/not_found.html", 404, message=message)
        answer.headers.append(("Cache-Control", NO_STORE))
        return answer

    def _unavailable(self) -> Answer:
        # The store is down and this answer needs it: come back in a moment (never a 500).
        answer = self._page(
            "tracking/not_found.html", 503, title="Busy", message="Please try again in a moment."
        )
        answer.headers.append(("Cache-Control", NO_STORE))
        answer.headers.append(("Retry-After", "5"))
        return answer

    def _redirect(self, outcome: Redirect) -> Answer:
        url = outcome.url if outcome.url.isascii() else iri_to_uri(outcome.url)
        if outcome.mode is RedirectMode.META:
            answer = self._page("tracking/meta.html", url=url, strip_referrer=False)
        elif outcome.mode is RedirectMode.DOUBLE_META:
            hop = "/go/" + self.hops.dumps(url)
            answer = self._page("tracking/meta.html", url=hop, strip_referrer=True)
            answer.headers.append(("Referrer-Policy", "no-referrer"))
        else:
            answer = Answer(302, [("Location", url), ("Content-Type", HTML)])
        answer.headers.append(("Cache-Control", NO_STORE))
        return answer

    def _set_click_cookie(self, answer: Answer, environ: WSGIEnvironment, click_id: str) -> None:
        # Written by hand: a click ID is URL-safe, and a generic cookie writer is a measurable
        # share of a redirect's time. Max-Age alone: every current browser honours it.
        settings: Settings = self.config["SETTINGS"]
        secure = settings.secure_cookies or environ.get("wsgi.url_scheme") in ("https", "wss")
        answer.headers.append(
            (
                "Set-Cookie",
                f"{CLICK_COOKIE}={click_id}; Max-Age={CLICK_COOKIE_MAX_AGE}; Path=/; HttpOnly"
                f"{'; Secure' if secure else ''}; SameSite=Lax",
            )
        )

    def _ask_client_hints(self, environ: WSGIEnvironment) -> Answer:
        # Chromium retries at once with the hints; any browser that does not reloads this once.
        query = environ.get("QUERY_STRING", "")
        path = "/" + path_parameter(environ.get("PATH_INFO", "")).lstrip("/")
        again = f"{path}?{query + '&' if query else ''}{HINTS_RETRY_PARAM}=1"
        answer = self._page("tracking/meta.html", url=again, strip_referrer=False)
        answer.headers.append(("Critical-CH", CRITICAL_CH))
        answer.headers.append(("Vary", CRITICAL_CH))
        answer.headers.append(("Cache-Control", NO_STORE))
        return answer


# --- the Flask routes: the same handlers, for url_for and what the lean path leaves to Flask ---


@tracking_bp.get("/c/<key>")
@public
def visit(key: str) -> Response:
    """Record a visit of a campaign URL and send the visitor on to its lander or offer."""
    return _endpoints().visit(request.environ, key).to_flask()


@tracking_bp.get("/click", defaults={"slot": None})
@tracking_bp.get("/click/<int:slot>")
@public
def click(slot: int | None) -> Response:
    """Record a lander's click-through on its visit and send the visitor to the offer."""
    return _endpoints().click(request.environ, slot).to_flask()


@tracking_bp.get("/go/<token>")
@public
def double_meta_hop(token: str) -> Response:
    """The second page of a double meta refresh: no referrer leaves it."""
    return _endpoints().hop(request.environ, token).to_flask()
