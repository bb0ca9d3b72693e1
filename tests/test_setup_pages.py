"""Setup pages: list, create, edit, archive and restore sources, networks, offers, landers, flows
and campaigns; errors beside their fields; viewers read only; workspaces kept apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.test_auth import csrf_token
from tracker.auth.services import get_or_create_workspace
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    Lander,
    Offer,
    Role,
    TrafficSource,
    User,
    Workspace,
)
from tracker.models.setup import Flow
from tracker.setup import services

LISTS = {
    "traffic_source": "/traffic-sources",
    "affiliate_network": "/affiliate-networks",
    "offer": "/offers",
    "lander": "/landers",
    "flow": "/flows",
    "campaign": "/campaigns",
}


def near(html: str, element_id: str) -> str:
    """The markup of the field (table cell, small form) holding the element with this id:
    where its label, value and error messages are."""
    at = html.index(f'id="{element_id}"')
    start = max(html.rfind(tag, 0, at) for tag in ('<div class="field', "<td", "<form"))
    ends = [e for tag in ("</div>", "</td>", "</form>") if (e := html.find(tag, at)) != -1]
    return html[start : min(ends)]


def post(client: FlaskClient, url: str, data: dict[str, Any], form_url: str | None = None) -> Any:
    """Submit a form the way a browser does: with the page's CSRF token."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, form_url or url)})


def no_inline_code(html: str) -> None:
    assert "<script>" not in html and "<script " not in html.replace("<script src=", "")
    assert "style=" not in html
    assert not re.search(r"\son[a-z]+=", html), re.search(r"\son[a-z]+=", html)


@pytest.fixture
def buyer(login: Callable[..., User]) -> User:
    return login(Role.BUYER)


@pytest.fixture
def ws_id(buyer: User) -> int:
    return buyer.memberships[0].workspace_id


def _source(db: Session, ws_id: int, **extra: Any) -> TrafficSource:
    source = services.create_traffic_source(db, ws_id, {"preset": "propellerads", **extra})
    db.commit()
    return source


def _offer(db: Session, ws_id: int, name: str = "Offer A", **extra: Any) -> Offer:
    offer = services.create_offer(
        db, ws_id, {"name": name, "url": "https://offer.example/?s={clickid}", **extra}
    )
    db.commit()
    return offer


def _lander(db: Session, ws_id: int, name: str = "Lander 1") -> Lander:
    lander = services.create_lander(
        db, ws_id, {"name": name, "url": "https://lander.example/?cid={clickid}"}
    )
    db.commit()
    return lander


# --- lists ---------------------------------------------------------------------------------------


def test_every_list_has_an_empty_state_that_says_what_to_do(
    client: FlaskClient, buyer: User
) -> None:
    for url in LISTS.values():
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'class="empty"' in page.text, url
        assert f'href="{url}/new"' in page.text, url
        no_inline_code(page.text)
    assert "a preset fills in its macros" in client.get("/traffic-sources").text
    assert "postback URL to paste" in client.get("/affiliate-networks").text


def test_lists_hide_archived_until_asked_and_search_by_name(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    kept = _offer(db, ws_id, "Push US")
    gone = _offer(db, ws_id, "Pops DE")
    services.archive_offer(db, ws_id, gone.id)
    db.commit()
    page = client.get("/offers").text
    assert "Push US" in page and "Pops DE" not in page
    shown = client.get("/offers?archived=1").text
    assert "Pops DE" in shown and 'class="badge archived"' in shown
    assert f'action="/offers/{gone.id}/restore"' in shown
    found = client.get("/offers?q=push").text
    assert "Push US" in found and "Pops DE" not in found
    nothing = client.get("/offers?q=zzz")
    assert nothing.status_code == 200 and "No offer has “zzz” in its name" in nothing.text
    assert f'href="/offers/{kept.id}/edit"' in page


def test_long_lists_are_paged(client: FlaskClient, buyer: User, ws_id: int, db: Session) -> None:
    for n in range(55):
        services.create_lander(db, ws_id, {"name": f"L{n:02d}", "url": "https://l.example/"})
    db.commit()
    first = client.get("/landers").text
    assert "page 1 of 2 (55 in all)" in first
    assert "L54" in first and "L04" not in first  # newest first
    second = client.get("/landers?page=2").text
    assert "L04" in second and "L54" not in second
    assert client.get("/landers?page=abc").status_code == 200
    assert "Nothing on this page" in client.get("/landers?page=9").text


# --- traffic sources -----------------------------------------------------------------------------


def test_a_preset_fills_in_the_traffic_source_form(client: FlaskClient, buyer: User) -> None:
    page = client.get("/traffic-sources/new?preset=propellerads")
    assert page.status_code == 200
    html = page.text
    assert 'value="PropellerAds"' in html
    assert 'value="visitor_id"' in html and 'value="${SUBID}"' in html
    assert 'id="variables-0-param"' in html and 'value="zoneid"' in near(html, "variables-0-param")
    assert 'name="preset" type="hidden" value="propellerads"' in html
    assert "Replace YOUR_AID and YOUR_TID" in html  # the preset's notes
    for token in ("{externalid}", "{payout}", "{txid}", "{et}", "{status}", "{clickid}", "{var1}"):
        assert f'data-token="{token}"' in html
    unknown = client.get("/traffic-sources/new?preset=nope")
    assert unknown.status_code == 400
    assert "Unknown preset" in unknown.text


def test_create_a_traffic_source_keeps_var_numbers(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    data = {
        "preset": "propellerads",
        "name": "Propeller push",
        "external_id_param": "visitor_id",
        "external_id_placeholder": "${SUBID}",
        "cost_param": "cost",
        "cost_placeholder": "${COST}",
        "variables-0-name": "zone",
        "variables-0-param": "zoneid",
        "variables-0-placeholder": "${ZONEID}",
        # row 2 left empty: var3 stays var3
        "variables-2-name": "banner",
        "variables-2-param": "bannerid",
        "variables-2-placeholder": "${BANNERID}",
        "postback_url": "https://ad.propellerads.com/conversion.php?visitor_id={externalid}",
        "postback_statuses": ["approved", "pending"],
        "postback_first_only": "y",
    }
    response = post(client, "/traffic-sources/new", data)
    assert response.status_code == 302, response.text
    source = db.scalars(select(TrafficSource)).one()
    assert source.workspace_id == ws_id and source.preset == "propellerads"
    assert [v["param"] for v in source.variables] == ["zoneid", "", "bannerid"]
    assert source.postback_statuses == ["approved", "pending"]
    assert source.postback_first_only is True
    listed = client.get("/traffic-sources").text
    assert "Propeller push" in listed and "visitor_id=${SUBID}" in listed


def test_traffic_source_errors_show_beside_their_fields_with_the_input_kept(
    client: FlaskClient, buyer: User, db: Session
) -> None:
    response = post(
        client,
        "/traffic-sources/new",
        {
            "name": "My source",
            "external_id_param": "bad param!",
            "variables-0-param": "zone",
            "variables-1-param": "zone id",
            "variables-1-placeholder": "{zone}",
            "postback_url": "ftp://nope",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "Nothing was saved" in html
    assert "at most 100 letters, digits" in near(html, "external_id_param")
    assert 'value="bad param!"' in near(html, "external_id_param")
    assert "at most 100 letters, digits" in near(html, "variables-1-param")
    assert 'value="zone id"' in near(html, "variables-1-param")
    assert "http://" in near(html, "postback_url")
    assert 'value="My source"' in html
    assert db.scalars(select(TrafficSource)).first() is None


def test_edit_a_traffic_source(client: FlaskClient, buyer: User, ws_id: int, db: Session) -> None:
    source = _source(db, ws_id)
    url = f"/traffic-sources/{source.id}/edit"
    page = client.get(url).text
    assert 'value="zoneid"' in page and "Campaign URLs of this source end with" in page
    assert 'id="preset-pick"' not in page  # a preset only starts a new source
    form = {
        "name": "Renamed",
        "external_id_param": "visitor_id",
        "external_id_placeholder": "${SUBID}",
        "variables-0-param": "zoneid",
        "variables-0-placeholder": "${ZONEID}",
        "postback_statuses": ["approved"],
    }
    assert post(client, url, form).status_code == 302
    db.refresh(source)
    assert source.name == "Renamed" and source.cost_param == ""
    assert [v["param"] for v in source.variables] == ["zoneid"]


# --- affiliate networks --------------------------------------------------------------------------


def test_a_network_preset_shows_the_postback_url_and_offer_suffix(
    client: FlaskClient, buyer: User
) -> None:
    html = client.get("/affiliate-networks/new?preset=tune").text
    assert "/postback?cid={aff_sub}&amp;payout={payout}&amp;txid={transaction_id}" in html
    assert 'value="aff_sub={clickid}"' in html
    assert 'data-copy="#postback-url"' in html and 'data-copy="#offer-suffix"' in html
    assert 'value="TUNE"' in html
    affise = client.get("/affiliate-networks/new?preset=affise").text
    assert "1=approved\n2=pending" in affise


def test_create_a_network_and_copy_its_postback_url(
    client: FlaskClient, buyer: User, db: Session
) -> None:
    response = post(
        client,
        "/affiliate-networks/new",
        {
            "preset": "affise",
            "name": "Affise main",
            "postback_secret": "s3cret",
            "allowed_ips": "203.0.113.0/24\n\n198.51.100.7\n",
            "status_map": "1=approved\n2 = pending\n3=declined",
            "param_map": "sub1=cid\nsum=payout",
        },
        form_url="/affiliate-networks/new",
    )
    assert response.status_code == 302
    network = db.scalars(select(AffiliateNetwork)).one()
    assert response.headers["Location"] == f"/affiliate-networks/{network.id}/edit"
    assert network.allowed_ips == ["203.0.113.0/24", "198.51.100.7"]
    assert network.status_map == {"1": "approved", "2": "pending", "3": "declined"}
    assert network.param_map == {"sub1": "cid", "sum": "payout"}
    assert network.preset == "affise" and network.accept_duplicates is False
    page = client.get(response.headers["Location"]).text
    assert "key=s3cret" in page and "cid={sub1}" in page
    listed = client.get("/affiliate-networks").text
    assert f'data-copy="#postback-{network.id}"' in listed
    assert "key=s3cret" in listed and "sub1={clickid}" in listed


def test_edit_a_network(client: FlaskClient, buyer: User, ws_id: int, db: Session) -> None:
    network = services.create_affiliate_network(db, ws_id, {"preset": "tune"})
    db.commit()
    url = f"/affiliate-networks/{network.id}/edit"
    page = client.get(url).text
    assert "aff_sub=cid\ntransaction_id=txid" in page and 'id="preset-pick"' not in page
    response = post(
        client,
        url,
        {
            "name": "TUNE main",
            "postback_secret": "n3w",
            "accept_duplicates": "y",
            "param_map": "aff_sub=cid",
        },
    )
    assert response.status_code == 302
    db.refresh(network)
    assert network.name == "TUNE main" and network.postback_secret == "n3w"
    assert network.accept_duplicates and network.param_map == {"aff_sub": "cid"}
    assert network.preset == "tune"
    assert "key=n3w" in client.get("/affiliate-networks").text


def test_a_network_of_its_own_shows_where_its_macros_go(client: FlaskClient, buyer: User) -> None:
    html = client.get("/affiliate-networks/new").text
    assert "/postback?cid=REPLACE&amp;payout=OPTIONAL&amp;txid=OPTIONAL" in html
    tampered = post(
        client,
        "/affiliate-networks/new",
        {"preset": "nope", "name": "X"},
        "/affiliate-networks/new",
    )
    assert tampered.status_code == 422
    assert "unknown preset" in near(tampered.text, "preset-pick").lower()


def test_network_errors_show_beside_their_fields(
    client: FlaskClient, buyer: User, db: Session
) -> None:
    response = post(
        client,
        "/affiliate-networks/new",
        {
            "name": "Net",
            "allowed_ips": "10.0.0.0/8\nnot-an-ip",
            "status_map": "1=approved\n2=maybe\nbroken line",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "not-an-ip" in near(html, "allowed_ips") and "CIDR" in near(html, "allowed_ips")
    assert "not a status" in near(html, "status_map")
    assert "2=maybe" in near(html, "status_map")  # kept as typed
    assert db.scalars(select(AffiliateNetwork)).first() is None


# --- offers and landers --------------------------------------------------------------------------


def test_create_and_edit_an_offer(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    network = services.create_affiliate_network(db, ws_id, {"preset": "tune"})
    db.commit()
    form = client.get("/offers/new").text
    assert f'<option data-suffix="aff_sub={{clickid}}" value="{network.id}">TUNE</option>' in form
    assert 'data-token="{clickid}"' in form and 'data-token="{campaign.id}"' in form
    response = post(
        client,
        "/offers/new",
        {
            "name": "Dating US",
            "url": "https://tune.example/c?o=1&aff_sub={clickid}",
            "affiliate_network_id": str(network.id),
            "payout": "2.35",
            "currency": "eur",
        },
    )
    assert response.status_code == 302
    offer = db.scalars(select(Offer)).one()
    assert offer.payout == Decimal("2.35") and offer.currency == "EUR"
    assert offer.affiliate_network_id == network.id
    listed = client.get("/offers").text
    assert "Dating US" in listed and "€2.35" in listed and "TUNE" in listed
    edit = client.get(f"/offers/{offer.id}/edit").text
    assert 'value="2.35"' in edit and "aff_sub={clickid}" in near(edit, "suffix-hint")
    changed = post(
        client,
        f"/offers/{offer.id}/edit",
        {"name": "Dating US v2", "url": offer.url, "affiliate_network_id": "", "payout": ""},
    )
    assert changed.status_code == 302
    db.refresh(offer)
    assert offer.name == "Dating US v2" and offer.payout is None
    assert offer.affiliate_network_id is None


def test_offer_errors_show_beside_their_fields(
    client: FlaskClient, buyer: User, db: Session
) -> None:
    response = post(
        client,
        "/offers/new",
        {"name": "", "url": "offer.example/x", "payout": "2,5x", "currency": "dollars"},
    )
    assert response.status_code == 422
    html = response.text
    assert "at least 1 character" in near(html, "name")
    assert "http://" in near(html, "url") and 'value="offer.example/x"' in near(html, "url")
    assert "decimal" in near(html, "payout") and 'value="2,5x"' in near(html, "payout")
    assert "3-letter" in near(html, "currency")
    unknown = post(
        client,
        "/offers/new",
        {"name": "X", "url": "https://o.example/", "affiliate_network_id": "999"},
    )
    assert unknown.status_code == 422
    assert "No affiliate network 999" in near(unknown.text, "affiliate_network_id")


def test_create_a_lander_with_click_link_hints(
    client: FlaskClient, buyer: User, db: Session
) -> None:
    form = client.get("/landers/new").text
    assert 'value="http://localhost/click"' in form and "/click/1" in form
    response = post(
        client,
        "/landers/new",
        {"name": "Quiz", "url": "https://lp.example/quiz?c={clickid}", "offer_count": "3"},
    )
    assert response.status_code == 302
    lander = db.scalars(select(Lander)).one()
    assert lander.offer_count == 3
    url = f"/landers/{lander.id}/edit"
    bad = post(client, url, {"name": "Quiz v2", "url": "lp.example", "offer_count": "11"})
    assert bad.status_code == 422
    assert "http://" in near(bad.text, "url") and 'value="lp.example"' in near(bad.text, "url")
    assert "less than or equal to 10" in near(bad.text, "offer_count")
    assert 'value="Quiz v2"' in bad.text
    good = post(client, url, {"name": "Quiz v2", "url": lander.url, "offer_count": "2"})
    assert good.status_code == 302
    db.refresh(lander)
    assert lander.name == "Quiz v2" and lander.offer_count == 2


# --- flows ---------------------------------------------------------------------------------------


def test_create_a_flow_with_weighted_default_paths(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    a, b = _offer(db, ws_id, "A"), _offer(db, ws_id, "B")
    lander = _lander(db, ws_id)
    form = client.get("/flows/new").text
    assert 'id="default_paths-0-offers-0-id"' in form
    response = post(
        client,
        "/flows/new",
        {
            "name": "Geo split",
            "default_paths-0-name": "main",
            "default_paths-0-weight": "100",
            "default_paths-0-landers-0-id": str(lander.id),
            "default_paths-0-landers-0-weight": "100",
            "default_paths-0-offers-0-id": str(a.id),
            "default_paths-0-offers-0-weight": "75",
            "default_paths-0-offers-1-id": str(b.id),
            "default_paths-0-offers-1-weight": "25",
            "default_paths-0-offers-2-id": "",
            "default_paths-0-offers-2-weight": "100",
            "default_paths-1-weight": "100",  # a blank path: dropped
        },
    )
    assert response.status_code == 302, response.text
    flow = db.scalars(select(Flow)).one()
    assert flow.default_paths == [
        {
            "name": "main",
            "weight": 100,
            "landers": [{"id": lander.id, "weight": 100}],
            "offers": [{"id": a.id, "weight": 75}, {"id": b.id, "weight": 25}],
        }
    ]
    edit = client.get(f"/flows/{flow.id}/edit").text
    assert "75%" in near(edit, "default_paths-0-offers-0-weight").replace("</td>", "") or (
        "75%" in edit and "25%" in edit
    )
    listed = client.get("/flows").text
    assert "Geo split" in listed and "Lander 1 → 2 offers" in listed


def test_flow_errors_show_beside_their_rows(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    offer = _offer(db, ws_id)
    response = post(
        client,
        "/flows/new",
        {
            "name": "Broken",
            "default_paths-0-weight": "1",
            "default_paths-0-offers-0-id": str(offer.id),
            "default_paths-0-offers-0-weight": "",  # blank: the default weight
            "default_paths-1-weight": "x",
            "default_paths-1-offers-0-id": "99999",
            "default_paths-1-offers-0-weight": "-1",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "valid integer" in near(html, "default_paths-1-weight")
    assert "greater than or equal to 0" in near(html, "default_paths-1-offers-0-weight")
    assert 'value="-1"' in near(html, "default_paths-1-offers-0-weight")
    assert "Broken" in html and db.scalars(select(Flow)).first() is None
    unknown = post(
        client,
        "/flows/new",
        {"name": "Unknown", "default_paths-0-offers-0-id": "99999"},
    )
    assert unknown.status_code == 422
    assert "No offer 99999 in this workspace" in near(unknown.text, "default_paths-0-offers-0-id")


def test_flow_rules_are_edited_on_the_flow_form(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    offer = _offer(db, ws_id)
    flow = services.create_flow(
        db,
        ws_id,
        {
            "name": "Rules",
            "rules": [
                {
                    "name": "US mobile",
                    "conditions": [{"field": "country", "op": "in", "values": ["US", "CA"]}],
                    "paths": [{"offers": [{"id": offer.id}]}],
                }
            ],
            "default_paths": [{"offers": [{"id": offer.id}]}],
        },
    )
    db.commit()
    url = f"/flows/{flow.id}/edit"
    page = client.get(url).text
    assert 'value="US mobile"' in page and "US\nCA</textarea>" in page
    assert "PATCH /api/v1/flows/" in page
    response = post(
        client,
        url,
        {
            "name": "Rules v2",
            "rules-0-name": "US mobile",
            "rules-0-conditions-0-field": "country",
            "rules-0-conditions-0-op": "in",
            "rules-0-conditions-0-values": "US, CA",
            "rules-0-paths-0-offers-0-id": str(offer.id),
            "default_paths-0-offers-0-id": str(offer.id),
        },
    )
    assert response.status_code == 302
    db.refresh(flow)
    assert flow.name == "Rules v2" and flow.rules[0]["name"] == "US mobile"
    assert flow.rules[0]["conditions"][0]["values"] == ["US", "CA"]
    empty = post(client, url, {"name": "Rules v2"})
    assert empty.status_code == 422
    assert "at least one path" in empty.text


# --- campaigns -----------------------------------------------------------------------------------


def _campaign_form(source: TrafficSource, **extra: str) -> dict[str, str]:
    return {
        "name": "US push",
        "traffic_source_id": str(source.id),
        "cost_model": "cpc",
        "cost_value": "0.002",
        "destination": "offers",
        "redirect_mode": "302",
        **extra,
    }


def test_create_a_campaign_via_landers_and_see_its_url(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    source = _source(db, ws_id)
    lander = _lander(db, ws_id)
    a, b = _offer(db, ws_id, "A"), _offer(db, ws_id, "B")
    new = client.get("/campaigns/new").text
    assert "Cost of each visit" in new or 'data-hint="Cost of each visit' in new
    assert 'value="double_meta"' in new and "strips the referrer" in new
    response = post(
        client,
        "/campaigns/new",
        _campaign_form(
            source,
            destination="landers",
            redirect_mode="double_meta",
            critical_client_hints="y",
            **{
                "path-landers-0-id": str(lander.id),
                "path-landers-0-weight": "100",
                "path-offers-0-id": str(a.id),
                "path-offers-0-weight": "3",
                "path-offers-1-id": str(b.id),
                "path-offers-1-weight": "1",
            },
        ),
    )
    assert response.status_code == 302, response.text
    campaign = db.scalars(select(Campaign)).one()
    assert response.headers["Location"] == f"/campaigns/{campaign.id}"
    assert campaign.path == {
        "landers": [{"id": lander.id, "weight": 100}],
        "offers": [{"id": a.id, "weight": 3}, {"id": b.id, "weight": 1}],
    }
    assert campaign.cost_value == Decimal("0.002") and campaign.critical_client_hints
    page = client.get(f"/campaigns/{campaign.id}").text
    expected = (
        f"http://localhost/c/{campaign.key}?visitor_id=${{SUBID}}&amp;cost=${{COST}}"
        "&amp;zoneid=${ZONEID}"
    )
    assert f'id="campaign-url" type="text" value="{expected}' in page
    assert 'data-copy="#campaign-url"' in page and 'id="test-link"' in page
    assert f'href="/campaigns/{campaign.id}/test-visit"' in page
    assert "75%" in page and "25%" in page and "Lander 1" in page
    no_inline_code(page)
    edit = client.get(f"/campaigns/{campaign.id}/edit").text
    assert "75%" in edit and "25%" in edit
    listed = client.get("/campaigns").text
    assert "US push" in listed and "PropellerAds" in listed and "Lander 1 → 2 offers" in listed
    assert f'data-copy="#url-{campaign.id}"' in listed


def test_a_campaign_to_a_flow(client: FlaskClient, buyer: User, ws_id: int, db: Session) -> None:
    source = _source(db, ws_id)
    offer = _offer(db, ws_id)
    flow = services.create_flow(
        db, ws_id, {"name": "Main flow", "default_paths": [{"offers": [{"id": offer.id}]}]}
    )
    db.commit()
    missing = post(client, "/campaigns/new", _campaign_form(source, destination="flow"))
    assert missing.status_code == 422
    assert "Pick a flow." in near(missing.text, "flow_id")
    response = post(
        client, "/campaigns/new", _campaign_form(source, destination="flow", flow_id=str(flow.id))
    )
    assert response.status_code == 302
    campaign = db.scalars(select(Campaign)).one()
    assert campaign.flow_id == flow.id and campaign.path is None
    page = client.get(f"/campaigns/{campaign.id}").text
    assert "Main flow" in page and "0 rules" in page


def test_campaign_errors_show_beside_their_fields(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    source = _source(db, ws_id)
    offer = _offer(db, ws_id)
    response = post(
        client,
        "/campaigns/new",
        {
            "name": "Keep me",
            "traffic_source_id": "",
            "cost_model": "cpm",
            "cost_value": "",
            "destination": "offers",
            "redirect_mode": "302",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "Pick a traffic source." in near(html, "traffic_source_id")
    assert 'value="Keep me"' in html
    assert "at least one offer" in html
    weights = post(
        client,
        "/campaigns/new",
        _campaign_form(
            source,
            cost_value="",
            **{"path-offers-0-id": str(offer.id), "path-offers-0-weight": "lots"},
        ),
    )
    assert weights.status_code == 422
    assert "This cost model needs a value." in near(weights.text, "cost_value")
    assert "valid integer" in near(weights.text, "path-offers-0-weight")
    assert 'value="lots"' in near(weights.text, "path-offers-0-weight")
    assert db.scalars(select(Campaign)).first() is None


def test_edit_a_campaign_keeps_its_key(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    source = _source(db, ws_id)
    a, b = _offer(db, ws_id, "A"), _offer(db, ws_id, "B")
    campaign = services.create_campaign(
        db,
        ws_id,
        {
            "name": "C",
            "traffic_source_id": source.id,
            "destination": {"path": {"offers": [{"id": a.id}]}},
        },
    )
    db.commit()
    key = campaign.key
    url = f"/campaigns/{campaign.id}/edit"
    assert f'<option selected value="{a.id}">A</option>' in client.get(url).text
    response = post(
        client,
        url,
        _campaign_form(
            source,
            name="C2",
            cost_model="none",
            cost_value="",
            redirect_mode="meta",
            **{"path-offers-0-id": str(b.id), "path-offers-0-weight": "100"},
        ),
    )
    assert response.status_code == 302
    db.refresh(campaign)
    assert campaign.key == key and campaign.name == "C2"
    assert campaign.path == {"landers": [], "offers": [{"id": b.id, "weight": 100}]}
    assert campaign.redirect_mode.value == "meta"


# --- archive and restore -------------------------------------------------------------------------


def _one_of_each(db: Session, ws_id: int) -> dict[str, Any]:
    source = _source(db, ws_id)
    offer = _offer(db, ws_id)
    network = services.create_affiliate_network(db, ws_id, {"name": "Net"})
    lander = _lander(db, ws_id)
    flow = services.create_flow(
        db, ws_id, {"name": "Flow", "default_paths": [{"offers": [{"id": offer.id}]}]}
    )
    campaign = services.create_campaign(
        db,
        ws_id,
        {"name": "Camp", "traffic_source_id": source.id, "path": {"offers": [{"id": offer.id}]}},
    )
    db.commit()
    return {
        "traffic_source": source,
        "affiliate_network": network,
        "offer": offer,
        "lander": lander,
        "flow": flow,
        "campaign": campaign,
    }


def test_archive_and_restore_each_kind(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    objects = _one_of_each(db, ws_id)
    for kind, obj in objects.items():
        base = f"{LISTS[kind]}/{obj.id}"
        listed = client.get(LISTS[kind]).text
        assert f'action="{base}/archive"' in listed and 'data-confirm="Archive the' in listed
        archived = post(client, f"{base}/archive", {}, form_url=LISTS[kind])
        assert archived.status_code == 302, kind
        db.refresh(obj)
        assert obj.archived_at is not None, kind
        assert f'href="{base}/edit"' not in client.get(LISTS[kind]).text, kind
        restored = post(client, f"{base}/restore", {}, form_url=f"{LISTS[kind]}?archived=1")
        assert restored.status_code == 302, kind
        db.refresh(obj)
        assert obj.archived_at is None, kind


def test_an_archived_campaign_says_it_still_redirects(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    campaign = _one_of_each(db, ws_id)["campaign"]
    listed = client.get("/campaigns").text
    assert "ads keep working" in listed  # the confirmation says what archiving does
    response = post(client, f"/campaigns/{campaign.id}/archive", {}, form_url="/campaigns")
    assert response.headers["Location"] == f"/campaigns/{campaign.id}"
    page = client.get(f"/campaigns/{campaign.id}").text
    assert "archived — still redirecting" in page and "Restore" in page
    assert "archived — still redirecting" in client.get("/campaigns?archived=1").text
    visit = client.get(f"/c/{campaign.key}")
    assert visit.status_code == 302 and visit.headers["Location"].startswith(
        "https://offer.example/"
    )


def test_archive_needs_the_form_token(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    offer = _offer(db, ws_id)
    assert client.post(f"/offers/{offer.id}/archive").status_code == 400
    db.refresh(offer)
    assert offer.archived_at is None
    expired = client.post("/offers/new", data={"name": "x", "url": "https://o.example/"})
    assert expired.status_code == 400 and "CSRF token is missing" in expired.text
    assert db.scalars(select(Offer)).all() == [offer]


@pytest.mark.parametrize("settings_overrides", [{"timezone": "Asia/Tokyo"}])
def test_times_show_in_the_account_zone(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    offer = _offer(db, ws_id)
    offer.created_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    db.commit()
    # The list shows figures instead of dates; the edit page says when it was made.
    assert "2026-03-02 08:30" in client.get(f"/offers/{offer.id}/edit").text


# --- roles and workspaces ------------------------------------------------------------------------


def test_viewers_read_everything_but_change_nothing(
    client: FlaskClient, login: Callable[..., User], db: Session
) -> None:
    viewer = login(Role.VIEWER)
    ws_id = viewer.memberships[0].workspace_id
    objects = _one_of_each(db, ws_id)
    for kind, obj in objects.items():
        listed = client.get(LISTS[kind])
        assert listed.status_code == 200 and obj.name in listed.text, kind
        assert "/new" not in listed.text and "Archive" not in listed.text, kind
        edit = client.get(f"{LISTS[kind]}/{obj.id}/edit")
        assert edit.status_code == 200, kind
        assert '<fieldset class="plain" disabled>' in edit.text, kind
        assert 'type="submit" class="primary"' not in edit.text, kind
        assert client.get(f"{LISTS[kind]}/new").status_code == 403, kind
        token = csrf_token(client, f"{LISTS[kind]}/{obj.id}/edit")
        for action in ("edit", "archive", "restore"):
            answer = client.post(
                f"{LISTS[kind]}/{obj.id}/{action}", data={"csrf_token": token, "name": "x"}
            )
            assert answer.status_code == 403, (kind, action)
        assert client.post(f"{LISTS[kind]}/new", data={"csrf_token": token}).status_code == 403
    page = client.get(f"/campaigns/{objects['campaign'].id}")
    assert page.status_code == 200 and 'data-copy="#campaign-url"' in page.text
    assert f"/campaigns/{objects['campaign'].id}/edit" not in page.text


def test_another_workspace_is_not_found(
    client: FlaskClient, buyer: User, db: Session, make_user: Callable[..., User]
) -> None:
    make_user("other@example.com", Role.BUYER, workspace="Other team")
    other = db.scalars(select(Workspace).where(Workspace.name == "Other team")).one()
    objects = _one_of_each(db, other.id)
    token = csrf_token(client, "/offers")
    for kind, obj in objects.items():
        assert f"{LISTS[kind]}/{obj.id}/edit" not in client.get(LISTS[kind]).text, kind
        assert client.get(f"{LISTS[kind]}/{obj.id}/edit").status_code == 404, kind
        for action in ("edit", "archive"):
            answer = client.post(f"{LISTS[kind]}/{obj.id}/{action}", data={"csrf_token": token})
            assert answer.status_code == 404, (kind, action)
    assert client.get(f"/campaigns/{objects['campaign'].id}").status_code == 404
    assert client.get("/campaigns/99999999999").status_code == 404
    # Picking another workspace's object by id is refused, not saved.
    source = _source(db, get_or_create_workspace(db, None).id)
    response = post(
        client,
        "/campaigns/new",
        _campaign_form(
            source, **{"path-offers-0-id": str(objects["offer"].id), "path-offers-0-weight": "1"}
        ),
    )
    assert response.status_code == 422
    assert f"No offer {objects['offer'].id} in this workspace" in response.text


def test_no_inline_script_or_style_on_any_setup_page(
    client: FlaskClient, buyer: User, ws_id: int, db: Session
) -> None:
    objects = _one_of_each(db, ws_id)
    urls = [*LISTS.values()]
    urls += [f"{u}/new" for u in LISTS.values()]
    urls += [f"{LISTS[k]}/{o.id}/edit" for k, o in objects.items()]
    urls += [f"/campaigns/{objects['campaign'].id}", "/traffic-sources/new?preset=exoclick"]
    urls += ["/affiliate-networks/new?preset=cake"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        no_inline_code(response.text)
        assert "setup.js" in response.text, url
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
