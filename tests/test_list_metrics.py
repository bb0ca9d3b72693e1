"""Campaign, traffic source, offer and lander lists show each object's figures over a picked
range, from one report for the whole page (never a query per row)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.report_data import AT, Dataset, add_conversion, add_visit
from tracker.models import Campaign, TrafficSource
from tracker.models.types import utcnow
from tracker.reports import rollups
from tracker.reports.ranges import DEFAULT_RANGE, pick_range

DAY = "range=custom&from=2026-11-10&to=2026-11-10"
COLUMNS = ("visits", "clicks", "conversions", "revenue", "cost", "profit", "roi", "epv")


def figures(html: str, object_id: int) -> dict[str, str]:
    """The metric cells of one list row, by column."""
    row = re.search(rf'<tr[^>]*data-id="{object_id}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {object_id}"
    cells = re.findall(r'<td class="num metric[^"]*">([^<]*)</td>', row.group(1))
    assert len(cells) == len(COLUMNS), cells
    return dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))


def test_traffic_sources_show_their_figures_for_the_range(
    client: Any, login: Callable[..., Any], data: Dataset
) -> None:
    login("viewer")
    html = client.get(f"/traffic-sources?{DAY}").text
    # Alpha: 5 human visits, 4 clicks, 3 counted conversions (one pending), revenue 3 + 2 + 6,
    # cost 4 * 0.01 (cpc) + 3 (half of C3's 6 in revshare); the bot visit and its
    # conversion, the declined one and the chargeback are left out.
    assert figures(html, data.alpha.id) == {
        "visits": "5",
        "clicks": "4",
        "conversions": "3",
        "revenue": "$11.00",
        "cost": "$3.04",
        "profit": "$7.96",
        "roi": "261.84%",
        "epv": "$2.2000",
    }
    # Beta: cpa 2.00 for its one conversion; Gamma: a visit that cost nothing (ROI undefined).
    beta = figures(html, data.beta.id)
    assert (beta["visits"], beta["revenue"], beta["cost"], beta["roi"]) == (
        "2",
        "$4.00",
        "$2.00",
        "100.00%",
    )
    gamma = figures(html, data.gamma.id)
    assert (gamma["visits"], gamma["profit"], gamma["roi"], gamma["epv"]) == (
        "1",
        "$0.00",
        "—",
        "$0.0000",
    )
    assert 'value="custom" selected' in html and 'value="2026-11-10"' in html


def test_campaigns_show_their_figures_and_other_days_are_zero(
    client: Any, login: Callable[..., Any], data: Dataset
) -> None:
    login("viewer")
    html = client.get(f"/campaigns?{DAY}").text
    c1 = figures(html, data.c1.id)
    assert (c1["visits"], c1["clicks"], c1["revenue"], c1["cost"], c1["profit"]) == (
        "4",
        "3",
        "$5.00",
        "$0.04",
        "$4.96",
    )
    assert (c1["roi"], c1["epv"]) == ("12,400.00%", "$1.2500")
    c3 = figures(html, data.c3.id)
    assert (c3["cost"], c3["profit"], c3["roi"]) == ("$3.00", "$3.00", "100.00%")
    assert 'class="num metric pos"' in html  # profit coloured

    before = client.get("/campaigns?range=custom&from=2026-11-09&to=2026-11-09").text
    assert figures(before, data.c1.id) == {
        "visits": "0",
        "clicks": "0",
        "conversions": "0",
        "revenue": "$0.00",
        "cost": "$0.00",
        "profit": "$0.00",
        "roi": "—",
        "epv": "—",
    }


def test_offers_and_landers_have_figure_columns(
    client: Any,
    login: Callable[..., Any],
    make_offer: Callable[..., Any],
    make_lander: Callable[..., Any],
) -> None:
    login("viewer")
    offer = make_offer(name="Offer A")
    lander = make_lander(name="Lander A")
    offers = client.get("/offers?range=30d").text
    landers = client.get("/landers?range=today").text
    assert figures(offers, offer.id)["visits"] == "0"
    assert figures(landers, lander.id)["revenue"] == "$0.00"
    assert 'value="30d" selected' in offers and 'value="today" selected' in landers


def test_the_range_is_kept_in_page_links_and_bad_dates_fall_back(
    client: Any, login: Callable[..., Any], make_campaign: Callable[..., Campaign]
) -> None:
    login("viewer")
    for n in range(51):  # two pages
        make_campaign(name=f"Camp {n:02d}")
    html = client.get("/campaigns?range=yesterday").text
    assert "range=yesterday" in re.search(r'href="([^"]*page=2[^"]*)"', html).group(1)  # type: ignore[union-attr]
    bad = client.get("/campaigns?range=custom&from=soon&to=later")
    assert bad.status_code == 200
    assert "could not be read" in bad.text and f'value="{DEFAULT_RANGE}" selected' in bad.text
    assert client.get("/campaigns?range=%00%ff").status_code in (200, 400)  # never a 500


@contextmanager
def counting_queries(db: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = db.get_bind()

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", ["/campaigns", "/traffic-sources", "/offers", "/landers"])
def test_a_list_runs_as_many_queries_for_many_rows_as_for_few(
    client: Any,
    login: Callable[..., Any],
    db: Session,
    data: Dataset,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Any],
    make_lander: Callable[..., Any],
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refreshing the rollups costs the same for any number of rows; keep it out of the count.
    monkeypatch.setattr(rollups, "STALE_AFTER", timedelta(days=1))
    login("viewer")

    def add(count: int) -> None:
        for n in range(count):
            source = make_traffic_source(name=f"More {count} {n}")
            campaign = make_campaign(name=f"More {count} {n}", traffic_source_id=source.id)
            add_visit(db, campaign, AT, cost=Decimal("0.5"))
            make_offer(name=f"More offer {count} {n}")
            make_lander(name=f"More lander {count} {n}")
        db.commit()

    add(1)
    client.get(f"{path}?{DAY}")  # rollups refreshed once; later pages only read
    with counting_queries(db) as few:
        assert client.get(f"{path}?{DAY}").status_code == 200
    add(6)
    client.get(f"{path}?{DAY}")  # the same warm-up: the test's commit expired the session
    with counting_queries(db) as many:
        html = client.get(f"{path}?{DAY}").text
    assert html.count("data-id=") >= 6
    assert len(many) == len(few), "\n".join(
        s[:90].replace("\n", " ") for s in [*few, "----", *many]
    )


def test_pick_range() -> None:
    today = date(2026, 3, 10)
    assert (pick_range(None, None, None, today).date_from, DEFAULT_RANGE) == (
        date(2026, 3, 4),
        "7d",
    )
    yesterday = pick_range("yesterday", None, None, today)
    assert (yesterday.date_from, yesterday.date_to) == (date(2026, 3, 9), date(2026, 3, 9))
    assert pick_range("30d", None, None, today).date_from == date(2026, 2, 9)
    swapped = pick_range("custom", "2026-03-05", "2026-03-01", today)
    assert (swapped.date_from, swapped.date_to) == (date(2026, 3, 1), date(2026, 3, 5))
    one = pick_range("custom", "2026-03-05", "", today)
    assert (one.date_from, one.date_to, one.label) == (
        date(2026, 3, 5),
        date(2026, 3, 5),
        "2026-03-05",
    )
    long = pick_range("custom", "1990-01-01", "2026-03-05", today)
    assert (long.date_to - long.date_from).days == 1099
    assert pick_range("fortnight", None, None, today).invalid
    assert pick_range("custom", "x", "y", today).key == DEFAULT_RANGE
    assert pick_range(None, "9999-12-31", "0001-01-01", today).invalid  # past what days can hold


def test_a_campaigns_page_shows_its_figures_by_range(
    client: Any, login: Callable[..., Any], db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign(name="Today's")
    visit = add_visit(db, campaign, utcnow(), cost=Decimal("0.50"))
    add_conversion(db, visit, "2.00")
    db.commit()
    login("viewer")
    html = client.get(f"/campaigns/{campaign.id}").text
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", html, re.S)
    shown = {
        re.sub(r"<[^>]+>", "", row.split("</th>")[0]).strip(): [
            c.strip() for c in re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
        ]
        for row in rows
    }
    today = ["1", "1", "1", "$2.00", "$0.50", "$1.50", "300.00%", "$2.0000"]
    assert shown["Today"] == today and shown["Last 7 days"] == today
    assert shown["Yesterday"][:6] == ["0", "0", "0", "$0.00", "$0.00", "$0.00"]
    assert "group_by=day" in html and f"campaign_id={campaign.id}" in html
