"""Walks over every route for what the route-access walk does not check: one workspace's objects
never reach another workspace's users (pages, API, reports, CSV), every form refuses a POST
without its CSRF token, cookies are Secure under TRACKER_SECURE_COOKIES, every CSV cell a
spreadsheet would run is neutralised, and text visitors and networks send is escaped on every
page that shows it. A new route is walked without being listed here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from tests.conftest import ApiClient
from tests.test_route_access import PUBLIC, _methods, _send, all_rules, rule_for
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    Flow,
    Lander,
    Offer,
    Role,
    TrafficSource,
    User,
)
from tracker.models.conversions import ConversionType
from tracker.models.events import CostUpdate

SECRET = "SecretOfA"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
FORMULAS = ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "\r=1"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@dataclass
class Objects:
    """One workspace's objects, by the URL parameter names routes use for them."""

    source: int
    network: int
    offer: int
    lander: int
    flow: int
    campaign: int
    conversion_type: int
    cost_update: int
    click_id: str


@pytest.fixture
def workspace_a(
    client: FlaskClient,
    db: Session,
    api: Callable[..., ApiClient],
    make_traffic_source: Callable[..., TrafficSource],
    make_network: Callable[..., AffiliateNetwork],
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
    make_campaign: Callable[..., Campaign],
) -> Objects:
    """Every kind of object of the default workspace, each named with ``SECRET``, with a visit
    (through /c), a conversion (through /postback), a postback log row and a cost update."""
    from tracker.auth.services import default_workspace

    label = SECRET
    workspace_id = default_workspace(db).id
    source = make_traffic_source(name=f"{label} source")
    network = make_network(name=f"{label} network")
    offer = make_offer(name=f"{label} offer", affiliate_network_id=network.id)
    lander = make_lander(name=f"{label} lander")
    path = {"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]}
    flow = Flow(workspace_id=workspace_id, name=f"{label} flow", rules=[], default_paths=[path])
    conversion_type = ConversionType(workspace_id=workspace_id, name=f"{label} deposit")
    db.add_all([flow, conversion_type])
    db.commit()
    campaign = make_campaign(name=f"{label} campaign", traffic_source_id=source.id, path=path)
    landed = client.get(
        f"/c/{campaign.key}?zoneid={label}-zone&visitor_id={label}-ext",
        headers={"User-Agent": f"{label}-agent", "Referer": f"https://{label.lower()}.example/"},
    )
    assert landed.status_code == 302
    click_id = client.get_cookie("cid")
    assert click_id is not None
    postback = client.get(f"/postback?cid={click_id.value}&payout=5&param1={label}-param")
    assert postback.status_code == 200, postback.text
    cost = api(Role.BUYER, email=f"{label.lower()}-costs@example.com").post(
        "/api/v1/costs",
        json={"campaign_id": campaign.id, "cost": "1.5", "from": today(), "to": today()},
    )
    assert cost.status_code == 201, cost.text
    return Objects(
        source=source.id,
        network=network.id,
        offer=offer.id,
        lander=lander.id,
        flow=flow.id,
        campaign=campaign.id,
        conversion_type=conversion_type.id,
        cost_update=cost.get_json()["id"],
        click_id=click_id.value,
    )


# The id each path parameter names, chosen by the route's first path segment.
_KINDS = {
    "traffic-sources": "source",
    "affiliate-networks": "network",
    "offers": "offer",
    "landers": "lander",
    "flows": "flow",
    "campaigns": "campaign",
    "types": "conversion_type",
    "costs": "cost_update",
}


def url_for_objects(rule: Rule, objects: Objects) -> str:
    """The rule's URL with every id parameter naming the object of ``objects`` it is about."""
    segments = [s for s in rule.rule.split("/") if s and not s.startswith("<")]
    kind = next((_KINDS[s] for s in reversed(segments) if s in _KINDS), "campaign")

    def fill(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if converter == "path":
            return "app.css"
        if name == "campaign_id":
            return str(objects.campaign)
        if name == "slot":
            return "1"
        if converter == "int":
            return str(getattr(objects, kind))
        return "x"

    return re.sub(r"<([^>]+)>", fill, rule.rule)


def _reaching_queries(objects: Objects) -> list[str]:
    """Query strings that ask lists and reports outright for the other workspace's objects."""
    day = today()
    return [
        "",
        f"?group_by=campaign,var1,referrer_domain&from={day}&to={day}&include_bots=1",
        f"?group_by=var1&from={day}&to={day}&campaign_id={objects.campaign}&include_bots=1",
        f"?campaign={objects.campaign}&campaign_id={objects.campaign}&date_from={day}"
        f"&date_to={day}&click_id={objects.click_id}&q={objects.click_id}",
    ]


def _walk_reads(client: FlaskClient | ApiClient, app: Flask, objects: Objects) -> list[Any]:
    seen = []
    api = isinstance(client, ApiClient)
    for rule in all_rules(app):
        if rule_for(rule.endpoint) == PUBLIC or "GET" not in _methods(rule):
            continue
        if rule.endpoint.startswith("api.") != api:
            continue  # pages with the session, the API with the token
        url = url_for_objects(rule, objects)
        for query in _reaching_queries(objects):
            response = client.get(url + query)
            seen.append((url + query, response.status_code))
            if "<int:" in rule.rule:
                assert response.status_code in (403, 404), (url, response.status_code)
            assert response.status_code < 500, (url, response.status_code)
            assert SECRET not in response.get_data(as_text=True), url + query
    return seen


@pytest.fixture
def theirs(
    client: FlaskClient,
    api: Callable[..., ApiClient],
    login: Callable[..., User],
    workspace_a: Objects,
) -> ApiClient:
    """An admin of another workspace: the test client logged in as them, and their token."""
    token_client = api(Role.ADMIN, email="api-b@example.com", workspace="Client B")
    login(Role.ADMIN, email="admin-b@example.com", workspace="Client B")
    return token_client


def test_another_workspace_sees_nothing_of_ours_on_any_page_api_report_or_csv(
    app: Flask,
    client: FlaskClient,
    api: Callable[..., ApiClient],
    workspace_a: Objects,
    theirs: ApiClient,
) -> None:
    pages = _walk_reads(client, app, workspace_a)
    calls = _walk_reads(theirs, app, workspace_a)
    answered = {url.split("?")[0] for url, status in pages + calls if status == 200}
    for expected in ("/reports", "/reports.csv", "/api/v1/report", "/api/v1/report.csv"):
        assert expected in answered, expected  # asked in a form they answer (with nothing)
    # The same asks by our own workspace do find our objects: the walk can see a leak.
    ours = api(Role.VIEWER, email="api-a@example.com")
    report = _reaching_queries(workspace_a)[1]
    for url in (
        f"/api/v1/campaigns/{workspace_a.campaign}",
        f"/api/v1/report.csv{report}",
        f"/api/v1/conversions?campaign_id={workspace_a.campaign}",
    ):
        answer = ours.get(url)
        assert answer.status_code == 200 and SECRET in answer.get_data(as_text=True), url


def test_another_workspace_cannot_change_our_objects(
    app: Flask, client: FlaskClient, db: Session, workspace_a: Objects, theirs: ApiClient
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # ownership is under test here, not CSRF
    for rule in all_rules(app):
        if rule_for(rule.endpoint) == PUBLIC or "<int:" not in rule.rule:
            continue
        for method in _methods(rule):
            if method == "GET":
                continue
            url = url_for_objects(rule, workspace_a)
            sender: FlaskClient | ApiClient = theirs if url.startswith("/api/") else client
            response = _send(sender, method, url)
            # A page's form may answer with a redirect and a flashed refusal: what counts is
            # that nothing of ours changed (below).
            assert response.status_code in (302, 400, 403, 404), (method, url)
    db.expire_all()
    names = {
        model: db.scalar(select(model.name).where(model.id == ident))
        for model, ident in (
            (TrafficSource, workspace_a.source),
            (AffiliateNetwork, workspace_a.network),
            (Offer, workspace_a.offer),
            (Lander, workspace_a.lander),
            (Flow, workspace_a.flow),
            (Campaign, workspace_a.campaign),
        )
    }
    assert all(name and name.startswith(SECRET) for name in names.values()), names
    for model, ident in (
        (TrafficSource, workspace_a.source),
        (AffiliateNetwork, workspace_a.network),
        (Offer, workspace_a.offer),
        (Lander, workspace_a.lander),
        (Flow, workspace_a.flow),
        (Campaign, workspace_a.campaign),
    ):
        assert db.scalar(select(model.archived_at).where(model.id == ident)) is None, model
    assert db.get(ConversionType, workspace_a.conversion_type) is not None
    update = db.get(CostUpdate, workspace_a.cost_update)
    assert update is not None and update.undone_at is None


def test_every_form_refuses_a_post_without_its_csrf_token(
    app: Flask, client: FlaskClient, login: Callable[..., User], make_campaign: Callable[..., Any]
) -> None:
    login(Role.ADMIN)
    campaign = make_campaign()
    ids = Objects(*(campaign.id,) * 8, click_id="x")  # type: ignore[arg-type]
    posted = []
    for rule in all_rules(app):
        if rule.endpoint.startswith("api.") or rule_for(rule.endpoint) == PUBLIC:
            continue  # the API takes bearer tokens, never the session cookie (below)
        for method in _methods(rule):
            if method == "GET":
                continue
            url = url_for_objects(rule, ids)
            response = _send(client, method, url)
            assert response.status_code == 400, (method, url, response.status_code)
            posted.append(url)
    assert len(posted) > 30  # the walk reached the forms
    refused = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert refused.status_code == 400
    # The session cookie alone does not open the API: a forged cross-site call gets 401.
    forged = client.post("/api/v1/campaigns", json={"name": "forged"})
    assert forged.status_code == 401


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """TRACKER_SECURE_COOKIES for the test named after it; the defaults elsewhere."""
    secure = request.function.__name__.endswith("with_tracker_secure_cookies")
    return {"secure_cookies": True} if secure else {}


def test_every_cookie_is_secure_with_tracker_secure_cookies(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., User],
    make_campaign: Callable[..., Campaign],
) -> None:
    from tests.test_auth import TEST_PASSWORD, csrf_token

    assert app.config["SETTINGS"].secure_cookies
    campaign = make_campaign()
    make_user("ana@example.com")
    set_cookies = []
    login_page = client.get("/login")
    set_cookies += login_page.headers.getlist("Set-Cookie")
    logged_in = client.post(
        "/login",
        data={
            "email": "ana@example.com",
            "password": TEST_PASSWORD,
            "remember": "y",
            "csrf_token": csrf_token(client),
        },
    )
    assert logged_in.status_code == 302
    set_cookies += logged_in.headers.getlist("Set-Cookie")
    set_cookies += client.get(f"/c/{campaign.key}").headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0] for c in set_cookies}
    assert {"session", "cid"} <= names, names
    for cookie in set_cookies:
        flags = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "secure" in flags and "httponly" in flags, cookie


def test_without_the_setting_cookies_work_over_plain_http(
    client: FlaskClient, make_campaign: Callable[..., Campaign]
) -> None:
    cookie = client.get(f"/c/{make_campaign().key}").headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_every_csv_cell_a_spreadsheet_would_run_is_neutralised(
    client: FlaskClient,
    db: Session,
    api: Callable[..., ApiClient],
    login: Callable[..., User],
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    source = make_traffic_source(name='=HYPERLINK("http://evil.example")')
    campaign = make_campaign(name="@campaign", traffic_source_id=source.id)
    for formula in FORMULAS:
        landed = client.get(f"/c/{campaign.key}", query_string={"zoneid": formula})
        assert landed.status_code == 302
    reader = api(Role.VIEWER)
    login(Role.VIEWER)
    days = f"from={today()}&to={today()}"
    exports = {  # the page exports its first level; the API every level asked for
        "page": client.get(f"/reports.csv?group_by=var1&{days}&totals=1"),
        "api": reader.get(f"/api/v1/report.csv?group_by=traffic_source,campaign,var1&{days}"),
    }
    for where, response in exports.items():
        assert response.status_code == 200 and response.mimetype == "text/csv", where
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
        cells = [cell for row in rows[1:] for cell in row]
        assert cells, where
        for cell in cells:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (where, cell)
            assert not cell.startswith("-") or _is_number(cell), (where, cell)
        var1 = {row[rows[0].index("var1")] for row in rows[1:]}
        assert {"'" + f for f in FORMULAS} <= var1, (where, var1)
    api_rows = list(csv.DictReader(io.StringIO(exports["api"].get_data(as_text=True))))
    assert {(r["traffic_source"], r["campaign"]) for r in api_rows} == {
        ('\'=HYPERLINK("http://evil.example")', "'@campaign")
    }


def _is_number(cell: str) -> bool:
    try:
        Decimal(cell)
    except ArithmeticError:
        return False
    return True


def test_text_from_visitors_and_networks_is_escaped_on_every_page(
    app: Flask,
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(name="Offer")
    campaign = make_campaign(
        path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]}
    )
    landed = client.get(
        f"/c/{campaign.key}",
        query_string={"zoneid": HOSTILE, "visitor_id": HOSTILE, "cost": HOSTILE},
        headers={"User-Agent": HOSTILE, "Referer": f"https://x.example/?q={HOSTILE}"},
    )
    assert landed.status_code == 302
    click_id = client.get_cookie("cid")
    assert click_id is not None
    accepted = {"cid": click_id.value, "payout": "1", "param1": HOSTILE, "txid": HOSTILE}
    assert client.get("/postback", query_string=accepted).status_code == 200
    # Refused, and logged as sent: a JSON body is kept as text in the postback log.
    refused = client.post("/postback", json={"cid": HOSTILE, "payout": HOSTILE})
    assert refused.status_code in (400, 404)
    login(Role.ADMIN)
    day = today()
    ids = Objects(*(campaign.id,) * 8, click_id=click_id.value)  # type: ignore[arg-type]
    extra = [
        f"/reports?from={day}&to={day}&group_by={dim}&include_bots=1"
        for dim in ("var1", "referrer_domain", "os", "browser", "brand", "model", "device_type")
    ]
    urls = [
        url_for_objects(rule, ids)
        for rule in all_rules(app)
        if not rule.endpoint.startswith("api.")
        and "GET" in _methods(rule)
        and rule_for(rule.endpoint) != PUBLIC
    ]
    shown: list[str] = []
    for url in [*urls, *extra]:
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url
        if "&lt;script&gt;alert(1)" in html:
            shown.append(url.split("?")[0])
    # The hostile text was on these pages, escaped.
    assert {"/conversions", "/postback-log", "/reports"} <= set(shown), (
        shown
    )  # the hostile text was on some pages, escaped (conversions, log, reports)
