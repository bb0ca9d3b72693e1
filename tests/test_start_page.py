"""The start page's set-up steps link to the forms, and every empty list says what to do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def test_steps_link_to_their_forms_and_name_the_next_one(
    client: Any,
    login: Callable[..., Any],
    make_traffic_source: Callable[..., Any],
    make_network: Callable[..., Any],
    make_campaign: Callable[..., Any],
) -> None:
    login("buyer")
    html = client.get("/").text
    for new in ("traffic-sources", "affiliate-networks", "offers", "landers", "flows", "campaigns"):
        assert f'href="/{new}/new"' in html, new
        assert f'href="/{new}"' in html, new
    assert (
        '<a class="button primary" href="/traffic-sources/new">Next: add traffic source</a>' in html
    )
    make_traffic_source()
    assert "Next: add affiliate network" in client.get("/").text
    make_network()
    # Landers and flows may be skipped: after the offer comes the campaign.
    make_campaign()  # makes its own offer too
    done = client.get("/").text
    assert "Next: add" not in done and "Everything is set up" in done and "Test link" in done


def test_a_viewer_sees_the_steps_without_add_buttons(
    client: Any, login: Callable[..., Any]
) -> None:
    login("viewer")
    html = client.get("/").text
    assert 'href="/campaigns"' in html and "/new" not in html and "Next: add" not in html
    assert "A buyer or admin of this workspace sets these up" in html


@pytest.mark.parametrize(
    ("path", "next_step"),
    [
        ("/campaigns", 'href="/campaigns/new"'),
        ("/traffic-sources", 'href="/traffic-sources/new"'),
        ("/affiliate-networks", 'href="/affiliate-networks/new"'),
        ("/offers", 'href="/offers/new"'),
        ("/landers", 'href="/landers/new"'),
        ("/flows", 'href="/flows/new"'),
        ("/conversions", 'href="/affiliate-networks"'),
        ("/postback-log", 'href="/affiliate-networks"'),
        ("/conversions/types", "Add a type below"),
        ("/costs", "import a CSV of daily costs"),
        ("/reports?group_by=campaign", "has a Test link"),
        ("/settings/audit", "show here as they are made"),
    ],
)
def test_every_empty_list_says_what_to_do_next(
    client: Any, login: Callable[..., Any], path: str, next_step: str
) -> None:
    login("admin")
    page = client.get(path)
    assert page.status_code == 200
    assert next_step in page.text


def test_empty_filtered_lists_offer_to_clear_the_filters(
    client: Any, login: Callable[..., Any]
) -> None:
    login("viewer")
    assert (
        'href="/conversions">Clear the filters' in client.get("/conversions?status=declined").text
    )
    assert "Clear the search" in client.get("/postback-log?click_id=nothing").text
    report = client.get("/reports?group_by=campaign&campaign_id=999").text
    assert "remove the filters" in report
