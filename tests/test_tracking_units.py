"""Hot-path building blocks without the store: click IDs, the token renderer, weighted routing."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import sqlite

from tracker.models.setup import RedirectMode
from tracker.models.types import UTCDateTime
from tracker.tracking.clickid import new_click_id, normalize_click_id
from tracker.tracking.recorder import _sqlite_utc_text
from tracker.tracking.routing import WeightedChoice, compile_routes
from tracker.tracking.tokens import (
    KNOWN_TOKENS,
    compile_template,
    render,
    visit_token_values,
)


def test_click_ids_are_26_char_lower_crockford_unique_and_time_ordered() -> None:
    ids = [
        new_click_id(now_ns=ms * 1_000_000) for ms in range(1_700_000_000_000, 1_700_000_000_050)
    ]
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)
    assert ids == sorted(ids)
    many = {new_click_id() for _ in range(5000)}
    assert len(many) == 5000


def test_normalize_click_id() -> None:
    cid = new_click_id()
    assert normalize_click_id(cid.upper()) == cid
    assert normalize_click_id(f" {cid} ") == cid
    assert normalize_click_id("abc_DEF-0123456789") == "abc_DEF-0123456789"  # other trackers'
    for junk in (None, "", "short", "x" * 33, "01m8jstk85fds43kxqgnvvrk'!", "a b" * 8):
        assert normalize_click_id(junk) is None


def test_template_replaces_known_tokens_url_encoded_and_keeps_unknown_ones() -> None:
    template = compile_template(
        "https://o.example/{unknown}/p?c={clickid}&ua={useragent}&n={campaign.name}"
        "&C={COUNTRY}&x={payout}&{}"
    )
    url = template.render(
        {
            "clickid": "abc",
            "useragent": "Mozilla/5.0 (X&Y)",
            "campaign.name": "Spring 50%",
            "country": "GB",
        }
    )
    assert url == (
        "https://o.example/{unknown}/p?c=abc&ua=Mozilla%2F5.0%20%28X%26Y%29"
        "&n=Spring%2050%25&C=GB&x={payout}&{}"
    )


def test_template_without_tokens_is_returned_as_is() -> None:
    template = compile_template("https://o.example/plain?a=1")
    assert template.keys == ()
    assert template.render({}) == "https://o.example/plain?a=1"


def test_visit_token_values_cover_every_contract_token_and_postback_extras() -> None:
    visit = {
        "click_id": "cid1",
        "campaign_id": 7,
        "traffic_source_id": 3,
        "lander_id": None,
        "offer_id": 9,
        "country": "GB",
        "asn": None,
        "cost": Decimal("0.050000"),
        "var3": "zone 9",
        "device_type": "mobile",
    }
    values = visit_token_values(
        visit,
        campaign_name="C",
        traffic_source_name="S",
        offer_name="O",
        extra={"payout": Decimal("2.500000"), "txid": "t1", "et": "", "status": "approved"},
    )
    assert set(values) == KNOWN_TOKENS
    assert values["countryname"] == "United Kingdom"
    assert values["cost"] == "0.05" and values["payout"] == "2.5"
    assert values["asn"] == "" and values["lander.id"] == ""
    assert values["device"] == "mobile" and values["var3"] == "zone 9"
    url = render("https://ts.example/pb?id={externalid}&p={payout}&s={status}&v={var3}", values)
    assert url == "https://ts.example/pb?id=&p=2.5&s=approved&v=zone%209"


def test_weighted_choice_respects_weights_and_never_picks_paused() -> None:
    choice = WeightedChoice([("a", 1), ("b", 3), ("paused", 0)])
    assert choice.pick(lambda: 0.0) == "a"
    assert choice.pick(lambda: 0.2499) == "a"
    assert choice.pick(lambda: 0.25) == "b"
    assert choice.pick(lambda: 0.9999) == "b"
    counts = Counter(choice.pick() for _ in range(4000))
    assert counts["paused"] == 0 and counts["a"] < counts["b"]
    assert not WeightedChoice([("x", 0)]) and WeightedChoice([("x", 0)]).pick() is None


CATALOGUE = {1: ("One", "https://one.example/{clickid}"), 2: ("Two", "https://two.example/")}


def test_flow_default_paths_compile_with_labels_modes_and_paused_paths() -> None:
    routes = compile_routes(
        flow_id=5,
        campaign_path=None,
        rules=[
            {
                "name": "not yet",
                "conditions": [{"field": "country", "op": "in", "values": ["GB"]}],
                "paths": [{"weight": 100, "offers": [{"id": 2, "weight": 1}]}],
            }
        ],
        default_paths=[
            {"weight": 0, "offers": [{"id": 1, "weight": 100}]},
            {
                "name": "main",
                "weight": 100,
                "redirect_mode": "meta",
                "landers": [{"id": 1, "weight": 100}, {"id": 404, "weight": 100}],
                "offers": [{"id": 1, "weight": 100}, {"id": 2, "weight": 0}],
            },
        ],
        landers=CATALOGUE,
        offers=CATALOGUE,
    )
    assert [r.name for r in routes.rules] == ["not yet"]  # no country in the facts: no match
    for _ in range(50):
        route = routes.route({})
        assert route is not None
        assert route.rule is None and route.path.label == "main"
        assert route.lander is not None and route.lander.id == 1  # unknown lander 404 dropped
        assert route.path.redirect_mode is RedirectMode.META
    main = routes.find_path(None, "main")
    assert main is not None and [o.id for o in main.offers] == [1, 2]
    assert main.offer_at(2) is not None and main.offer_at(3) is None
    assert routes.find_path(None, "1") is not None and routes.find_path("nope", "1") is None


def test_everything_paused_routes_nowhere() -> None:
    routes = compile_routes(
        flow_id=None,
        campaign_path={"weight": 0, "landers": [], "offers": [{"id": 1, "weight": 0}]},
        rules=[],
        default_paths=[],
        landers={},
        offers=CATALOGUE,
    )
    assert routes.route({}) is None


def test_campaign_path_is_taken_whatever_its_weight() -> None:
    routes = compile_routes(
        flow_id=None,
        campaign_path={"weight": 0, "offers": [{"id": 2, "weight": 5}]},
        rules=[],
        default_paths=[],
        landers={},
        offers=CATALOGUE,
    )
    route = routes.route({})
    assert route is not None and route.offer is not None and route.offer.id == 2


def test_sqlite_time_text_is_what_sqlalchemy_would_store() -> None:
    dialect = sqlite.dialect()
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    paris = timezone(timedelta(hours=2))
    for moment in (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still written out
        datetime(2026, 11, 29, 8, 39, 19, 864646, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=paris),
        None,
    ):
        assert _sqlite_utc_text(moment) == processor(moment)
    with pytest.raises(ValueError):
        _sqlite_utc_text(datetime(2026, 1, 1))  # naive: refused, as UTCDateTime refuses it


def test_a_forked_child_never_reuses_the_parents_random_bytes() -> None:
    new_click_id()  # the parent has read a chunk of randomness
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next click ID, sent to the parent
        os.write(write, new_click_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_click_id()
    assert child[10:] != parent[10:]  # their 80 random bits differ
