"""A buyer sets up a campaign in a real browser, from presets to a visitor landing on the lander."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.conftest import ARTIFACTS, TEST_PASSWORD
from tracker.models import Role, User


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"setup-{name}.png"), full_page=True)


def test_a_buyer_sets_up_a_campaign_and_a_visitor_lands(
    live_server: str, page: Any, browser: Any, make_user: Callable[..., User]
) -> None:
    make_user("buyer@example.com", Role.BUYER)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "buyer@example.com")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    # A traffic source from a preset: picking it fills in the form.
    page.goto(f"{live_server}/traffic-sources/new")
    page.select_option("#preset-pick", "propellerads")
    page.wait_for_url("**/traffic-sources/new?preset=propellerads")
    assert page.input_value("#name") == "PropellerAds"
    assert page.input_value("#external_id_placeholder") == "${SUBID}"
    assert page.input_value("#variables-0-param") == "zoneid"
    _shot(page, "traffic-source-form")
    page.click("text=Create traffic source")
    page.wait_for_url(f"{live_server}/traffic-sources")
    assert "PropellerAds" in page.inner_text("table.setup-list")
    _shot(page, "traffic-sources")

    # A network from a preset: the postback URL to paste, with its macros.
    page.goto(f"{live_server}/affiliate-networks/new")
    page.select_option("#preset-pick", "tune")
    page.wait_for_url("**/affiliate-networks/new?preset=tune")
    assert "cid={aff_sub}" in page.input_value("#postback-url")
    assert page.input_value("#offer-suffix") == "aff_sub={clickid}"
    page.fill("#postback_secret", "k3y")
    page.click("text=Create affiliate network")
    page.wait_for_url(re.compile(r".*/affiliate-networks/\d+/edit$"))
    assert page.input_value("#postback-url").endswith("&key=k3y")
    _shot(page, "network")

    # An offer of that network: choosing it offers to append its click-ID parameter.
    page.goto(f"{live_server}/offers/new")
    page.fill("#name", "Sweepstakes US")
    page.fill("#url", "https://offer.example/click?o=42")
    assert page.is_hidden("#suffix-hint")
    page.select_option("#affiliate_network_id", label="TUNE")
    page.click("[data-append-suffix]")
    assert page.input_value("#url") == "https://offer.example/click?o=42&aff_sub={clickid}"
    page.fill("#payout", "1.80")
    page.click("text=Create offer")
    page.wait_for_url(f"{live_server}/offers")
    assert "$1.80" in page.inner_text("table.setup-list")

    page.goto(f"{live_server}/offers/new")
    page.fill("#name", "Sweepstakes CA")
    page.fill("#url", "https://offer.example/click?o=43&aff_sub={clickid}")
    page.click("text=Create offer")
    page.wait_for_url(f"{live_server}/offers")

    # A lander served by this very tracker, so the visitor's landing can be seen.
    page.goto(f"{live_server}/landers/new")
    page.fill("#name", "Quiz page")
    page.fill("#url", f"{live_server}/healthz?cid=")
    page.click(".tokens button[data-token='{clickid}']")
    assert page.input_value("#url") == f"{live_server}/healthz?cid={{clickid}}"
    page.click("text=Create lander")
    page.wait_for_url(f"{live_server}/landers")

    # The campaign: through the lander, then the offer.
    page.goto(f"{live_server}/campaigns/new")
    page.fill("#name", "Sweeps US push")
    page.select_option("#traffic_source_id", label="PropellerAds")
    page.select_option("#cost_model", "cpc")
    assert "each visit" in page.inner_text("#cost-hint")
    page.fill("#cost_value", "0.003")
    assert page.is_hidden("[data-landers-part]")
    page.check("input[name=destination][value=landers]")
    assert page.is_visible("[data-landers-part]")
    page.select_option("#path-landers-0-id", label="Quiz page")
    page.select_option("#path-offers-0-id", label="Sweepstakes US")
    assert page.inner_text("[data-landers-part] output.share >> nth=0") == "100%"
    # A second offer: a spare row appears on demand, and the shares follow the weights.
    assert page.is_hidden("#path-offers-1-id")
    page.click("text=+ Add an offer")
    page.select_option("#path-offers-1-id", label="Sweepstakes CA")
    page.fill("#path-offers-0-weight", "3")
    page.fill("#path-offers-1-weight", "1")
    shares = page.locator(".path-offers output.share")
    assert [shares.nth(0).inner_text(), shares.nth(1).inner_text()] == ["75%", "25%"]
    _shot(page, "campaign-form")
    page.click("text=Create campaign")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    _shot(page, "campaign")

    url = page.input_value("#campaign-url")
    assert re.fullmatch(
        rf"{re.escape(live_server)}/c/\w{{10}}\?visitor_id=\$\{{SUBID\}}&cost=\$\{{COST\}}"
        r"&zoneid=\$\{ZONEID\}&campaignid=\$\{CAMPAIGNID\}&bannerid=\$\{BANNERID\}",
        url,
    ), url
    page.click("button[data-copy='#campaign-url']")
    # A selector, not wait_for_function: its polling evaluates a string, which the page's CSP
    # forbids (it failed whenever the first check came before the copy).
    page.wait_for_selector("button[data-copy='#campaign-url']:text-is('Copied')")
    page.goto(f"{live_server}/campaigns")
    assert "Quiz page → 2 offers" in page.inner_text("table.setup-list")
    _shot(page, "campaigns")

    # A visitor (no session) opens the ad's URL and lands on the lander with a click ID.
    visitor = browser.new_context()
    try:
        tab = visitor.new_page()
        tab.goto(url)
        assert re.fullmatch(rf"{re.escape(live_server)}/healthz\?cid=[\w-]{{16,32}}", tab.url), (
            tab.url
        )
    finally:
        visitor.close()
