"""A buyer builds a flow with rules in a real browser, reorders them, and tests a visit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ARTIFACTS, TEST_PASSWORD
from tests.visitors import IPHONE
from tracker.models import Campaign, Lander, Offer, Role, User
from tracker.models.setup import Flow
from tracker.setup import services

FRENCH_IP = "90.0.0.1"  # France in iptocc's table, the country lookup without GeoIP databases


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of the shot
    page.screenshot(path=str(ARTIFACTS / f"flow-{name}.png"), full_page=True)


def _log_in(page: Any, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")


def _condition(page: Any, prefix: str) -> Any:
    return page.locator(f'[data-prefix="{prefix}"]')


def _pick(page: Any, prefix: str, field: str, values: list[str]) -> None:
    """Choose a condition's field and add its values as chips, typed then Enter."""
    page.select_option(f"#{prefix}-field", field)
    chip_input = _condition(page, prefix).locator("input.chip-input")
    for value in values:
        chip_input.fill(value)
        chip_input.press("Enter")


def test_a_buyer_builds_reorders_and_tests_a_flow(
    live_server: str,
    page: Any,
    db: Session,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
    make_campaign: Callable[..., Campaign],
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    make_user("buyer@example.com", Role.BUYER)
    make_lander(name="Quiz FR")
    make_offer(name="Sweeps FR")
    make_offer(name="Sweeps EU")
    make_offer(name="Mobile catch-all")
    _log_in(page, live_server, "buyer@example.com")

    page.goto(f"{live_server}/flows/new")
    page.fill("#name", "Sweeps by geo")
    # A new flow has no rules until asked for.
    assert page.is_visible("[data-no-rules]")
    assert page.is_hidden('[data-prefix="rules-0"]')

    # Rule 1: any mobile visitor.
    page.click("text=+ Add a rule")
    page.fill("#rules-0-name", "Mobile")
    _pick(page, "rules-0-conditions-0", "device_type", ["mobile"])
    assert page.input_value("#rules-0-conditions-0-values") == "mobile"
    page.select_option("#rules-0-paths-0-offers-0-id", label="Mobile catch-all")

    # Rule 2: iOS in France, through a lander to two offers 70/30.
    page.click("text=+ Add a rule")
    page.fill("#rules-1-name", "iOS in France")
    _pick(page, "rules-1-conditions-0", "os", ["iOS"])
    # Only the operators that fit the field are offered.
    op = page.locator("#rules-1-conditions-0-op")
    assert op.locator("option[value=in_cidr]").is_disabled()
    assert not op.locator("option[value=contains]").is_disabled()
    page.locator('[data-prefix="rules-1"] >> text=+ Add a condition').click()
    _pick(page, "rules-1-conditions-1", "country", ["france"])  # a name finds its code
    chips = _condition(page, "rules-1-conditions-1").locator(".value-chip")
    assert chips.count() == 1 and "FR · France" in chips.nth(0).inner_text()
    assert page.input_value("#rules-1-conditions-1-values") == "FR"
    assert page.inner_text('[data-prefix="rules-1-conditions-1"] [data-joiner]') == "AND"
    page.select_option("#rules-1-paths-0-landers-0-id", label="Quiz FR")
    page.select_option("#rules-1-paths-0-offers-0-id", label="Sweeps FR")
    page.locator('[data-prefix="rules-1-paths-0"] >> text=+ Add an offer').click()
    page.select_option("#rules-1-paths-0-offers-1-id", label="Sweeps EU")
    page.fill("#rules-1-paths-0-offers-0-weight", "70")
    page.fill("#rules-1-paths-0-offers-1-weight", "30")
    shares = page.locator('[data-prefix="rules-1-paths-0"] .path-offers output.share')
    assert [shares.nth(0).inner_text(), shares.nth(1).inner_text()] == ["70%", "30%"]
    page.fill("#rules-1-paths-0-offers-1-weight", "0")
    assert shares.nth(1).inner_text() == "paused" and shares.nth(0).inner_text() == "100%"
    page.fill("#rules-1-paths-0-offers-1-weight", "30")
    assert shares.nth(0).inner_text() == "70%"

    # The default paths: one to an offer, a second one added and weighted 1 to 3.
    page.select_option("#default_paths-0-offers-0-id", label="Sweeps EU")
    page.locator("[data-list=default_paths] ~ button >> text=+ Add a path").click()
    page.select_option("#default_paths-1-offers-0-id", label="Sweeps FR")
    page.fill("#default_paths-0-weight", "1")
    page.fill("#default_paths-1-weight", "3")
    path_shares = page.locator("[data-list=default_paths] > [data-path] > legend output")
    assert [path_shares.nth(0).inner_text(), path_shares.nth(1).inner_text()] == ["25%", "75%"]
    _shot(page, "new")
    page.click("text=Create flow")
    page.wait_for_url(f"{live_server}/flows")
    assert "Sweeps by geo" in page.inner_text("table.setup-list")

    db.rollback()
    flow = db.scalars(select(Flow)).one()
    assert [rule["name"] for rule in flow.rules] == ["Mobile", "iOS in France"]
    assert flow.rules[1]["conditions"] == [
        {"field": "os", "op": "in", "values": ["iOS"]},
        {"field": "country", "op": "in", "values": ["FR"]},
    ]
    assert [o["weight"] for o in flow.rules[1]["paths"][0]["offers"]] == [70, 30]
    assert [p["weight"] for p in flow.default_paths] == [1, 3]

    # Reloaded, the editor shows it all back; iOS in France moves above the mobile rule.
    page.goto(f"{live_server}/flows/{flow.id}/edit")
    assert page.input_value("#rules-1-name") == "iOS in France"
    assert "FR · France" in _condition(page, "rules-1-conditions-1").inner_text()
    assert page.inner_text('[data-prefix="rules-1-paths-0"] .path-offers output.share') == "70%"
    assert page.is_disabled('[data-prefix="rules-0"] [data-move=up]')
    page.click('[aria-label="Move rule 2 up"]')
    assert page.input_value("#rules-0-name") == "iOS in France"
    assert page.input_value("#rules-1-name") == "Mobile"
    assert page.input_value("#rules-0-conditions-1-values") == "FR"
    assert page.is_disabled('[data-prefix="rules-0"] [data-move=up]')
    # Labels follow the numbers: the moved rule is rule 1 to a screen reader too.
    assert page.get_attribute("#rules-0-conditions-1-field", "aria-label") == (
        "Field of condition 2"
    )
    assert page.is_disabled('[aria-label="Move rule 1 up"]')
    up = page.get_attribute('[data-prefix="rules-1"] [data-move=up]', "aria-label")
    assert up == "Move rule 2 up"
    _shot(page, "edit")
    page.click("button.primary >> text=Save")
    page.wait_for_url(f"{live_server}/flows")
    db.rollback()
    db.refresh(flow)
    assert [rule["name"] for rule in flow.rules] == ["iOS in France", "Mobile"]
    assert flow.rules[0]["paths"][0]["landers"][0]["weight"] == 100

    # A campaign through the flow: an iPhone from France takes the iOS rule.
    campaign = make_campaign(flow_id=flow.id, name="Sweeps push")
    page.goto(f"{live_server}/flows/{flow.id}/edit")
    assert page.is_visible("ul.flow-campaigns >> text=Sweeps push")
    page.click("ul.flow-campaigns >> text=Test a visit")
    page.wait_for_url(f"{live_server}/campaigns/{campaign.id}/test-visit")
    page.fill("#ip", FRENCH_IP)
    page.fill("#user_agent", IPHONE)
    page.click("text=Test this visit")
    assert page.inner_text("#result-rule") == "iOS in France"
    _shot(page, "test-visit")
    assert errors == []


def _two_rules(db: Session, workspace_id: int, offer: Offer) -> Flow:
    path = {"offers": [{"id": offer.id}]}
    flow = services.create_flow(
        db,
        workspace_id,
        {
            "name": "Two rules",
            "rules": [
                {
                    "name": "Desktop",
                    "conditions": [{"field": "device_type", "op": "in", "values": ["desktop"]}],
                    "paths": [path],
                },
                {
                    "name": "Office hours in FR, DE",
                    "timezone": "Europe/Paris",
                    "conditions": [
                        {"field": "country", "op": "in", "values": ["FR", "DE"]},
                        {"field": "time_of_day", "op": "between", "values": ["09:00", "18:00"]},
                    ],
                    "paths": [path],
                },
            ],
            "default_paths": [path],
        },
    )
    db.commit()
    return flow


def test_without_javascript_the_row_buttons_still_work(
    live_server: str,
    browser: Any,
    db: Session,
    workspace: Any,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    make_user("buyer@example.com", Role.BUYER)
    flow = _two_rules(db, workspace.id, make_offer())
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 860}
    )
    try:
        page = context.new_page()
        _log_in(page, live_server, "buyer@example.com")
        page.goto(f"{live_server}/flows/{flow.id}/edit")
        # A spare rule to fill in, the between inputs beside the values box.
        assert page.is_visible("#rules-2-name") and page.is_visible("#rules-0-conditions-0-low")
        page.click('[aria-label="Move rule 2 up"]')
        page.wait_for_load_state()
        assert "Not saved yet" in page.inner_text(".flash-warning")
        assert page.input_value("#rules-0-name") == "Office hours in FR, DE"
        page.fill("#rules-2-name", "Tablets")
        page.select_option("#rules-2-conditions-0-field", "device_type")
        page.fill("#rules-2-conditions-0-values", "tablet")
        page.select_option("#rules-2-paths-0-offers-0-id", index=1)
        _shot(page, "no-js")
        page.press("#rules-2-name", "Enter")  # saves: Enter presses no row button
        page.wait_for_url(f"{live_server}/flows")
    finally:
        context.close()
    db.rollback()
    db.refresh(flow)
    assert [r["name"] for r in flow.rules] == ["Office hours in FR, DE", "Desktop", "Tablets"]


def test_a_viewer_reads_the_flow_without_editing_tools(
    live_server: str,
    page: Any,
    db: Session,
    workspace: Any,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    make_user("viewer@example.com", Role.VIEWER)
    flow = _two_rules(db, workspace.id, make_offer())
    _log_in(page, live_server, "viewer@example.com")
    page.goto(f"{live_server}/flows/{flow.id}/edit")
    chips = page.locator('[data-prefix="rules-1-conditions-0"] .value-chip')
    assert chips.count() == 2 and "FR · France" in chips.nth(0).inner_text()
    assert page.locator(".chip-remove, .chip-input, [name=editor_action]").count() == 0
    assert page.is_disabled("#rules-0-name")
    assert page.is_visible("#rules-1-timezone") and page.is_hidden("#rules-0-timezone")
    assert page.input_value("#rules-1-conditions-1-low") == "09:00"
    _shot(page, "viewer")
    assert errors == []
