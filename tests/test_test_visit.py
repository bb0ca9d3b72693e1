"""Test a visit: the API and the page answer the rule, path, lander, offer and final URL a
hypothetical visitor would get, explain every rule's conditions, and record nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.test_auth import csrf_token
from tests.visitors import ALL_GEOIP, ANDROID_REDUCED, IPHONE, LONDON, MILTON
from tracker.auth.services import get_or_create_workspace
from tracker.models import Campaign, Lander, Offer, Role, TrafficSource, Visit, Workspace
from tracker.setup import services


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**ALL_GEOIP, "timezone": "Europe/Paris"}


def cond(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"field": field, "op": op, "values": list(values)}


@pytest.fixture
def campaign(
    db: Session,
    workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
    make_traffic_source: Callable[..., TrafficSource],
    make_campaign: Callable[..., Campaign],
) -> Campaign:
    """A flow: iOS in GB to a lander; Android 14+ to offer B; office hours in Paris split 70/30
    between offers B and C; everything else to offer C."""
    lander = make_lander(name="iOS lander", url="https://lp.example/?cid={clickid}&c={country}")
    offer_a = make_offer(name="Offer A", url="https://a.example/?cid={clickid}")
    offer_b = make_offer(name="Offer B", url="https://b.example/?z={var1}&os={osversion}")
    offer_c = make_offer(
        name="Offer C", url="https://c.example/?cid={clickid}&ts={trafficsource.name}"
    )
    source = make_traffic_source(
        name="Pops", variables=[{"name": "zone", "param": "zoneid", "placeholder": "{zone}"}]
    )
    flow = services.create_flow(
        db,
        workspace.id,
        {
            "name": "Routing",
            "rules": [
                {
                    "name": "iOS in GB",
                    "conditions": [cond("country", "in", "GB"), cond("os", "in", "iOS")],
                    "paths": [
                        {
                            "name": "lp",
                            "landers": [{"id": lander.id}],
                            "offers": [{"id": offer_a.id}],
                        }
                    ],
                },
                {
                    "name": "Android 14+",
                    "conditions": [
                        cond("os", "in", "Android"),
                        cond("os_version", "between", "14", "99"),
                    ],
                    "paths": [{"offers": [{"id": offer_b.id}]}],
                },
                {
                    "name": "Office hours",
                    "conditions": [
                        cond("time_of_day", "between", "09:00", "17:00"),
                        cond("unique", "in", "true"),
                    ],
                    "paths": [
                        {"name": "b", "weight": 70, "offers": [{"id": offer_b.id}]},
                        {"name": "c", "weight": 30, "offers": [{"id": offer_c.id}]},
                    ],
                },
            ],
            "default_paths": [{"offers": [{"id": offer_c.id}]}],
        },
    )
    db.commit()
    return make_campaign(flow_id=flow.id, traffic_source_id=source.id)


def visit_count(db: Session) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(Visit)) or 0)


# --- API ------------------------------------------------------------------------------------------


def test_api_answers_rule_path_lander_and_url_and_records_nothing(
    api: Callable[..., Any], db: Session, campaign: Campaign
) -> None:
    answer = api().post(
        f"/api/v1/campaigns/{campaign.id}/test-visit",
        json={"ip": LONDON, "user_agent": IPHONE, "time": "2026-11-28T20:00:00+01:00"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["rule"] == "iOS in GB" and body["path"] == "lp"
    assert body["lander"]["name"] == "iOS lander" and body["offer"] is None
    assert body["flow"]["name"] == "Routing" and body["recorded"] is False
    assert body["url"] == f"https://lp.example/?cid={body['click_id']}&c=GB"
    assert body["redirect_mode"] == "302"
    assert body["visitor"]["country"] == "GB" and body["visitor"]["os"] == "iOS"
    assert body["visitor"]["city"] == "London"
    assert body["lander_shares"] == [
        {"label": "iOS lander", "id": body["lander"]["id"], "weight": 100, "share": 100.0}
    ]
    first = body["rules"][0]
    assert first["taken"] and first["matched"]
    assert [(c["field"], c["matched"], c["visitor_value"]) for c in first["conditions"]] == [
        ("country", True, "GB"),
        ("os", True, "iOS"),
    ]
    third = body["rules"][2]
    assert not third["taken"] and third["timezone"] == "Europe/Paris"
    assert third["conditions"][0]["visitor_value"] == "20:00 (Europe/Paris)"
    assert "matched too" in third["note"] or not third["matched"]
    assert visit_count(db) == 0


def test_api_default_paths_params_variables_and_client_hints(
    api: Callable[..., Any], db: Session, campaign: Campaign
) -> None:
    client = api()
    url = f"/api/v1/campaigns/{campaign.id}/test-visit"
    # The reduced Android user agent says "Android 10"; client hints tell the real version.
    hinted = client.post(
        url,
        json={
            "ip": MILTON,
            "user_agent": ANDROID_REDUCED,
            "params": {"zoneid": "4711"},
            "client_hints": {"platform": '"Android"', "platform_version": '"14.0.0"'},
            "time": "2026-11-28T20:00:00",
        },
    ).get_json()
    assert hinted["rule"] == "Android 14+" and hinted["offer"]["name"] == "Offer B"
    assert hinted["url"] == "https://b.example/?z=4711&os=14"
    assert hinted["visitor"]["var1"] == "4711"

    plain = client.post(
        url,
        json={
            "ip": MILTON,
            "user_agent": ANDROID_REDUCED,
            "variables": {"var1": "99"},
            "time": "2026-11-28T20:00:00",
        },
    ).get_json()
    assert plain["rule"] is None and plain["offer"]["name"] == "Offer C"
    assert plain["summary"].startswith("No rule matched")
    assert plain["url"] == f"https://c.example/?cid={plain['click_id']}&ts=Pops"
    assert plain["visitor"]["var1"] == "99"
    assert [c["matched"] for c in plain["rules"][1]["conditions"]] == [True, False]
    assert visit_count(db) == 0


def test_api_time_in_the_account_zone_unique_and_geo_override(
    api: Callable[..., Any], db: Session, campaign: Campaign, client: FlaskClient
) -> None:
    url = f"/api/v1/campaigns/{campaign.id}/test-visit"
    caller = api()
    windows = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
    )
    # 09:30 in Paris (no offset: the account's zone), a first visit: office hours.
    office = caller.post(
        url, json={"ip": MILTON, "user_agent": windows, "time": "2026-03-30 09:30"}
    ).get_json()
    assert office["rule"] == "Office hours" and office["path"] in ("b", "c")
    assert office["time"].startswith("2026-03-30T07:30:00")  # CEST: UTC+2
    assert [(s["label"], s["share"]) for s in office["path_shares"]] == [("b", 70.0), ("c", 30.0)]
    # The same visitor as a repeat: no longer unique.
    repeat = caller.post(
        url,
        json={"ip": MILTON, "user_agent": windows, "time": "2026-03-30 09:30", "unique": False},
    ).get_json()
    assert repeat["rule"] is None and repeat["visitor"]["is_unique"] is False
    # A stored visit of this IP and user agent makes it a repeat too.
    client.get(
        f"/c/{campaign.key}", headers={"User-Agent": windows}, environ_base={"REMOTE_ADDR": MILTON}
    )
    assert visit_count(db) == 1
    seen = caller.post(url, json={"ip": MILTON, "user_agent": windows}).get_json()
    assert seen["visitor"]["is_unique"] is False
    # A country the databases would not say: the override wins.
    moved = caller.post(
        url, json={"ip": MILTON, "user_agent": IPHONE, "geo": {"country": "gb"}}
    ).get_json()
    assert moved["rule"] == "iOS in GB" and moved["visitor"]["country"] == "GB"
    assert visit_count(db) == 1


def test_api_refuses_bad_input_and_others_campaigns(
    api: Callable[..., Any],
    db: Session,
    campaign: Campaign,
    client: FlaskClient,
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Offer],
) -> None:
    caller = api(Role.VIEWER)  # reading is enough
    url = f"/api/v1/campaigns/{campaign.id}/test-visit"
    bad = caller.post(
        url,
        json={
            "ip": "300.1.2.3",
            "time": "yesterday",
            "variables": {"var11": "x"},
            "geo": {"country": "France"},
            "colour": "red",
        },
    )
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert set(fields) == {"ip", "time", "variables", "geo.country", "colour"}
    assert "300.1.2.3" in fields["ip"]
    assert caller.post(url, data="ip=1").status_code == 400
    assert caller.post("/api/v1/campaigns/999999/test-visit", json={}).status_code == 404
    assert client.post(url, json={}).status_code == 401

    theirs = get_or_create_workspace(db, "Other team")
    db.commit()
    outsider = api(email="outsider@example.com", workspace="Other team")
    assert outsider.post(url, json={}).status_code == 404
    assert theirs.id != campaign.workspace_id


def test_api_campaign_with_its_own_path(
    api: Callable[..., Any], make_campaign: Callable[..., Campaign]
) -> None:
    own = make_campaign()
    body = api().post(f"/api/v1/campaigns/{own.id}/test-visit", json={}).get_json()
    assert body["flow"] is None and body["rule"] is None and body["rules"] == []
    assert body["offer"]["name"] == "Offer A"
    assert body["summary"].startswith("The campaign's own path")
    assert body["url"] == f"https://offer.example/?click={body['click_id']}"


def test_api_cost_and_external_id_come_from_the_sources_params(
    api: Callable[..., Any],
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    offer = make_offer(url="https://o.example/?cost={cost}&ext={externalid}&c={campaign.name}")
    source = make_traffic_source(external_id_param="visitor_id", cost_param="cost")
    own = make_campaign(
        name="Auto cost",
        cost_model="auto",
        traffic_source_id=source.id,
        path={"offers": [{"id": offer.id, "weight": 100}]},
    )
    body = (
        api()
        .post(
            f"/api/v1/campaigns/{own.id}/test-visit",
            json={"params": {"cost": "0,0035", "visitor_id": "abc-1"}},
        )
        .get_json()
    )
    assert body["url"] == "https://o.example/?cost=0.0035&ext=abc-1&c=Auto%20cost"
    assert body["visitor"]["cost"] == "0.003500" and body["visitor"]["external_id"] == "abc-1"


def test_openapi_documents_the_test_visit(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/campaigns/{campaign_id}/test-visit"]["post"]
    assert "requestBody" in operation


# --- the page -------------------------------------------------------------------------------------


def test_page_form_and_result(
    client: FlaskClient, login: Callable[..., Any], db: Session, campaign: Campaign
) -> None:
    login(Role.VIEWER)
    url = f"/campaigns/{campaign.id}/test-visit"
    form = client.get(url, headers={"User-Agent": IPHONE})
    assert form.status_code == 200
    assert "Test a visit" in form.text and IPHONE in unescape(form.text)  # your browser to start
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "ip": LONDON,
            "user_agent": IPHONE,
            "time": "2026-11-28 20:00",
            "params": "?zoneid=12",
            "unique": "",
        },
    )
    assert answer.status_code == 200, answer.text
    page = unescape(answer.text)
    assert "Rule 'iOS in GB' matched: path 'lp' sends this visitor to lander 'iOS lander'." in page
    final = re.search(r'id="result-url" type="text" value="([^"]+)"', page)
    assert final and final.group(1).startswith("https://lp.example/?cid=")
    assert final.group(1).endswith("&c=GB")
    assert "20:00 (Europe/Paris)" in page  # what the office-hours rule saw
    # The source's own name for its variable, not var1.
    assert re.search(r"<tr><th>zone</th><td class=\"mono\">12</td></tr>", answer.text)
    assert visit_count(db) == 0


def test_page_hints_override_and_errors(
    client: FlaskClient, login: Callable[..., Any], db: Session, campaign: Campaign
) -> None:
    login()
    url = f"/campaigns/{campaign.id}/test-visit"
    hinted = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "ip": MILTON,
            "user_agent": ANDROID_REDUCED,
            "time": "2026-11-28 20:00",
            "ch_platform": "Android",
            "ch_platform_version": "14.0.0",
        },
    )
    assert "Rule 'Android 14+' matched" in unescape(hinted.text)
    moved = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "ip": MILTON,
            "user_agent": IPHONE,
            "country": "gb",
            "unique": "no",
        },
    )
    assert "Rule 'iOS in GB' matched" in unescape(moved.text)
    bad = client.post(
        url,
        data={"csrf_token": csrf_token(client, url), "ip": "not-an-ip", "time": "soon"},
    )
    assert bad.status_code == 422
    errors = re.findall(r'<p class="field-error" id="([a-z_]+)-error">', bad.text)
    assert set(errors) == {"ip", "time"}
    assert "Final URL" not in bad.text


def test_page_needs_a_login_and_the_campaigns_workspace(
    client: FlaskClient,
    login: Callable[..., Any],
    db: Session,
    campaign: Campaign,
) -> None:
    url = f"/campaigns/{campaign.id}/test-visit"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    login(email="outsider@example.com", workspace="Other team")
    assert client.get(url).status_code == 404
    assert client.get("/campaigns/999999/test-visit").status_code == 404
