"""Flows end to end: visitors routed by rules top-down then default paths on ``/c/<key>`` (with the
GeoIP test databases), what a visit records, reports by flow/rule/path, /click after a rule,
per-path redirect modes, time rules in the rule's or the account's zone, unique visits,
weighted rotation over many draws, validation errors by place (services and API), and a flow
change reaching another app instance on its next visit."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import base_settings
from tests.visitors import ALL_GEOIP, ANDROID, CHROME_WINDOWS, IPHONE, LONDON, MILTON
from tracker import create_app
from tracker.extensions import db as store
from tracker.models import Campaign, Flow, Lander, Offer, TrafficSource, Visit, Workspace
from tracker.setup import services
from tracker.setup.services import InvalidSetup
from tracker.store import bump_setup_version
from tracker.tracking import views as tracking_views
from tracker.tracking.routing import compile_routes
from tracker.tracking.views import tracking_state

OLD_IPHONE = IPHONE.replace("17_4", "15_2").replace("17.4", "15.2")
CABLE_GB = "2.125.160.216"  # GB, Cable/DSL
TOKYO_V6 = "2001:218::1"  # JP, IPv6


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every GeoIP test database, unless a test asks for other settings."""
    return getattr(request, "param", ALL_GEOIP)


def hit(
    client: FlaskClient,
    key: str,
    ip: str,
    user_agent: str = IPHONE,
    query: str = "",
    **headers: str,
) -> Any:
    return client.get(
        f"/c/{key}{'?' + query if query else ''}",
        headers={"User-Agent": user_agent, **headers},
        environ_base={"REMOTE_ADDR": ip},
    )


def stored_visits(db: Session) -> list[dict[str, Any]]:
    db.rollback()  # a fresh read of what the requests committed
    rows = db.execute(select(Visit.__table__).order_by(Visit.id)).mappings().all()
    return [dict(r) for r in rows]


def path(
    offers: Sequence[Offer], landers: Sequence[Lander] = (), weight: int = 100, **extra: Any
) -> dict[str, Any]:
    return {
        "weight": weight,
        "landers": [{"id": lander.id, "weight": 100} for lander in landers],
        "offers": [{"id": offer.id, "weight": 100} for offer in offers],
        **extra,
    }


def cond(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"field": field, "op": op, "values": list(values)}


@pytest.fixture
def setup(
    db: Session,
    workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
    make_traffic_source: Callable[..., TrafficSource],
) -> dict[str, Any]:
    """Two landers, three offers and a traffic source whose zone parameter is var1."""
    return {
        "ios_lander": make_lander(name="iOS lander", url="https://ios.example/?cid={clickid}"),
        "android_lander": make_lander(
            name="Android lander", url="https://android.example/?cid={clickid}&c={country}"
        ),
        "offer_a": make_offer(name="Offer A", url="https://a.example/?cid={clickid}"),
        "offer_b": make_offer(name="Offer B", url="https://b.example/?cid={clickid}"),
        "offer_c": make_offer(name="Offer C", url="https://c.example/?os={os}&v={osversion}"),
        "source": make_traffic_source(
            name="Pops", variables=[{"name": "zone", "param": "zone", "placeholder": "{zone}"}]
        ),
    }


def flow_campaign(
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
    rules: list[dict[str, Any]],
    default_paths: list[dict[str, Any]] | None = None,
    **campaign: Any,
) -> tuple[Flow, Campaign]:
    flow = services.create_flow(
        db,
        workspace.id,
        {
            "name": "Buyer flow",
            "rules": rules,
            "default_paths": default_paths or [path([setup["offer_c"]])],
        },
    )
    db.commit()
    made = make_campaign(flow_id=flow.id, traffic_source_id=setup["source"].id, **campaign)
    return flow, made


# --- routing on /c/<key> --------------------------------------------------------------------------


def test_visitors_are_routed_by_rules_top_down_then_the_default_paths(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    rules = [
        {
            "name": "iOS in GB",
            "conditions": [cond("country", "in", "gb"), cond("os", "in", "ios")],
            "paths": [path([setup["offer_a"]], [setup["ios_lander"]], name="iOS path")],
        },
        {
            "name": "Android on cable",
            "conditions": [
                cond("os", "in", "Android"),
                cond("connection_type", "in", "Cable/DSL"),
            ],
            "paths": [path([setup["offer_b"]], [setup["android_lander"]])],
        },
    ]
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)

    assert hit(client, campaign.key, LONDON).location.startswith("https://ios.example/?cid=")
    cable = hit(client, campaign.key, CABLE_GB, ANDROID)
    assert cable.location.startswith("https://android.example/") and cable.location.endswith(
        "&c=GB"
    )
    # Android, but on a corporate line: no rule; the default path goes straight to offer C.
    assert hit(client, campaign.key, MILTON, ANDROID).location == (
        "https://c.example/?os=Android&v=14"
    )
    assert hit(client, campaign.key, TOKYO_V6).location == "https://c.example/?os=iOS&v=17.4"

    rows = stored_visits(db)
    assert [(r["flow_id"], r["rule"], r["path"]) for r in rows] == [
        (flow.id, "iOS in GB", "iOS path"),
        (flow.id, "Android on cable", "1"),
        (flow.id, None, "1"),
        (flow.id, None, "1"),
    ]
    assert [r["lander_id"] for r in rows] == [
        setup["ios_lander"].id,
        setup["android_lander"].id,
        None,
        None,
    ]
    assert rows[2]["offer_id"] == setup["offer_c"].id and rows[2]["clicks"] == 1


def test_the_first_matching_rule_wins_and_reordering_changes_which(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    broad = {
        "name": "Mobile",
        "conditions": [cond("device_type", "in", "mobile")],
        "paths": [path([setup["offer_a"]])],
    }
    narrow = {
        "name": "Old iOS",
        "conditions": [cond("os_version", "between", "14", "16.4"), cond("os", "in", "iOS")],
        "paths": [path([setup["offer_b"]])],
    }
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, [broad, narrow])
    assert hit(client, campaign.key, LONDON, OLD_IPHONE).location.startswith("https://a.example/")

    services.update_flow(db, workspace.id, flow.id, {"rules": [narrow, broad]})
    db.commit()
    tracking_state().snapshots.clear()  # this process: no wait for the version check
    assert hit(client, campaign.key, LONDON, OLD_IPHONE).location.startswith("https://b.example/")
    assert hit(client, campaign.key, LONDON, IPHONE).location.startswith("https://a.example/")
    assert hit(client, campaign.key, LONDON, CHROME_WINDOWS).location.startswith(
        "https://c.example/"
    )
    assert [r["rule"] for r in stored_visits(db)] == ["Mobile", "Old iOS", "Mobile", None]


def test_ip_rules_exact_cidr_and_ipv6_on_the_hot_path(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    rules = [
        {
            "name": "Office",
            "conditions": [cond("ip", "in", "216.160.83.56", "2001:db8::7")],
            "paths": [path([setup["offer_a"]])],
        },
        {
            "name": "Japan v6 and London v4",
            "conditions": [cond("ip", "in_cidr", "2001:218::/32", "81.2.69.0/24")],
            "paths": [path([setup["offer_b"]])],
        },
    ]
    _flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    hit(client, campaign.key, MILTON)
    hit(client, campaign.key, "2001:0db8:0000:0000:0000:0000:0000:0007")
    hit(client, campaign.key, TOKYO_V6)
    hit(client, campaign.key, LONDON)
    hit(client, campaign.key, "::ffff:81.2.69.161")  # IPv4-mapped: stored and matched as IPv4
    hit(client, campaign.key, CABLE_GB)
    rows = stored_visits(db)
    assert [r["rule"] for r in rows] == [
        "Office",
        "Office",
        "Japan v6 and London v4",
        "Japan v6 and London v4",
        "Japan v6 and London v4",
        None,
    ]
    assert rows[4]["ip"] == "81.2.69.161"


def test_text_version_language_referrer_var_and_source_conditions_on_the_hot_path(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    other_source = services.create_traffic_source(db, workspace.id, {"name": "Other"})
    db.commit()
    rules = [
        {
            "name": "No referrer",
            "conditions": [cond("referrer", "in", "")],
            "paths": [path([setup["offer_a"]])],
        },
        {
            "name": "Zone 7 from news",
            "conditions": [
                cond("var1", "in", "7", "8"),
                cond("referrer_domain", "contains", "news"),
                cond("language", "in", "fr"),
                cond("traffic_source", "in", str(setup["source"].id)),
            ],
            "paths": [path([setup["offer_b"]])],
        },
        {
            "name": "Other source",
            "conditions": [cond("traffic_source", "not_in", str(setup["source"].id))],
            "paths": [path([setup["offer_a"]], name="other")],
        },
    ]
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    second = make_campaign(flow_id=flow.id, traffic_source_id=other_source.id)
    french = {"Accept-Language": "fr-FR,fr;q=0.9", "Referer": "https://news.example/a"}
    hit(client, campaign.key, LONDON)
    hit(client, campaign.key, LONDON, query="zone=7", **french)
    hit(client, campaign.key, LONDON, query="zone=9", **french)
    hit(client, second.key, LONDON, query="zone=7", **french)
    assert [r["rule"] for r in stored_visits(db)] == [
        "No referrer",
        "Zone 7 from news",
        None,
        "Other source",
    ]


@pytest.mark.parametrize(
    "settings_overrides", [{**ALL_GEOIP, "timezone": "Europe/Paris"}], indirect=True
)
def test_time_rules_read_the_rule_zone_else_the_account_zone(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = [
        {
            "name": "Office hours in New York",
            "timezone": "America/New_York",
            "conditions": [cond("time_of_day", "between", "09:00", "17:00")],
            "paths": [path([setup["offer_a"]])],
        },
        {
            "name": "Weekend in Paris",  # no zone: the account's (TRACKER_TIMEZONE)
            "conditions": [cond("day_of_week", "in", "saturday", "sunday")],
            "paths": [path([setup["offer_b"]])],
        },
    ]
    _flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    instants = [
        "2026-11-27T15:00:00+00:00",  # Friday 10:00 in New York
        "2026-11-27T23:30:00+00:00",  # Friday 18:30 in New York, Saturday 00:30 in Paris
        "2026-11-27T22:30:00+00:00",  # Friday 23:30 in Paris
    ]
    for instant in instants:
        moment = datetime.fromisoformat(instant)
        monkeypatch.setattr(tracking_views, "_now", lambda moment=moment: moment)
        hit(client, campaign.key, LONDON)
    assert [r["rule"] for r in stored_visits(db)] == [
        "Office hours in New York",
        "Weekend in Paris",
        None,
    ]


def test_a_rule_on_unique_visits_sends_repeats_elsewhere(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    rules = [
        {
            "name": "First visit",
            "conditions": [cond("unique", "in", "true")],
            "paths": [path([setup["offer_a"]])],
        }
    ]
    _flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    hit(client, campaign.key, LONDON)
    hit(client, campaign.key, LONDON)  # the same IP and user agent within 24 h
    hit(client, campaign.key, LONDON, ANDROID)
    rows = stored_visits(db)
    assert [(r["rule"], r["is_unique"]) for r in rows] == [
        ("First visit", True),
        (None, False),
        ("First visit", True),
    ]


def test_click_after_a_rule_visit_goes_to_that_rules_offers_and_path_modes_apply(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
) -> None:
    rules = [
        {
            "name": "GB",
            "conditions": [cond("country", "in", "GB")],
            "paths": [
                path([setup["offer_b"]], [setup["ios_lander"]], redirect_mode="meta", name="m")
            ],
        }
    ]
    default = [path([setup["offer_a"]], [setup["ios_lander"]])]
    _flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules, default)
    page = hit(client, campaign.key, LONDON)
    assert page.status_code == 200 and "https://ios.example/?cid=" in page.text  # meta refresh
    (visit,) = stored_visits(db)
    click = client.get(f"/click?cid={visit['click_id']}")
    assert click.status_code == 200 and "https://b.example/?cid=" in click.text  # meta again
    us = hit(client, campaign.key, MILTON)
    assert us.status_code == 302
    cid = stored_visits(db)[-1]["click_id"]
    assert client.get(f"/click?cid={cid}").location.startswith("https://a.example/")


def test_reports_split_by_flow_rule_and_path(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
    api: Callable[..., Any],
) -> None:
    rules = [
        {
            "name": "GB",
            "conditions": [cond("country", "in", "GB")],
            "paths": [
                path([setup["offer_a"]], name="A", weight=1),
                path([setup["offer_b"]], name="B", weight=0),  # paused
            ],
        }
    ]
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    for ip in (LONDON, CABLE_GB, MILTON):
        hit(client, campaign.key, ip)
    today = date.today().isoformat()
    answer = (
        api()
        .get(f"/api/v1/report?group_by=flow,rule,path&from={today}&to={today}&tz=UTC")
        .get_json()
    )
    rows = {(r["flow"], r["rule"], r["path"]): r["visits"] for r in answer["rows"]}
    assert rows == {("Buyer flow", "GB", "A"): 2, ("Buyer flow", None, "1"): 1}
    assert {r["flow_id"] for r in answer["rows"]} == {flow.id}


# --- weights --------------------------------------------------------------------------------------

CATALOGUE = {n: (f"Thing {n}", f"https://t{n}.example/") for n in range(1, 8)}


def test_weighted_rotation_is_fair_over_many_draws_and_weight_zero_pauses() -> None:
    routes = compile_routes(
        flow_id=1,
        campaign_path=None,
        rules=[],
        default_paths=[
            {
                "name": "seventy",
                "weight": 70,
                "landers": [{"id": 1, "weight": 1}, {"id": 2, "weight": 3}, {"id": 3, "weight": 0}],
                "offers": [{"id": 1, "weight": 100}],
            },
            {
                "name": "thirty",
                "weight": 30,
                "offers": [
                    {"id": 4, "weight": 50},
                    {"id": 5, "weight": 50},
                    {"id": 6, "weight": 0},
                ],
            },
            {"name": "paused", "weight": 0, "offers": [{"id": 7, "weight": 100}]},
        ],
        landers=CATALOGUE,
        offers=CATALOGUE,
    )
    random.seed(20261129)
    draws = 40_000
    paths: Counter[str] = Counter()
    landers: Counter[int] = Counter()
    offers: Counter[int] = Counter()
    for _ in range(draws):
        route = routes.route({})
        assert route is not None
        paths[route.path.label] += 1
        if route.lander is not None:
            landers[route.lander.id] += 1
        if route.offer is not None:
            offers[route.offer.id] += 1
    # Within 1.5 points of the weights (about 6 standard deviations at this many draws).
    assert abs(paths["seventy"] / draws - 0.70) < 0.015
    assert abs(paths["thirty"] / draws - 0.30) < 0.015
    assert abs(landers[2] / paths["seventy"] - 0.75) < 0.015
    assert abs(offers[4] / paths["thirty"] - 0.50) < 0.015
    # Paused: never picked, yet still in the path (for /click/<n> and for turning back on).
    assert paths["paused"] == 0 and landers[3] == 0 and offers[6] == 0 and offers[7] == 0
    seventy = routes.find_path(None, "seventy")
    assert seventy is not None and [d.id for d in seventy.landers] == [1, 2, 3]


# --- validation -----------------------------------------------------------------------------------


def invalid_fields(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(InvalidSetup) as caught:
        call()
    return caught.value.fields


def test_validation_names_each_bad_place(
    db: Session, workspace: Workspace, setup: dict[str, Any]
) -> None:
    good = path([setup["offer_a"]])
    body = {
        "name": "Broken",
        "rules": [
            {
                "name": "R",
                "timezone": "Europe/Atlantis",
                "conditions": [
                    cond("planet", "in", "mars"),
                    cond("offer", "in", "1"),
                    cond("ip", "in_cidr", "10.0.0.0/8", "2001:db8::/129"),
                    cond("os_version", "between", "16.4", "14"),
                    cond("browser_version", "between", "latest", "2"),
                    cond("time_of_day", "between", "09:00", "9:00"),
                    cond("campaign", "in", "Summer sale"),
                    cond("country", "contains", "F"),
                    cond("referrer", "contains", " "),
                ],
                "paths": [good],
            },
            {"name": "Zero", "conditions": [cond("country", "in", "FR")], "paths": []},
        ],
        "default_paths": [
            {**good, "weight": 0},
            {"weight": 0, "landers": [{"id": setup["ios_lander"].id, "weight": 0}], "offers": []},
            {"weight": 0, "offers": [{"id": setup["offer_b"].id, "weight": 0}]},
        ],
    }
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert set(fields) == {
        "rules.0.timezone",
        "rules.0.conditions.0.field",
        "rules.0.conditions.1.field",
        "rules.0.conditions.2.values",
        "rules.0.conditions.3.values",
        "rules.0.conditions.4.values",
        "rules.0.conditions.5.values",
        "rules.0.conditions.6.values",
        "rules.0.conditions.7.op",
        "rules.0.conditions.8.values",
        "rules.1.paths",
        "default_paths.1.landers",
        "default_paths.1.offers",
        "default_paths.2.offers",
    }
    assert "planet" in fields["rules.0.conditions.0.field"]
    assert "the flow chooses the offer" in fields["rules.0.conditions.1.field"]
    assert "values.1" in fields["rules.0.conditions.2.values"]
    assert "first version is above" in fields["rules.0.conditions.3.values"]
    assert "not a version" in fields["rules.0.conditions.4.values"]
    assert "same time" in fields["rules.0.conditions.5.values"]
    assert "not an id" in fields["rules.0.conditions.6.values"]
    assert "add up to 0" in fields["default_paths.1.landers"]
    assert "add up to 0" in fields["default_paths.2.offers"]

    # With the paths fixed, the weights of all default paths still add up to 0.
    body["rules"] = []
    body["default_paths"] = [{**good, "weight": 0}, {**good, "weight": 0, "name": "b"}]
    assert (
        "add up to 0"
        in invalid_fields(lambda: services.create_flow(db, workspace.id, body))["default_paths"]
    )


def test_rule_names_and_path_labels_are_distinct(
    db: Session, workspace: Workspace, setup: dict[str, Any]
) -> None:
    good = path([setup["offer_a"]])
    rule = {"name": "GB", "conditions": [cond("country", "in", "GB")], "paths": [good]}
    body = {"name": "F", "rules": [rule, {**rule, "name": "gb"}], "default_paths": [good]}
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert "rules 0 and 1 are both named 'gb'" in fields["rules"]

    # An unnamed path is known by its position: "2" is taken by the path named "2" at place 1.
    body = {"name": "F", "rules": [], "default_paths": [{**good, "name": "2"}, good]}
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert "both known as '2'" in fields["default_paths"]

    body["default_paths"] = [{**good, "name": "Main"}, {**good, "name": "main"}]
    rule_body = {"name": "F", "rules": [{**rule, "paths": body["default_paths"]}]}
    rule_body["default_paths"] = [good]
    assert "rules.0.paths" in invalid_fields(
        lambda: services.create_flow(db, workspace.id, rule_body)
    )


def test_api_answers_422_naming_the_place(api: Callable[..., Any], setup: dict[str, Any]) -> None:
    client = api()
    good = path([setup["offer_a"]])
    answer = client.post(
        "/api/v1/flows",
        json={
            "name": "API flow",
            "rules": [
                {
                    "name": "Bad",
                    "conditions": [
                        cond("ip", "in_cidr", "300.1.1.0/24"),
                        cond("colour", "in", "x"),
                    ],
                    "paths": [{**good, "offers": [{"id": setup["offer_a"].id, "weight": 0}]}],
                }
            ],
            "default_paths": [good],
        },
    )
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {
        "rules.0.conditions.0.values",
        "rules.0.conditions.1.field",
        "rules.0.paths.0.offers",
    }
    assert "300.1.1.0/24" in error["fields"]["rules.0.conditions.0.values"]
    created = client.post(
        "/api/v1/flows",
        json={
            "name": "API flow",
            "rules": [
                {
                    "name": "iOS 14 to 16.4",
                    "conditions": [cond("os_version", "between", "14", "16_4")],
                    "paths": [good],
                }
            ],
            "default_paths": [good],
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["rules"][0]["conditions"][0]["values"] == ["14", "16.4"]


def test_a_stored_rule_that_cannot_be_checked_is_left_out(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = [
        {
            "name": "GB",
            "conditions": [cond("country", "in", "GB")],
            "paths": [path([setup["offer_a"]])],
        }
    ]
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    broken = [
        {"name": "Old", "conditions": [cond("shoe_size", "in", "42")], "paths": rules[0]["paths"]},
        {**rules[0], "timezone": "Mars/Olympus", "name": "Bad zone"},
        *rules,
    ]
    db.execute(update(Flow).where(Flow.id == flow.id).values(rules=broken))
    bump_setup_version(db)
    db.commit()
    tracking_state().snapshots.clear()
    caplog.set_level(logging.WARNING)
    assert hit(client, campaign.key, LONDON).location.startswith("https://a.example/")
    assert [r["rule"] for r in stored_visits(db)] == ["GB"]
    assert any("shoe_size" in r.getMessage() for r in caplog.records)
    assert any("Mars/Olympus" in r.getMessage() for r in caplog.records)


# --- changes reach every worker -------------------------------------------------------------------


@pytest.fixture
def second_app(database_url: str, tmp_root: Path, app: Flask) -> Iterator[Flask]:
    """Another process's app on the same store (its own snapshot cache and engine)."""
    other = create_app(base_settings(tmp_root, database_url, **ALL_GEOIP), TESTING=True)
    yield other
    with other.app_context():
        store.session.remove()
        store.engine.dispose()


def test_a_flow_change_reaches_another_app_on_its_next_visit(
    client: FlaskClient,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    setup: dict[str, Any],
    second_app: Flask,
) -> None:
    rules = [
        {
            "name": "GB",
            "conditions": [cond("country", "in", "GB")],
            "paths": [path([setup["offer_a"]])],
        }
    ]
    flow, campaign = flow_campaign(db, workspace, make_campaign, setup, rules)
    other = second_app.test_client()
    clock = [1000.0]
    cache = tracking_state(second_app).snapshots
    cache.clock = lambda: clock[0]
    assert hit(other, campaign.key, LONDON).location.startswith("https://a.example/")  # warm

    # Changed through the services, in this app: the other one has a cached snapshot.
    changed = [{**rules[0], "name": "US", "conditions": [cond("country", "in", "US")]}]
    services.update_flow(db, workspace.id, flow.id, {"rules": changed})
    db.commit()
    # The other app checks the setup version at most once per check interval (1 s)...
    clock[0] += cache.check_interval
    # ...so its next visit routes by the new rule, without a restart.
    assert hit(other, campaign.key, LONDON).location.startswith("https://c.example/")
    assert hit(other, campaign.key, MILTON).location.startswith("https://a.example/")
    assert [r["rule"] for r in stored_visits(db)] == ["GB", None, "US"]
