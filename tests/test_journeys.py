"""The buyer's whole journeys in a real browser, each from a fresh store:

1. set up a campaign from presets to a flow with a rule, and copy its URL;
2. a visitor on an iPhone opens the ad's URL, lands on the lander, clicks through to the offer,
   which receives the click ID;
3. the network fires its postback for that click ID, and the buyer sees the conversion and the
   source's revenue, cost, profit and ROI;
4. a viewer reads the dashboard and reports but can change nothing.

The lander and the offer are pages of the test app (test-only routes on the live server), so a
visitor's whole path stays on 127.0.0.1. Key pages are saved under test-artifacts/journey-*.png.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, request
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ARTIFACTS, TEST_PASSWORD
from tracker.auth.sessions import public
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    Conversion,
    Offer,
    Role,
    User,
    Visit,
    Workspace,
)
from tracker.setup import services

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
# What PropellerAds fills into its macros when it sends the visitor.
SOURCE_MACROS = {
    "${SUBID}": "pa-7f3c9e21b4",
    "${COST}": "0.0042",
    "${ZONEID}": "5483312",
    "${CAMPAIGNID}": "7712004",
    "${BANNERID}": "11309877",
}


# Buttons and links that change something.
EDITING = re.compile(r"^\s*(\+ )?(New|Add|Edit|Archive|Restore|Delete|Create|Save|Upload)\b")


def _shot(page: Any, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=full_page)


# --- a lander and an offer, served by the test app ------------------------------------------------


@public
def _test_lander() -> str:
    """A pre-sell page: shows the click ID it got, and its call to action goes to /click."""
    cid = escape(request.args.get("cid", ""))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Spin the wheel</title></head><body>"
        "<h1>Spin the wheel!</h1><p>You have one free spin today.</p>"
        f'<p>Click ID: <output id="cid">{cid}</output></p>'
        '<p><a id="cta" href="/click">Claim your prize</a></p></body></html>'
    )


@public
def _test_offer() -> str:
    """The network's offer page: what it received in ``sub1`` is what it will post back."""
    sub1 = escape(request.args.get("sub1", ""))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Win an iPhone 16</title></head><body>"
        "<h1>Win an iPhone 16</h1><p>Enter your email to join the draw.</p>"
        f'<p>sub1: <output id="sub1">{sub1}</output></p></body></html>'
    )


@pytest.fixture
def site(app: Flask, request: pytest.FixtureRequest) -> Iterator[str]:
    """The live server, with the test lander and offer registered before it starts."""
    app.add_url_rule("/test-lander", "test_lander", _test_lander)
    app.add_url_rule("/test-offer", "test_offer", _test_offer)
    yield request.getfixturevalue("live_server")


def _log_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _watch_errors(page: Any) -> list[str]:
    """Script errors of the page. The chart library's inline styles, which the pages' CSP
    blocks, are left out (as in the reports' own browser test): the charts render without them."""
    errors: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" not in message.text:
            errors.append(message.text)

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console)
    return errors


# --- journey 1: set-up ----------------------------------------------------------------------------


def test_1_a_buyer_sets_up_a_campaign_with_a_flow_and_copies_its_url(
    site: str, page: Any, db: Session, make_user: Callable[..., User]
) -> None:
    errors = _watch_errors(page)
    make_user("buyer@example.com", Role.BUYER)
    _log_in(page, site, "buyer@example.com")
    # An empty workspace says what to do first.
    assert "Traffic sources" in page.inner_text("ol.steps")
    _shot(page, "1-start")

    # A traffic source from a preset.
    page.goto(f"{site}/traffic-sources/new")
    page.select_option("#preset-pick", "propellerads")
    page.wait_for_url("**/traffic-sources/new?preset=propellerads")
    assert page.input_value("#external_id_param") == "visitor_id"
    page.click("text=Create traffic source")
    page.wait_for_url(f"{site}/traffic-sources")

    # An affiliate network from a preset, with a postback secret.
    page.goto(f"{site}/affiliate-networks/new")
    page.select_option("#preset-pick", "everflow")
    page.wait_for_url("**/affiliate-networks/new?preset=everflow")
    page.fill("#postback_secret", "s3cret-ef")
    page.click("text=Create affiliate network")
    page.wait_for_url(re.compile(r".*/affiliate-networks/\d+/edit$"))
    postback = page.input_value("#postback-url")
    assert postback.startswith(f"{site}/postback?cid={{sub1}}") and "key=s3cret-ef" in postback
    _shot(page, "1-network")

    # An offer of that network, its click-ID parameter appended by the form.
    page.goto(f"{site}/offers/new")
    page.fill("#name", "Sweepstakes US")
    page.fill("#url", f"{site}/test-offer?o=42")
    page.select_option("#affiliate_network_id", label="Everflow")
    page.click("[data-append-suffix]")
    assert page.input_value("#url") == f"{site}/test-offer?o=42&sub1={{clickid}}"
    page.fill("#payout", "2.40")
    page.click("text=Create offer")
    page.wait_for_url(f"{site}/offers")

    # A lander, its click-ID token added with a button.
    page.goto(f"{site}/landers/new")
    page.fill("#name", "Spin the wheel")
    page.fill("#url", f"{site}/test-lander?cid=")
    page.click(".tokens button[data-token='{clickid}']")
    page.click("text=Create lander")
    page.wait_for_url(f"{site}/landers")

    # A flow: mobile visitors through the lander, everyone else straight to the offer.
    page.goto(f"{site}/flows/new")
    page.fill("#name", "Sweeps by device")
    page.click("text=+ Add a rule")
    page.fill("#rules-0-name", "Mobile")
    page.select_option("#rules-0-conditions-0-field", "device_type")
    chips = page.locator('[data-prefix="rules-0-conditions-0"] input.chip-input')
    chips.fill("mobile")
    chips.press("Enter")
    page.select_option("#rules-0-paths-0-landers-0-id", label="Spin the wheel")
    page.select_option("#rules-0-paths-0-offers-0-id", label="Sweepstakes US")
    page.select_option("#default_paths-0-offers-0-id", label="Sweepstakes US")
    _shot(page, "1-flow")
    page.click("text=Create flow")
    page.wait_for_url(f"{site}/flows")

    # The campaign, through the flow, paid per visit.
    page.goto(f"{site}/campaigns/new")
    page.fill("#name", "PropellerAds · Push · Sweeps US")
    page.select_option("#traffic_source_id", label="PropellerAds")
    page.select_option("#cost_model", "cpc")
    page.fill("#cost_value", "0.05")
    page.check("input[name=destination][value=flow]")
    page.select_option("#flow_id", label="Sweeps by device")
    page.click("text=Create campaign")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    assert "Mobile" in page.inner_text(".flow-rule-names")
    assert page.locator("main a.button, main button").filter(has_text=EDITING).count() >= 2

    # Copy its URL, as the buyer would to paste it into PropellerAds.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page.click("button[data-copy='#campaign-url']")
    # A selector, not wait_for_function: its polling evaluates a string, which the page's CSP
    # forbids (it failed whenever the first check came before the copy).
    page.wait_for_selector("button[data-copy='#campaign-url']:text-is('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.input_value("#campaign-url")
    assert re.fullmatch(
        rf"{re.escape(site)}/c/\w{{10}}\?visitor_id=\$\{{SUBID\}}&cost=\$\{{COST\}}&zoneid=.*",
        copied,
    ), copied
    _shot(page, "1-campaign")

    db.rollback()
    campaign = db.scalars(select(Campaign)).one()
    assert campaign.flow_id is not None and campaign.cost_value == Decimal("0.05")
    assert errors == []


# --- the same set-up, made through the services, for the journeys that follow ------------------


@dataclass
class Setup:
    campaign: Campaign
    network: AffiliateNetwork
    offer: Offer
    ad_url: str  # the campaign URL as the source sends visitors to it, macros filled in


def _set_up(db: Session, site: str) -> Setup:
    """What journey 1 made through the pages, made through the same services."""
    from tracker.auth.services import default_workspace

    workspace: Workspace = default_workspace(db)
    ws = workspace.id
    source = services.create_traffic_source(db, ws, {"preset": "propellerads"})
    network = services.create_affiliate_network(
        db, ws, {"preset": "everflow", "postback_secret": "s3cret-ef"}
    )
    offer = services.create_offer(
        db,
        ws,
        {
            "name": "Sweepstakes US",
            "url": f"{site}/test-offer?o=42&sub1={{clickid}}",
            "affiliate_network_id": network.id,
            "payout": "2.40",
        },
    )
    lander = services.create_lander(
        db, ws, {"name": "Spin the wheel", "url": f"{site}/test-lander?cid={{clickid}}"}
    )
    to_offer = {"offers": [{"id": offer.id}]}
    flow = services.create_flow(
        db,
        ws,
        {
            "name": "Sweeps by device",
            "rules": [
                {
                    "name": "Mobile",
                    "conditions": [{"field": "device_type", "op": "in", "values": ["mobile"]}],
                    "paths": [{"landers": [{"id": lander.id}], **to_offer}],
                }
            ],
            "default_paths": [to_offer],
        },
    )
    campaign = services.create_campaign(
        db,
        ws,
        {
            "name": "PropellerAds · Push · Sweeps US",
            "traffic_source_id": source.id,
            "cost_model": "cpc",
            "cost_value": "0.05",
            "destination": {"flow_id": flow.id},
        },
    )
    db.commit()
    url = services.describe_campaign(db, campaign, site).url
    for macro, value in SOURCE_MACROS.items():
        url = url.replace(macro, value)
    return Setup(campaign, network, offer, url)


def _visit_on_an_iphone(browser: Any, ad_url: str, shots: str | None = None) -> str:
    """A visitor on an iPhone taps the ad, lands on the lander, taps its button, reaches the
    offer; answers the click ID the offer received."""
    phone = browser.new_context(
        user_agent=IPHONE,
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    try:
        tab = phone.new_page()
        tab.goto(ad_url, referer="https://news-site.example/article/123")
        assert urlsplit(tab.url).path == "/test-lander", tab.url
        landed_with = parse_qs(urlsplit(tab.url).query)["cid"][0]
        assert tab.inner_text("#cid") == landed_with
        if shots:
            _shot(tab, f"{shots}-lander", full_page=False)
        tab.click("#cta")
        tab.wait_for_url("**/test-offer?**")
        received = parse_qs(urlsplit(tab.url).query)["sub1"][0]
        assert received == landed_with
        assert tab.inner_text("#sub1") == received
        if shots:
            _shot(tab, f"{shots}-offer", full_page=False)
        return received
    finally:
        phone.close()


# --- journey 2: a visitor -------------------------------------------------------------------------


def test_2_a_visitor_on_an_iphone_lands_clicks_through_and_the_offer_gets_the_click_id(
    site: str, browser: Any, db: Session
) -> None:
    setup = _set_up(db, site)
    click_id = _visit_on_an_iphone(browser, setup.ad_url, shots="2")

    db.rollback()
    visit = db.scalars(select(Visit).where(Visit.click_id == click_id)).one()
    assert visit.campaign_id == setup.campaign.id
    assert (visit.device_type, visit.os, visit.browser) == ("mobile", "iOS", "Mobile Safari")
    assert visit.rule == "Mobile" and visit.lander_id is not None
    assert visit.clicks == 1 and visit.offer_id == setup.offer.id
    assert visit.external_id == SOURCE_MACROS["${SUBID}"]
    assert visit.var1 == SOURCE_MACROS["${ZONEID}"]
    assert visit.cost == Decimal("0.05")
    assert visit.language == "en"


# --- journey 3: the conversion --------------------------------------------------------------------


def test_3_the_networks_postback_shows_in_conversions_and_the_sources_roi(
    site: str,
    browser: Any,
    page: Any,
    db: Session,
    make_user: Callable[..., User],
) -> None:
    errors = _watch_errors(page)
    setup = _set_up(db, site)
    click_id = _visit_on_an_iphone(browser, setup.ad_url)
    make_user("buyer@example.com", Role.BUYER)
    _log_in(page, site, "buyer@example.com")

    # The postback URL the buyer gave the network, as the network fills it in.
    page.goto(f"{site}/affiliate-networks/{setup.network.id}/edit")
    template = page.input_value("#postback-url")
    fired = (
        template.replace("{sub1}", click_id)
        .replace("{payout_amount}", "2.40")
        .replace("{transaction_id}", "EF-88412")
    )
    with urllib.request.urlopen(fired, timeout=10) as answer:
        assert answer.status == 200

    page.goto(f"{site}/conversions")
    row = page.locator("#conversions tbody tr").first
    row.locator("summary").click()  # click ID, txid and the rest are under Details
    assert click_id in row.inner_text()
    cells = row.inner_text()
    assert "PropellerAds · Push · Sweeps US" in cells and "$2.40" in cells
    assert "approved" in cells and "EF-88412" in cells
    _shot(page, "3-conversions")

    assert page.locator(".mainnav a[aria-current=page]").all_inner_texts() == ["Conversions"]
    page.goto(f"{site}/postback-log")
    assert "recorded" in page.inner_text("table")
    assert page.locator(".mainnav a[aria-current=page]").all_inner_texts() == ["Postback log"]

    page.goto(f"{site}/reports?group_by=traffic_source")
    headers = [h.strip(" ↓↑") for h in page.locator("table.report thead th").all_inner_texts()]
    source_row = page.locator("table.report tbody tr", has_text="PropellerAds")
    values = dict(zip(headers, source_row.locator("td, th").all_inner_texts(), strict=False))
    assert values["Visits"].strip() == "1"
    assert values["Conv."].strip() == "1"
    assert values["Revenue"].strip() == "$2.40"
    assert values["Cost"].strip() == "$0.05"
    assert values["Profit"].strip() == "$2.35"
    assert values["ROI"].strip() == "4,700.00%"
    _shot(page, "3-report")

    db.rollback()
    conversion = db.scalars(select(Conversion)).one()
    assert conversion.click_id == click_id and conversion.payout == Decimal("2.40")
    assert errors == []


# --- journey 4: a viewer -------------------------------------------------------------------------


def test_4_a_viewer_reads_reports_but_changes_nothing(
    site: str, page: Any, app: Flask, db: Session, make_user: Callable[..., User]
) -> None:
    from tracker.demo import DemoOptions, build_demo

    errors = _watch_errors(page)
    build_demo(db, app.config["SETTINGS"], DemoOptions(seed=4, days=3, visits=800))
    db.commit()
    campaign = db.scalars(select(Campaign).order_by(Campaign.id)).first()
    offer = db.scalars(select(Offer).order_by(Offer.id)).first()
    assert campaign is not None and offer is not None
    make_user("viewer@example.com", Role.VIEWER)
    _log_in(page, site, "viewer@example.com")

    # The dashboard and the reports: figures, but no way to change anything.
    assert page.locator(".tiles").is_visible()
    _shot(page, "4-viewer-dashboard")
    page.goto(f"{site}/reports?group_by=campaign")
    assert page.locator("table.report tbody tr").count() >= 5
    _shot(page, "4-viewer-report")

    for path in (
        "/campaigns",
        f"/campaigns/{campaign.id}",
        "/offers",
        "/flows",
        "/traffic-sources",
        "/affiliate-networks",
        "/conversions",
    ):
        page.goto(f"{site}{path}")
        main = page.locator("main")
        assert main.locator("a.button, button").filter(has_text=EDITING).count() == 0, path
        assert main.locator("form[method=post]").count() == 0, path
        if path == f"/campaigns/{campaign.id}":
            _shot(page, "4-viewer-campaign")

    # A POST made by hand, with a valid form token, is still refused.
    page.goto(f"{site}/offers")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(
        f"{site}/offers/{offer.id}/archive", form={"csrf_token": token}, max_redirects=0
    )
    assert refused.status == 403
    changed = page.request.post(
        f"{site}/offers/{offer.id}/edit",
        form={"csrf_token": token, "name": "Mine now", "url": "https://x.example/", "payout": "9"},
        max_redirects=0,
    )
    assert changed.status == 403
    # Its form opens read-only.
    page.goto(f"{site}/offers/{offer.id}/edit")
    assert page.is_visible(".readonly-note")
    assert page.locator("main button").filter(has_text=EDITING).count() == 0
    db.rollback()
    db.refresh(offer)
    assert offer.archived_at is None and offer.name != "Mine now"
    assert errors == []
