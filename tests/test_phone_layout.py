"""Pages on a phone (390 px) and the charts' axes, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.browser import NO_SIDEWAYS_SCROLL, log_in
from tests.report_data import add_conversion, add_visit
from tracker.models import Campaign, CostModel, Role, User
from tracker.models.types import utcnow

PHONE = {"width": 390, "height": 844}
# The pixel height of zero on the count axis (left) and on the money axis (right).
ZEROS = """(id) => {
  const layout = document.getElementById(id)._fullLayout;
  return [layout.yaxis._offset + layout.yaxis.l2p(0), layout.yaxis2._offset + layout.yaxis2.l2p(0)];
}"""


@pytest.fixture
def losing_week(db: Session, make_campaign: Callable[..., Campaign]) -> Campaign:
    """A week of a campaign that costs more than it earns on most days (profit below zero)."""
    campaign = make_campaign(
        name="Push · Sweepstakes · Worldwide · mobile and tablet",
        cost_model=CostModel.CPC,
        cost_value=Decimal("0.30"),
    )
    now = utcnow()
    for day in range(7):
        for n in range(4 + day):
            visit = add_visit(
                db,
                campaign,
                now - timedelta(days=day, minutes=10 + n),
                cost=Decimal("0.30"),
                var1=f"zone-{n}",
            )
            if n == 0:
                add_conversion(db, visit, "2.00" if day % 3 == 0 else "0.20")
    db.commit()
    return campaign


def _buyer(page: Any, live_server: str, make_user: Callable[..., User]) -> None:
    log_in(page, live_server, make_user("ana@example.com", Role.BUYER))


def test_chart_zero_lines_meet_when_profit_is_negative(
    live_server: str, page: Any, make_user: Callable[..., User], losing_week: Campaign
) -> None:
    _buyer(page, live_server, make_user)
    for path, chart in (("/", "dashboard-chart"), ("/reports?group_by=campaign", "report-chart")):
        page.goto(f"{live_server}{path}")
        page.wait_for_selector(f"#{chart}[data-rendered]")
        count_zero, money_zero = page.evaluate(ZEROS, chart)
        assert abs(count_zero - money_zero) < 1.5, (path, count_zero, money_zero)


def test_pages_read_on_a_phone(
    live_server: str, page: Any, make_user: Callable[..., User], losing_week: Campaign
) -> None:
    _buyer(page, live_server, make_user)
    page.set_viewport_size(PHONE)
    for path in ("/", "/reports?group_by=campaign", "/campaigns", "/traffic-sources", "/offers"):
        page.goto(f"{live_server}{path}")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways on a phone"
    # The navigation folds behind Menu.
    assert page.is_visible(".nav-toggle") and not page.is_visible(".mainnav")
    page.click(".nav-toggle")
    assert page.is_visible(".mainnav a:has-text('Conversions')")
    assert page.get_attribute(".nav-toggle", "aria-expanded") == "true"
    # The report's table scrolls inside its box; the chart fits the screen.
    page.goto(f"{live_server}/reports?group_by=campaign")
    page.wait_for_selector("#report-chart[data-rendered]")
    assert page.evaluate(
        "(() => { const box = document.querySelector('.table-wrap');"
        " return box.scrollWidth > box.clientWidth"
        " && getComputedStyle(box).overflowX == 'auto'; })()"
    )
    chart_right = page.evaluate(
        "document.querySelector('#report-chart .main-svg').getBoundingClientRect().right"
    )
    assert chart_right <= PHONE["width"]
    page.goto(f"{live_server}/")
    page.wait_for_selector("#dashboard-chart[data-rendered]")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)


def test_the_navigation_stays_open_on_a_laptop(
    live_server: str, page: Any, make_user: Callable[..., User]
) -> None:
    _buyer(page, live_server, make_user)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert not page.is_visible(".nav-toggle") and page.is_visible(".mainnav a:has-text('Reports')")
