"""The report page in a real browser: pick levels, drill down, the chart renders; and the page
and its CSV through the test client."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from tests.browser import log_in
from tests.conftest import ARTIFACTS
from tests.report_data import Dataset
from tracker.models import Role, User

RANGE = "from=2026-11-10&to=2026-11-10&tz=UTC"


def test_report_page_drills_down_and_exports_what_it_shows(
    client: Any, login: Callable[..., Any], data: Dataset
) -> None:
    login("viewer")
    page = client.get(f"/reports?group_by=traffic_source,campaign&{RANGE}")
    assert page.status_code == 200, page.text
    assert "Alpha" in page.text and "Total" in page.text
    assert f"traffic_source_id={data.alpha.id}" in page.text  # the drill link
    drilled = client.get(f"/reports?group_by=campaign&traffic_source_id={data.alpha.id}&{RANGE}")
    assert "C1" in drilled.text and "C3" in drilled.text and "C2" not in drilled.text
    assert "Traffic source: <strong>Alpha</strong>" in drilled.text
    export = client.get(
        f"/reports.csv?group_by=campaign&traffic_source_id={data.alpha.id}&{RANGE}&totals=1"
    )
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0][:2] == ["campaign", "campaign_id"]
    assert [r[0] for r in rows[1:]] == ["C1", "C3", "Total"]
    assert rows[-1][rows[0].index("visits")] == "5"
    bad = client.get("/reports?group_by=planet")
    assert bad.status_code == 400 and "group_by" in bad.text
    assert client.get("/reports?group_by=campaign&from=2026-99-01").status_code == 400


def test_chart_library_is_served_from_the_package(client: Any, login: Callable[..., Any]) -> None:
    login("viewer")
    response = client.get("/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]
    again = client.get("/assets/plotly.min.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_pick_levels_drill_down_and_see_the_chart(
    live_server: str, page: Any, make_user: Callable[..., User], data: Dataset
) -> None:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, make_user("ana@example.com", Role.BUYER))
    page.goto(f"{live_server}/reports?{RANGE}")
    # Pick the levels: traffic source, then campaign.
    page.select_option("#level1", "traffic_source")
    page.select_option("#level2", "campaign")
    page.click("#report-form button[type=submit]")
    page.wait_for_url("**group_by=traffic_source%2Ccampaign**")
    page.wait_for_selector("#report-chart[data-rendered='1'] svg.main-svg")
    rows = page.locator("#report-table tbody tr")
    assert rows.count() == 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-page.png"), full_page=True)
    # Click the Alpha row (anywhere on it): its campaigns, filtered by it.
    # (dispatched: the sticky header may cover a row that Playwright scrolls to the very top)
    page.locator("#report-table tbody tr", has_text="Alpha").locator("td").first.dispatch_event(
        "click"
    )
    page.wait_for_url(f"**traffic_source_id={data.alpha.id}**")
    names = page.locator("#report-table tbody th").all_inner_texts()
    assert sorted(names) == ["C1", "C3"]
    assert "Alpha" in page.locator(".filters").inner_text()
    page.wait_for_selector("#report-chart[data-rendered='1'] svg.main-svg")
    # The state is in the URL: reloading it shows the same table.
    page.reload()
    assert sorted(page.locator("#report-table tbody th").all_inner_texts()) == ["C1", "C3"]
    # Sorting by a column keeps the filters.
    page.click("#report-table thead a:text('Profit')")
    page.wait_for_url("**sort=-profit**")
    assert page.locator("#report-table tbody th").first.inner_text() == "C1"
    assert not [e for e in errors if "Content Security Policy" not in e], errors
