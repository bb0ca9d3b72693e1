"""Setup services: create, change, archive, list, read; validation naming the place; workspace
isolation; and the setup version the hot path watches."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tracker.auth.services import get_or_create_workspace
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    CostModel,
    Lander,
    Offer,
    RedirectMode,
    TrafficSource,
    Workspace,
)
from tracker.setup import schemas, services
from tracker.setup.services import InvalidSetup, NotFound
from tracker.store import current_setup_version


def path(offer_id: int, lander_id: int | None = None, weight: int = 100) -> dict[str, Any]:
    landers = [{"id": lander_id, "weight": 100}] if lander_id else []
    return {"weight": weight, "landers": landers, "offers": [{"id": offer_id, "weight": 100}]}


def flow_body(offer_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Geo split",
        "rules": [
            {
                "name": "US mobile",
                "conditions": [
                    {"field": "country", "op": "in", "values": ["us", "CA"]},
                    {"field": "device_type", "op": "in", "values": ["Mobile"]},
                ],
                "paths": [path(offer_id)],
            }
        ],
        "default_paths": [path(offer_id)],
    }
    body.update(overrides)
    return body


def invalid_fields(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(InvalidSetup) as caught:
        call()
    assert caught.value.fields, "an invalid input names its places"
    return caught.value.fields


@pytest.fixture
def other_workspace(db: Session) -> Workspace:
    ws = get_or_create_workspace(db, "Other team")
    db.commit()
    return ws


# --- traffic sources -----------------------------------------------------------------------------


def test_create_traffic_source_from_a_preset_with_overrides(
    db: Session, workspace: Workspace
) -> None:
    source = services.create_traffic_source(
        db,
        workspace.id,
        {
            "preset": "propellerads",
            "name": "Propeller push",
            "cost_param": "",
            "cost_placeholder": "",
        },
    )
    db.commit()
    assert source.id and source.preset == "propellerads"
    assert source.name == "Propeller push"
    assert source.external_id_param == "visitor_id"
    assert source.cost_param == "" and source.cost_placeholder == ""
    assert source.variables[0] == {"name": "zone", "param": "zoneid", "placeholder": "${ZONEID}"}
    shown = services.describe_traffic_source(source)
    assert shown.tracking_parameters.startswith("visitor_id=${SUBID}&zoneid=${ZONEID}")


def test_cost_placeholder_without_a_parameter_is_refused(db: Session, workspace: Workspace) -> None:
    fields = invalid_fields(
        lambda: services.create_traffic_source(
            db, workspace.id, {"name": "S", "cost_param": "", "cost_placeholder": "{cost}"}
        )
    )
    assert fields == {"cost_placeholder": "a placeholder needs cost_param"}


def test_traffic_source_validation_names_each_field(db: Session, workspace: Workspace) -> None:
    fields = invalid_fields(
        lambda: services.create_traffic_source(
            db,
            workspace.id,
            {
                "name": " ",
                "external_id_param": "visitor id",
                "variables": [{"param": f"v{n}", "placeholder": "{x}"} for n in range(11)],
                "postback_url": "ftp://example.com/",
                "postback_statuses": ["approved", "sold"],
                "postback_success_pattern": "([",
            },
        )
    )
    assert set(fields) == {
        "name",
        "external_id_param",
        "variables",
        "postback_url",
        "postback_statuses.1",
        "postback_success_pattern",
    }
    assert "at most 10 variables" in fields["variables"]


def test_a_parameter_used_twice_is_refused(db: Session, workspace: Workspace) -> None:
    fields = invalid_fields(
        lambda: services.create_traffic_source(
            db,
            workspace.id,
            {
                "name": "S",
                "external_id_param": "clickid",
                "external_id_placeholder": "{clickid}",
                "variables": [{"name": "zone", "param": "clickid", "placeholder": "{zone}"}],
            },
        )
    )
    assert "var1" in fields["variables"] and "external_id_param" in fields["variables"]


def test_update_merges_and_revalidates_the_whole_source(
    db: Session, make_traffic_source: Callable[..., TrafficSource]
) -> None:
    source = make_traffic_source()
    updated = services.update_traffic_source(
        db,
        source.workspace_id,
        source.id,
        {"postback_url": "https://src.example/pb?c={externalid}"},
    )
    db.commit()
    assert updated.postback_url == "https://src.example/pb?c={externalid}"
    assert updated.external_id_param == "visitor_id"  # untouched
    fields = invalid_fields(
        lambda: services.update_traffic_source(
            db, source.workspace_id, source.id, {"external_id_param": ""}
        )
    )
    assert fields == {"external_id_placeholder": "a placeholder needs external_id_param"}
    fields = invalid_fields(
        lambda: services.update_traffic_source(
            db, source.workspace_id, source.id, {"preset": "exoclick"}
        )
    )
    assert "preset" in fields


# --- networks, offers, landers -------------------------------------------------------------------


def test_affiliate_network_checks_ips_statuses_and_params(
    db: Session, workspace: Workspace
) -> None:
    network = services.create_affiliate_network(
        db,
        workspace.id,
        {
            "name": "Net",
            "postback_secret": "",
            "allowed_ips": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"],
            "status_map": {"1": "Approved", "R": "rejected", "C": "chargeback"},
        },
    )
    assert network.postback_secret is None
    assert network.status_map == {"1": "approved", "R": "rejected", "C": "chargeback"}
    fields = invalid_fields(
        lambda: services.create_affiliate_network(
            db,
            workspace.id,
            {
                "name": "Net",
                "allowed_ips": ["203.0.113.0/24", "300.1.1.0/24"],
                "status_map": {"1": "sold"},
                "param_map": {"sum": "money"},
            },
        )
    )
    assert set(fields) == {"allowed_ips.1", "status_map.1", "param_map.sum"}


def test_offer_payout_is_exact_and_its_network_must_be_ours(
    db: Session,
    workspace: Workspace,
    other_workspace: Workspace,
    make_network: Callable[..., AffiliateNetwork],
) -> None:
    network = make_network()
    offer = services.create_offer(
        db,
        workspace.id,
        {
            "name": "Offer",
            "url": "https://offer.example/?s={clickid}",
            "affiliate_network_id": network.id,
            "payout": "1.234567",
            "currency": "eur",
        },
    )
    db.commit()
    assert offer.payout == Decimal("1.234567") and offer.currency == "EUR"
    foreign = AffiliateNetwork(workspace_id=other_workspace.id, name="Theirs")
    db.add(foreign)
    db.commit()
    fields = invalid_fields(
        lambda: services.update_offer(
            db, workspace.id, offer.id, {"affiliate_network_id": foreign.id}
        )
    )
    assert fields == {
        "affiliate_network_id": f"no affiliate network {foreign.id} in this workspace"
    }
    fields = invalid_fields(
        lambda: services.create_offer(
            db, workspace.id, {"name": "O", "url": "javascript:alert(1)", "payout": -1}
        )
    )
    assert set(fields) == {"url", "payout"}


def test_lander_offer_count_is_bounded(db: Session, workspace: Workspace) -> None:
    lander = services.create_lander(
        db, workspace.id, {"name": "L", "url": "https://lp.example/", "offer_count": 3}
    )
    assert lander.offer_count == 3
    fields = invalid_fields(
        lambda: services.update_lander(db, workspace.id, lander.id, {"offer_count": 0})
    )
    assert list(fields) == ["offer_count"]


# --- flows ---------------------------------------------------------------------------------------


def test_create_flow_normalises_condition_values(
    db: Session, workspace: Workspace, make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer()
    flow = services.create_flow(db, workspace.id, flow_body(offer.id))
    db.commit()
    rule = flow.rules[0]
    assert rule["conditions"][0] == {"field": "country", "op": "in", "values": ["US", "CA"]}
    assert rule["conditions"][1]["values"] == ["mobile"]
    # stored as written: no defaults filled in, so it reads back the way it was sent
    assert set(rule) == {"name", "conditions", "paths"}
    assert flow.default_paths == [path(offer.id)]
    shown = services.describe_flow(flow)
    assert shown.rules[0].match == "all" and shown.rules[0].timezone is None
    assert shown.default_paths[0].name == ""


def test_flow_condition_fields_ops_and_values(
    db: Session, workspace: Workspace, make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer()
    conditions = [
        {"field": "planet", "op": "in", "values": ["mars"]},
        {"field": "country", "op": "like", "values": ["US"]},
        {"field": "ip", "op": "in_cidr", "values": ["10.0.0.0/8", "10.0.0.300/8"]},
        {"field": "country", "op": "in_cidr", "values": ["10.0.0.0/8"]},
        {"field": "hour_of_day", "op": "between", "values": [9]},
        {"field": "time_of_day", "op": "between", "values": ["22:00", "06:30"]},
        {"field": "day_of_week", "op": "in", "values": ["Sat", "sunday", "funday"]},
        {"field": "unique", "op": "in", "values": [True]},
        {"field": "asn", "op": "in", "values": ["AS13335", 15169]},
        {"field": "var3", "op": "contains", "values": ["push"]},
    ]
    body = flow_body(offer.id)
    body["rules"][0]["conditions"] = conditions
    body["rules"][0]["timezone"] = "Mars/Olympus"
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert set(fields) == {
        "rules.0.conditions.0.field",
        "rules.0.conditions.1.op",
        "rules.0.conditions.2.values",
        "rules.0.conditions.3.op",
        "rules.0.conditions.4.values",
        "rules.0.conditions.6.values",
        "rules.0.timezone",
    }
    assert "values.1" in fields["rules.0.conditions.2.values"]
    assert "values.2" in fields["rules.0.conditions.6.values"]
    assert "planet" in fields["rules.0.conditions.0.field"]

    body["rules"][0]["conditions"] = [c for i, c in enumerate(conditions) if i in (5, 7, 8, 9)]
    body["rules"][0]["timezone"] = "Europe/Paris"
    flow = services.create_flow(db, workspace.id, body)
    stored = flow.rules[0]["conditions"]
    assert stored[0]["values"] == ["22:00", "06:30"]
    assert stored[1]["values"] == ["true"]
    assert stored[2]["values"] == ["13335", "15169"]
    assert flow.rules[0]["timezone"] == "Europe/Paris"


def test_flow_paths_are_checked_where_they_are(
    db: Session,
    workspace: Workspace,
    other_workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
) -> None:
    offer, lander = make_offer(), make_lander()
    theirs = Offer(workspace_id=other_workspace.id, name="Theirs", url="https://t.example/")
    db.add(theirs)
    db.commit()
    body = flow_body(offer.id)
    body["rules"][0]["paths"] = [
        path(offer.id, lander.id),
        {"weight": 50, "landers": [], "offers": []},
    ]
    body["default_paths"] = [{"weight": 0, "offers": [{"id": offer.id}]}]
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert fields == {
        "rules.0.paths.1.offers": "a path needs at least one offer",
        "default_paths": "the paths' weights add up to 0: give one a weight above 0",
    }

    body["rules"][0]["paths"] = [
        {"landers": [{"id": lander.id, "weight": 0}], "offers": [{"id": offer.id}]}
    ]
    body["default_paths"] = [{"offers": [{"id": offer.id, "weight": 0}]}]
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert set(fields) == {"rules.0.paths.0.landers", "default_paths.0.offers"}

    body["rules"][0]["paths"] = [path(theirs.id, lander_id=999_999)]
    body["default_paths"] = [path(offer.id)]
    fields = invalid_fields(lambda: services.create_flow(db, workspace.id, body))
    assert fields == {
        "rules.0.paths.0.landers.0.id": "no lander 999999 in this workspace",
        "rules.0.paths.0.offers.0.id": f"no offer {theirs.id} in this workspace",
    }


def test_archived_offers_stay_in_flows_that_already_used_them(
    db: Session, workspace: Workspace, make_offer: Callable[..., Offer]
) -> None:
    kept, other = make_offer(), make_offer(name="Other")
    flow = services.create_flow(db, workspace.id, flow_body(kept.id))
    services.archive_offer(db, workspace.id, kept.id)
    services.archive_offer(db, workspace.id, other.id)
    db.commit()
    renamed = services.update_flow(db, workspace.id, flow.id, {"name": "Renamed"})
    assert renamed.name == "Renamed"
    fields = invalid_fields(
        lambda: services.update_flow(db, workspace.id, flow.id, {"default_paths": [path(other.id)]})
    )
    assert fields == {"default_paths.0.offers.0.id": f"offer {other.id} is archived"}


# --- campaigns -----------------------------------------------------------------------------------


def test_create_campaign_with_a_path_and_a_fresh_key(
    db: Session,
    workspace: Workspace,
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Offer],
) -> None:
    source, offer = make_traffic_source(), make_offer()
    keys = set()
    for n in range(3):
        campaign = services.create_campaign(
            db,
            workspace.id,
            {
                "name": f"C{n}",
                "traffic_source_id": source.id,
                "cost_model": "cpm",
                "cost_value": "2.5",
                "destination": {"path": path(offer.id)},
                "redirect_mode": "double_meta",
            },
        )
        keys.add(campaign.key)
        assert len(campaign.key) == 10 and campaign.key.isalnum()
    db.commit()
    assert len(keys) == 3
    assert campaign.cost_model == CostModel.CPM and campaign.cost_value == Decimal("2.5")
    assert campaign.redirect_mode == RedirectMode.DOUBLE_META
    assert campaign.flow_id is None and campaign.path is not None
    shown = services.describe_campaign(db, campaign, "https://trk.example")
    assert shown.url == (
        f"https://trk.example/c/{campaign.key}?visitor_id=${{SUBID}}&cost=${{COST}}"
        "&zoneid=${ZONEID}"
    )


def test_campaign_cost_model_and_destination_rules(
    db: Session,
    workspace: Workspace,
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Offer],
) -> None:
    source, offer = make_traffic_source(), make_offer()
    base = {"name": "C", "traffic_source_id": source.id, "destination": {"path": path(offer.id)}}
    fields = invalid_fields(
        lambda: services.create_campaign(db, workspace.id, {**base, "cost_model": "cpc"})
    )
    assert fields == {"cost_value": "the cpc cost model needs a cost_value"}
    fields = invalid_fields(
        lambda: services.create_campaign(
            db, workspace.id, {**base, "cost_model": "revshare", "cost_value": 150}
        )
    )
    assert list(fields) == ["cost_value"]
    fields = invalid_fields(
        lambda: services.create_campaign(
            db,
            workspace.id,
            {**base, "destination": {"flow_id": 1, "path": path(offer.id)}},
        )
    )
    assert list(fields) == ["destination"]
    fields = invalid_fields(
        lambda: services.create_campaign(
            db,
            workspace.id,
            {**base, "traffic_source_id": 999_999, "destination": {"flow_id": 999_999}},
        )
    )
    assert set(fields) == {"traffic_source_id", "destination.flow_id"}
    fields = invalid_fields(
        lambda: services.create_campaign(
            db, workspace.id, {**base, "cost_model": "weekly", "redirect_mode": "301"}
        )
    )
    assert set(fields) == {"cost_model", "redirect_mode"}
    # auto reads each visit's cost: a fixed value is dropped
    campaign = services.create_campaign(
        db, workspace.id, {**base, "cost_model": "auto", "cost_value": 3}
    )
    assert campaign.cost_value is None


def test_campaign_switches_between_flow_and_path(
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    campaign, offer = make_campaign(), make_offer()
    flow = services.create_flow(db, workspace.id, flow_body(offer.id))
    switched = services.update_campaign(db, workspace.id, campaign.id, {"flow_id": flow.id})
    assert switched.flow_id == flow.id and switched.path is None
    key = switched.key
    back = services.update_campaign(
        db, workspace.id, campaign.id, schemas.CampaignPatch(destination={"path": path(offer.id)})
    )
    assert back.flow_id is None and back.path is not None and back.key == key


# --- every kind: lists, archive, workspaces, setup version ---------------------------------------


def _make_each(
    db: Session,
    workspace_id: int,
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> dict[str, Any]:
    offer, source = make_offer(), make_traffic_source()
    return {
        "traffic_source": services.create_traffic_source(db, workspace_id, {"preset": "mgid"}),
        "affiliate_network": services.create_affiliate_network(
            db, workspace_id, {"preset": "impact"}
        ),
        "offer": services.create_offer(
            db, workspace_id, {"name": "O", "url": "https://o.example/"}
        ),
        "lander": services.create_lander(
            db, workspace_id, {"name": "L", "url": "https://l.example/"}
        ),
        "flow": services.create_flow(db, workspace_id, flow_body(offer.id)),
        "campaign": services.create_campaign(
            db,
            workspace_id,
            {"name": "C", "traffic_source_id": source.id, "destination": {"path": path(offer.id)}},
        ),
    }


KINDS = ("traffic_source", "affiliate_network", "offer", "lander", "flow", "campaign")


def _service(verb: str, kind: str) -> Callable[..., Any]:
    plural = "list_" + kind + "s"
    return getattr(services, plural if verb == "list" else f"{verb}_{kind}")


def test_every_write_bumps_the_setup_version(
    db: Session,
    workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    before = current_setup_version(db)
    made = _make_each(db, workspace.id, make_offer, make_traffic_source)
    db.commit()
    after_creates = current_setup_version(db)
    assert after_creates >= before + len(KINDS)
    for kind, obj in made.items():
        version = current_setup_version(db)
        _service("update", kind)(db, workspace.id, obj.id, {"name": f"renamed {kind}"})
        assert current_setup_version(db) == version + 1, kind
        _service("archive", kind)(db, workspace.id, obj.id)
        assert current_setup_version(db) == version + 2, kind
        _service("archive", kind)(db, workspace.id, obj.id)  # already archived: no change
        assert current_setup_version(db) == version + 2, kind
        _service("restore", kind)(db, workspace.id, obj.id)
        assert current_setup_version(db) == version + 3, kind
    db.commit()


@pytest.mark.parametrize("kind", KINDS)
def test_lists_are_newest_first_paged_and_hide_archived(
    db: Session,
    workspace: Workspace,
    kind: str,
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    made = [_make_each(db, workspace.id, make_offer, make_traffic_source)[kind] for _ in range(3)]
    db.commit()
    listed = _service("list", kind)(db, workspace.id)
    ours = [o.id for o in listed.items if o.id in {m.id for m in made}]
    assert ours == [m.id for m in reversed(made)]
    page = _service("list", kind)(db, workspace.id, limit=1, offset=1)
    assert len(page.items) == 1 and page.total == listed.total
    _service("archive", kind)(db, workspace.id, made[0].id)
    db.commit()
    visible = {o.id for o in _service("list", kind)(db, workspace.id).items}
    assert made[0].id not in visible
    everything = {
        o.id for o in _service("list", kind)(db, workspace.id, include_archived=True).items
    }
    assert made[0].id in everything
    archived = _service("get", kind)(db, workspace.id, made[0].id)
    assert archived.archived_at is not None


@pytest.mark.parametrize("kind", KINDS)
def test_other_workspaces_objects_are_not_found(
    db: Session,
    workspace: Workspace,
    other_workspace: Workspace,
    kind: str,
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    obj = _make_each(db, workspace.id, make_offer, make_traffic_source)[kind]
    db.commit()
    for verb, args in (("get", ()), ("update", ({"name": "x"},)), ("archive", ())):
        with pytest.raises(NotFound):
            _service(verb, kind)(db, other_workspace.id, obj.id, *args)
    assert _service("list", kind)(db, other_workspace.id).total == 0


def test_list_filters_by_name(db: Session, workspace: Workspace) -> None:
    for name in ("Push US", "Pop DE", "push_100%"):
        services.create_lander(db, workspace.id, {"name": name, "url": "https://l.example/"})
    db.commit()
    names = {o.name for o in services.list_landers(db, workspace.id, name_contains="push").items}
    assert names == {"Push US", "push_100%"}
    literal = services.list_landers(db, workspace.id, name_contains="_100%").items
    assert [o.name for o in literal] == ["push_100%"]
