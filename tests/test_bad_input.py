"""Bad input never gives a 5xx: oversized and malformed query strings, form fields, bodies and
ids on every page, form, API endpoint and tracking endpoint get a clear 4xx (or, where the
contract says so, are recorded with the junk dropped: a visitor is never turned away).

Each case here was a 500 once (or would be one on PostgreSQL, which refuses NUL characters and
ids past BIGINT), or guards the tracking endpoints that must keep answering whatever they get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from tests.conftest import ApiClient
from tests.fault_tools import get, serving
from tests.test_route_access import _url, all_rules
from tracker.models import Campaign, Conversion, Offer, PostbackLog, Role, User, Visit

HUGE_ID = "99999999999999999999999"
TEN_MB = "x" * (10 * 1024 * 1024)

# Query strings (already URL-encoded) that every GET page, list and report must survive.
BAD_QUERIES = [
    # invalid UTF-8, NUL characters
    "q=%ff%fe%00%c3%28&from=%ff&to=%00&tz=%ff&group_by=%00&page=%ff&per_page=%00",
    # impossible dates and zones, unknown groupings, out-of-range pages
    "from=2026-13-45&to=0000-00-00&tz=Not/AZone&group_by=nope&page=-1&per_page=" + HUGE_ID,
    "from=9999-12-31&to=0001-01-01&tz=UTC&group_by=campaign,day&page=0&date_from=2026-02-30",
    # digits int() refuses ("²" is a digit to str.isdigit), and ids past BIGINT
    "page=%C2%B2&before=%C2%B2&campaign_id=%C2%B2&offer_id=%C2%B2&traffic_source_id=%C2%B2",
    f"page={HUGE_ID}&before={HUGE_ID}&campaign_id={HUGE_ID}&offer_id={HUGE_ID}&workspace_id="
    f"{HUGE_ID}&type_id={HUGE_ID}&limit={HUGE_ID}",
    "status=%ff&click_id=%00&result=%00&entity=%00&live=%ff&sort=%00&include_bots=%ff",
    "payout=1e400&cid=%00&txid=%00&status=%ff&currency=%00%00%00&et=" + "e" * 5000,
]

# Values put in every field of every form.
BAD_FIELD_VALUES = [
    "\x00",
    "1e400",
    "-5",
    HUGE_ID,
    "²",
    "2026-13-45",
    "x" * 100_000,
    '=HYPERLINK("http://evil.example")',
    "NaN",
    "Infinity",
]
FORM_FIELDS = [
    "name", "url", "payout", "cost_value", "cost_model", "amount", "cost", "date", "date_from",
    "date_to", "day_from", "day_to", "start", "end", "csv_text", "email", "role", "password",
    "et_values", "postback_secret", "allowed_ips", "status_map", "param_map", "currency",
    "traffic_source_id", "affiliate_network_id", "redirect_mode", "offer_count", "workspace_id",
    "user_id", "token_id", "message_id", "campaign_id", "timezone", "hours", "tz", "value",
    "next", "external_id_param", "cost_param", "weight", "rules-0-name", "rules-0-weight",
    "rules-0-conditions-0-field", "rules-0-conditions-0-op", "rules-0-conditions-0-values",
    "default_paths-0-weight", "default_paths-0-offers-0-id", "default_paths-0-offers-0-weight",
    "action", "keep_logged_in",
]  # fmt: skip


@pytest.fixture
def ids(make_campaign: Callable[..., Campaign]) -> dict[str, int]:
    campaign = make_campaign()
    return {
        "object_id": campaign.id,
        "campaign_id": campaign.id,
        "update_id": 1,
        "type_id": 1,
        "slot": 1,
    }


def page_rules(app: Flask, method: str) -> Iterator[Rule]:
    for rule in all_rules(app):
        if method in (rule.methods or ()) and rule.endpoint not in ("static", "auth.logout"):
            yield rule


def test_every_get_page_survives_bad_query_strings(
    app: Flask, client: FlaskClient, login: Callable[..., User], ids: dict[str, int]
) -> None:
    login(Role.ADMIN)
    failures = []
    for rule in page_rules(app, "GET"):
        url = _url(rule, ids)
        for query in BAD_QUERIES:
            response = client.get(f"{url}?{query}")
            if response.status_code >= 500:
                failures.append((url, query[:60], response.status_code))
    assert not failures


def test_ten_megabyte_query_strings_are_answered_without_5xx(
    client: FlaskClient, login: Callable[..., User], ids: dict[str, int]
) -> None:
    login(Role.ADMIN)
    for url in ("/reports", "/campaigns", "/conversions", "/postback-log", "/api/v1/report"):
        assert client.get(f"{url}?q={TEN_MB}").status_code < 500, url
    assert client.get(f"/postback?cid={TEN_MB}").status_code == 404  # not a click ID of ours
    assert client.get(f"/click?cid={TEN_MB}").status_code == 404


def test_every_form_survives_bad_field_values(
    app: Flask, client: FlaskClient, login: Callable[..., User], ids: dict[str, int]
) -> None:
    login(Role.ADMIN)
    app.config["WTF_CSRF_ENABLED"] = False  # the fields are under test here, not the token
    failures = []
    for rule in page_rules(app, "POST"):
        if rule.endpoint.startswith("api."):
            continue
        url = _url(rule, ids)
        for value in BAD_FIELD_VALUES:
            response = client.post(url, data=dict.fromkeys(FORM_FIELDS, value))
            if response.status_code >= 500:
                failures.append((url, value[:20], response.status_code))
    assert not failures


def test_invalid_utf8_form_bodies_are_not_a_5xx(
    app: Flask, client: FlaskClient, login: Callable[..., User], ids: dict[str, int]
) -> None:
    login(Role.ADMIN)
    app.config["WTF_CSRF_ENABLED"] = False
    body = b"&".join(f"{name}=".encode() + b"%ff%fe%c3%28\xff" for name in FORM_FIELDS)
    for rule in page_rules(app, "POST"):
        if rule.endpoint.startswith("api."):
            continue
        response = client.post(
            _url(rule, ids), data=body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code < 500, rule.rule


@pytest.mark.parametrize(
    "path",
    [
        f"/campaigns/{HUGE_ID}",
        f"/campaigns/{HUGE_ID}/edit",
        f"/offers/{HUGE_ID}/edit",
        f"/conversions/types/{HUGE_ID}",
        f"/api/v1/campaigns/{HUGE_ID}",
        f"/api/v1/offers/{HUGE_ID}",
        f"/campaigns/{HUGE_ID}/test-visit",
    ],
)
def test_ids_past_the_stores_integers_are_not_found(
    client: FlaskClient, login: Callable[..., User], api: Callable[..., ApiClient], path: str
) -> None:
    login(Role.ADMIN)
    caller: FlaskClient | ApiClient = api(Role.ADMIN) if path.startswith("/api/") else client
    assert caller.get(path).status_code == 404
    if path.startswith("/api/"):
        assert caller.patch(path, json={"name": "x"}).status_code == 404
        assert caller.delete(path).status_code == 404


def test_nul_characters_in_pages_and_the_api_are_refused_with_4xx(
    client: FlaskClient,
    login: Callable[..., User],
    api: Callable[..., ApiClient],
    db: Session,
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer()
    login(Role.ADMIN)
    assert client.get("/postback-log?click_id=%00").status_code == 400
    token_client = api(Role.BUYER)
    answer = token_client.patch(f"/api/v1/offers/{offer.id}", json={"name": "nul\u0000name"})
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]["fields"]) == {"name"}
    db.rollback()
    assert db.get(Offer, offer.id).name == "Offer A"  # type: ignore[union-attr]


API_BAD_QUERIES = [
    f"page={HUGE_ID}",
    "page=%C2%B2",
    f"per_page={HUGE_ID}",
    f"workspace_id={HUGE_ID}",
    "workspace_id=%C2%B2",
    f"campaign_id={HUGE_ID}&group_by=campaign",
    "from=2026-02-30&to=2026-13-01&group_by=campaign",
    "tz=%ff&group_by=campaign",
    "group_by=campaign&limit=%C2%B2",
    "click_id=%00&status=%00&et=%00&q=%00",
    "group_by=campaign&country=%00&var1=%00",
]


@pytest.mark.parametrize("query", API_BAD_QUERIES)
def test_api_lists_and_reports_answer_bad_queries_with_4xx_json(
    api: Callable[..., ApiClient], query: str
) -> None:
    client = api(Role.BUYER)
    for path in ("/api/v1/campaigns", "/api/v1/conversions", "/api/v1/report", "/api/v1/costs"):
        response = client.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query)
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b'"a string"',
        b'{"name": ' + b'"x"' * 3 + b"}",
        b'{"payout": 1e400, "name": "n", "url": "https://a.example/"}',
        b'{"payout": -5, "name": "n", "url": "https://a.example/"}',
        b'{"payout": "NaN", "name": "n", "url": "https://a.example/"}',
        b'{"name": "n", "url": "https://a.example/", "affiliate_network_id": 99999999999999999999}',
        b'{"name": ' + b'"' + b"x" * 1_000_000 + b'"' + b', "url": "https://a.example/"}',
    ],
)
def test_api_writes_answer_malformed_bodies_with_4xx_json(
    api: Callable[..., ApiClient], body: bytes
) -> None:
    client = api(Role.BUYER)
    response = client.post(
        "/api/v1/offers", data=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text[:200]
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}


# --- the tracking endpoints: never a 5xx, and a visitor is never turned away for junk ---------


def test_campaign_visits_with_junk_parameters_still_redirect_and_are_stored(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    junk = "%00%ff%fe" + "%c3%28" * 10
    response = client.get(
        f"/c/{campaign.key}?visitor_id={junk}&zoneid={junk}&cost=1e400&q={TEN_MB}",
        headers={"User-Agent": "Mozilla/5.0 \x00\xff", "Referer": "https://r.example/\x00"},
    )
    assert response.status_code == 302
    visit = db.scalars(select(Visit)).one()
    assert "\x00" not in visit.external_id and "\x00" not in visit.var1
    assert visit.cost == 0  # a cost that is not a number counts as none


@pytest.mark.parametrize(
    "path", ["/c/%00", "/c/" + "k" * 5000, "/c/%ff%fe", "/click/0", "/click?cid=%00%ff"]
)
def test_malformed_tracking_urls_are_not_found(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.fixture
def visit_id(client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]) -> str:
    campaign = make_campaign()
    client.get(f"/c/{campaign.key}")
    return str(db.scalars(select(Visit.click_id)).one())


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("payout=1e400", 400),  # a number the store cannot hold: refused, with why
        ("payout=-5", 400),  # negative: refused, the network is told why
        ("payout=999999999999999999", 400),
        ("payout=NaN", 200),
        ("payout=12%00.5", 200),
        ("payout=%ff%fe", 200),
        ("status=%00", 400),  # not a status of ours
        ("status=bo%00gus", 400),
        ("txid=" + "t" * 300, 400),
        ("currency=%00%ff", 200),
        ("et=" + "e" * 65, 400),
        ("param1=%00%ff" + "p" * 1000, 200),
    ],
)
def test_postbacks_with_bad_values_get_4xx_or_are_recorded_without_them(
    client: FlaskClient, db: Session, visit_id: str, query: str, status: int
) -> None:
    response = client.get(f"/postback?cid={visit_id}&{query}")
    assert response.status_code == status, response.text
    db.rollback()
    log = db.scalars(select(PostbackLog)).one()  # every postback lands in the log
    assert "\x00" not in (log.raw_query or "")
    conversion = db.scalars(select(Conversion)).one_or_none()
    assert (conversion is not None) == (status == 200)
    if conversion is not None:
        assert Decimal(0) <= conversion.payout <= Decimal("99999999.999999")
        assert "\x00" not in conversion.param1


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{not json"),
        ("application/json", b'["cid"]'),
        ("application/json", b"\xff\xfe"),
        ("application/x-www-form-urlencoded", b"cid=%ff%fe&payout=%00"),
        ("text/plain", b"\x00" * 1000),
    ],
)
def test_postback_bodies_that_are_not_parameters_get_4xx(
    client: FlaskClient, content_type: str, body: bytes
) -> None:
    response = client.post("/postback", data=body, content_type=content_type)
    assert 400 <= response.status_code < 500


def test_a_postback_body_past_64_kb_is_refused_with_413(client: FlaskClient) -> None:
    response = client.post(
        "/postback", data=b"cid=" + b"x" * 70_000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def test_the_pixel_always_answers_its_gif(client: FlaskClient) -> None:
    for query in ("cid=%00%ff", "payout=-5&cid=x", f"cid={TEN_MB}", "payout=1e400"):
        response = client.get(f"/conversion.gif?{query}")
        assert response.status_code == 200 and response.mimetype == "image/gif"


def test_the_real_server_refuses_oversized_request_lines_with_4xx(
    app: Flask,
    database_url: str,
    tmp_path: Path,
    make_campaign: Callable[..., Campaign],
) -> None:
    """gunicorn itself bounds request lines and headers: a 10 MB query never reaches a view."""
    campaign = make_campaign()
    with serving(database_url, tmp_path, background_worker=False) as server:
        answers: dict[str, Any] = {}
        for path in (f"/c/{campaign.key}", "/click", "/postback", "/conversion.gif", "/reports"):
            try:
                answers[path] = get(server.port, f"{path}?q={TEN_MB}", timeout=30).status
            except ConnectionError:  # the server may close before reading it all: fine too
                answers[path] = "closed"
        assert all(a == "closed" or 400 <= a < 500 for a in answers.values()), answers
        huge_header = get(server.port, f"/c/{campaign.key}", headers={"X-Junk": "h" * 20_000})
        assert 400 <= huge_header.status < 500
        assert get(server.port, f"/c/{campaign.key}").status == 302  # and it still serves
