"""A person logs in with a real browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import ARTIFACTS, TEST_PASSWORD
from tracker.models import Role, User


def test_log_in_and_out_in_a_browser(
    live_server: str, page: Any, make_user: Callable[..., User]
) -> None:
    make_user("ana@example.com", Role.ADMIN)
    page.goto(f"{live_server}/")
    assert "/login" in page.url
    page.fill("input[name=email]", "ana@example.com")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    assert page.locator(".field-error").inner_text() == "Wrong email or password."
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    assert page.locator(".who").inner_text().startswith("ana@example.com")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-after-login.png"), full_page=True)
    page.click("text=Log out")
    page.wait_for_url(f"{live_server}/login")
    assert "You are logged out." in page.content()
