"""The conversions page: sub IDs under the traffic source's own names, details on demand, a
table that fits a laptop screen; reports name a filtered source's sub IDs the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.browser import NO_SIDEWAYS_SCROLL, log_in
from tests.report_data import AT, add_conversion, add_visit
from tracker.models import Campaign, Role, TrafficSource, User
from tracker.setup.variables import SubIdNames, named_sub_ids, names_of

VARIABLES = [
    {"name": "zone", "param": "zoneid", "placeholder": "{zoneid}"},
    {"name": "", "param": "campaignid", "placeholder": "{campaignid}"},
    {"name": "", "param": "", "placeholder": ""},
    {"name": "banner", "param": "bannerid", "placeholder": "{bannerid}"},
]


@pytest.fixture
def named_source(make_traffic_source: Callable[..., TrafficSource]) -> TrafficSource:
    return make_traffic_source(name="Propeller", external_id_param="visitor", variables=VARIABLES)


def test_names_of_a_source() -> None:
    names = names_of({"variables": VARIABLES, "external_id_param": "visitor"})
    assert names.names == {"var1": "zone", "var2": "campaignid", "var4": "banner"}
    assert (names.label("var1"), names.label("var3"), names.label("ext")) == (
        "zone",
        "var3",
        "visitor",
    )
    row = {"external_id": "e-1", "var1": "z-9", "var3": "x", "var10": "last"}
    assert named_sub_ids(row, names) == [
        ("visitor", "ext", "e-1"),
        ("zone", "var1", "z-9"),
        ("var3", "var3", "x"),
        ("var10", "var10", "last"),
    ]
    assert named_sub_ids(row, SubIdNames())[0] == ("click ID", "ext", "e-1")


def test_sub_ids_show_the_sources_names(
    client: Any,
    db: Session,
    login: Callable[..., Any],
    named_source: TrafficSource,
    make_campaign: Callable[..., Campaign],
) -> None:
    campaign = make_campaign(name="Push US", traffic_source_id=named_source.id)
    visit = add_visit(db, campaign, AT, external_id="ext-555", var1="zone-77", var4="b-3")
    add_conversion(db, visit, "1.25")
    db.commit()
    login("viewer")
    html = client.get("/conversions").text
    assert '<span class="hint" title="var1">zone</span> <span class="mono">zone-77</span>' in html
    assert '<span class="hint" title="var4">banner</span>' in html
    assert '<dt title="ext">visitor</dt><dd class="mono">ext-555</dd>' in html  # in the details
    assert ">var1<" not in html.replace('<span class="hint">var1</span>', "")
    assert "<details>" in html and "$1.25" in html and visit.click_id in html


def test_a_report_filtered_to_one_source_names_its_sub_ids(
    client: Any,
    db: Session,
    login: Callable[..., Any],
    named_source: TrafficSource,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    campaign = make_campaign(traffic_source_id=named_source.id)
    add_visit(db, campaign, AT, var1="zone-77")
    db.commit()
    login("viewer")
    day = "from=2026-11-10&to=2026-11-10&tz=UTC"
    filtered = client.get(f"/reports?group_by=var1&traffic_source_id={named_source.id}&{day}")
    assert filtered.status_code == 200
    assert ">zone (var1)</a></th>" in filtered.text and "zone-77" in filtered.text
    assert '<option value="var4" >banner (var4)</option>' in filtered.text
    everyone = client.get(f"/reports?group_by=var1&{day}").text
    assert ">Var 1</a></th>" in everyone and "zone (var1)" not in everyone
    other = make_traffic_source(name="Other", variables=[{"name": "site", "param": "s"}])
    both = f"traffic_source_id={named_source.id}&traffic_source_id={other.id}"
    assert ">Var 1</a></th>" in client.get(f"/reports?group_by=var1&{both}&{day}").text


# --- in a browser ---------------------------------------------------------------------------------


def test_the_conversions_table_fits_a_laptop_and_a_phone(
    live_server: str,
    page: Any,
    db: Session,
    make_user: Callable[..., User],
    named_source: TrafficSource,
    make_campaign: Callable[..., Campaign],
) -> None:
    campaign = make_campaign(
        name="Push · Sweepstakes · Worldwide · Tier 1 mobile", traffic_source_id=named_source.id
    )
    long_value = "2ba4888b-c8e0-4487-a26d-74ec622410cc" * 2
    for n in range(5):
        visit = add_visit(
            db,
            campaign,
            AT,
            external_id=long_value,
            country="US",
            device_type="mobile",
            os="Android",
            browser="Chrome Mobile",
            **{f"var{i}": f"{long_value}-{i}" for i in range(1, 11)},
        )
        add_conversion(db, visit, "12.5", txid=f"TX-{n}-{long_value}")
    db.commit()
    log_in(page, live_server, make_user("ana@example.com", Role.BUYER))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server}/conversions")
    fits = (
        "document.querySelector('#conversions').getBoundingClientRect().right <= window.innerWidth"
    )
    scroll = NO_SIDEWAYS_SCROLL
    assert page.evaluate(fits) and page.evaluate(scroll)
    page.click("#conversions tbody tr:first-child summary")
    assert page.is_visible("#conversions tbody tr:first-child dl.facts")
    assert page.evaluate(fits) and page.evaluate(scroll)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/conversions")
    assert page.evaluate(scroll), "the page scrolls sideways on a phone"
