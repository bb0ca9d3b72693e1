"""Helpers for browser tests (Playwright pages from the ``page`` fixture)."""

from __future__ import annotations

from typing import Any

from tests.conftest import TEST_PASSWORD
from tracker.models import User

# True when the document is no wider than the window: nothing scrolls the page sideways.
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def log_in(page: Any, live_server: str, user: User) -> None:
    """Log in through the login form and land on the start page."""
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
