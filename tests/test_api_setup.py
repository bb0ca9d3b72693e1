"""The setup API (/api/v1): CRUD of the six setup resources, roles, workspaces, errors, presets,
campaign URLs and the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import ApiClient
from tracker.models import AffiliateNetwork, Lander, Offer, TrafficSource, Workspace
from tracker.store import current_setup_version

RESOURCES = ("traffic-sources", "affiliate-networks", "offers", "landers", "flows", "campaigns")
API = "/api/v1"
TIMESTAMPS = ("created_at", "updated_at", "archived_at")

Bodies = Callable[[str], "tuple[dict[str, Any], dict[str, Any]]"]


def _path(offer_id: int, lander_id: int | None = None) -> dict[str, Any]:
    return {
        "weight": 100,
        "landers": [{"id": lander_id, "weight": 100}] if lander_id else [],
        "offers": [{"id": offer_id, "weight": 100}],
        "redirect_mode": None,
    }


@pytest.fixture
def bodies(
    workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
    make_traffic_source: Callable[..., TrafficSource],
    make_network: Callable[..., AffiliateNetwork],
) -> Bodies:
    """For a resource: a valid create body and a PATCH body changing one field."""

    def make(resource: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if resource == "traffic-sources":
            return (
                {
                    "name": "Zone source",
                    "external_id_param": "clickid",
                    "external_id_placeholder": "{clickid}",
                    "cost_param": "cost",
                    "cost_placeholder": "{cost}",
                    "variables": [{"name": "zone", "param": "zone", "placeholder": "{zone}"}],
                    "postback_url": "",
                },
                {"postback_url": "https://src.example/pb?c={externalid}&p={payout}"},
            )
        if resource == "affiliate-networks":
            return (
                {
                    "name": "Network",
                    "postback_secret": None,
                    "allowed_ips": ["203.0.113.0/24"],
                    "accept_duplicates": False,
                    "status_map": {"1": "approved", "2": "pending", "3": "declined"},
                },
                {"accept_duplicates": True},
            )
        if resource == "offers":
            network = make_network()
            return (
                {
                    "name": "Offer",
                    "url": "https://offer.example/?sub={clickid}",
                    "affiliate_network_id": network.id,
                    "payout": 2.5,
                },
                {"payout": "3.75"},
            )
        if resource == "landers":
            return (
                {"name": "Lander", "url": "https://lander.example/", "offer_count": 2},
                {"offer_count": 3},
            )
        offer, lander = make_offer(), make_lander()
        if resource == "flows":
            rule = {
                "name": "US",
                "conditions": [{"field": "country", "op": "in", "values": ["US"]}],
                "paths": [_path(offer.id, lander.id)],
            }
            return (
                {"name": "Flow", "rules": [rule], "default_paths": [_path(offer.id)]},
                {"rules": []},
            )
        source = make_traffic_source()
        return (
            {
                "name": "Campaign",
                "traffic_source_id": source.id,
                "cost_model": "cpc",
                "cost_value": 0.05,
                "destination": {"path": _path(offer.id)},
                "redirect_mode": "meta",
            },
            {"redirect_mode": "302"},
        )

    return make


def _shown(value: Any) -> Any:
    # Numbers may be sent as text ("3.75"); they are answered as numbers.
    if isinstance(value, str) and re.fullmatch(r"\d+\.\d+", value):
        return float(value)
    return value


def _assert_shows(answer: dict[str, Any], sent: dict[str, Any]) -> None:
    for name, value in sent.items():
        assert answer[name] == _shown(value), name


# --- CRUD ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_create_read_change_archive(
    api: Callable[..., ApiClient], bodies: Bodies, resource: str, db: Session
) -> None:
    buyer = api("buyer")
    create, patch = bodies(resource)
    version = current_setup_version(db)

    created = buyer.post(f"{API}/{resource}", json=create)
    assert created.status_code == 201, created.json
    body = created.json
    assert isinstance(body["id"], int) and body["workspace_id"]
    assert all(name in body for name in TIMESTAMPS) and body["archived_at"] is None
    expected = {k: v for k, v in create.items() if k != "destination"}
    _assert_shows(body, expected)
    assert created.headers["Location"].endswith(f"{API}/{resource}/{body['id']}")
    assert current_setup_version(db) > version

    read = buyer.get(f"{API}/{resource}/{body['id']}")
    assert read.status_code == 200 and read.json == body

    changed = buyer.patch(f"{API}/{resource}/{body['id']}", json=patch)
    assert changed.status_code == 200, changed.json
    _assert_shows(changed.json, patch)
    assert changed.json["name"] == create["name"]  # untouched fields stay

    gone = buyer.delete(f"{API}/{resource}/{body['id']}")
    assert gone.status_code == 204 and gone.data == b""
    still = buyer.get(f"{API}/{resource}/{body['id']}")
    assert still.status_code == 200 and still.json["archived_at"] is not None
    assert body["id"] not in [o["id"] for o in buyer.get(f"{API}/{resource}").json["items"]]
    with_archived = buyer.get(f"{API}/{resource}?include_archived=1").json["items"]
    assert body["id"] in [o["id"] for o in with_archived]


@pytest.mark.parametrize("resource", RESOURCES)
def test_lists_are_paged_newest_first(
    api: Callable[..., ApiClient], bodies: Bodies, resource: str
) -> None:
    buyer = api("buyer")
    ids = []
    for n in range(3):
        create, _ = bodies(resource)
        ids.append(buyer.post(f"{API}/{resource}", json={**create, "name": f"n{n}"}).json["id"])
    first = buyer.get(f"{API}/{resource}?per_page=2")
    assert first.status_code == 200
    assert set(first.json) == {"items", "total", "page", "per_page"}
    assert [o["id"] for o in first.json["items"]] == [ids[2], ids[1]]
    assert (first.json["total"], first.json["page"], first.json["per_page"]) == (3, 1, 2)
    second = buyer.get(f"{API}/{resource}?per_page=2&page=2").json
    assert [o["id"] for o in second["items"]] == [ids[0]]
    capped = buyer.get(f"{API}/{resource}?per_page=100000").json
    assert capped["per_page"] == 200
    assert buyer.get(f"{API}/{resource}?page=0").status_code == 400


@pytest.mark.parametrize("resource", RESOURCES)
def test_unknown_fields_and_bad_values_are_422_naming_them(
    api: Callable[..., ApiClient], bodies: Bodies, resource: str
) -> None:
    buyer = api("buyer")
    create, _ = bodies(resource)
    made = buyer.post(f"{API}/{resource}", json=create).json
    unknown = buyer.patch(f"{API}/{resource}/{made['id']}", json={"colour": "red", "name": "x"})
    assert unknown.status_code == 422
    assert unknown.json["error"]["code"] == "invalid"
    assert set(unknown.json["error"]["fields"]) == {"colour"}
    blank = buyer.patch(f"{API}/{resource}/{made['id']}", json={"name": " "})
    assert blank.status_code == 422 and set(blank.json["error"]["fields"]) == {"name"}
    assert blank.json["error"]["message"].startswith("name:")
    missing = buyer.post(f"{API}/{resource}", json={"workspace_id": made["workspace_id"]})
    assert missing.status_code == 422 and "name" in missing.json["error"]["fields"]
    assert buyer.get(f"{API}/{resource}/{made['id']}").json["name"] == made["name"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_viewers_read_and_buyers_write(
    api: Callable[..., ApiClient], bodies: Bodies, resource: str
) -> None:
    buyer, viewer = api("buyer"), api("viewer")
    create, patch = bodies(resource)
    made = buyer.post(f"{API}/{resource}", json=create).json
    assert viewer.get(f"{API}/{resource}").json["total"] == 1
    assert viewer.get(f"{API}/{resource}/{made['id']}").status_code == 200
    for response in (
        viewer.post(f"{API}/{resource}", json=create),
        viewer.patch(f"{API}/{resource}/{made['id']}", json=patch),
        viewer.delete(f"{API}/{resource}/{made['id']}"),
    ):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert buyer.get(f"{API}/{resource}/{made['id']}").json["archived_at"] is None


@pytest.mark.parametrize("resource", RESOURCES)
def test_other_workspaces_objects_answer_404(
    api: Callable[..., ApiClient], bodies: Bodies, resource: str
) -> None:
    ours = api("buyer")
    create, patch = bodies(resource)
    made = ours.post(f"{API}/{resource}", json=create).json
    theirs = api("admin", email="rival@example.com", workspace="Rival team")
    for response in (
        theirs.get(f"{API}/{resource}/{made['id']}"),
        theirs.patch(f"{API}/{resource}/{made['id']}", json=patch),
        theirs.delete(f"{API}/{resource}/{made['id']}"),
        theirs.get(f"{API}/{resource}/{made['id']}?workspace_id={made['workspace_id']}"),
    ):
        assert response.status_code == 404
    assert theirs.get(f"{API}/{resource}").json["total"] == 0
    assert theirs.get(f"{API}/{resource}/999999").status_code == 404
    assert ours.get(f"{API}/{resource}/{made['id']}").json["archived_at"] is None


@pytest.mark.parametrize("resource", RESOURCES)
def test_tokens_and_bodies_are_checked(
    client: FlaskClient, api: Callable[..., ApiClient], resource: str
) -> None:
    assert client.get(f"{API}/{resource}").status_code == 401
    bad = client.post(
        f"{API}/{resource}", json={"name": "x"}, headers={"Authorization": "Bearer trk_nope"}
    )
    assert bad.status_code == 401 and bad.json["error"]["code"] == "unauthorized"
    buyer = api("buyer")
    broken = buyer.post(
        f"{API}/{resource}", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json["error"]["code"] == "malformed"
    listed = buyer.post(f"{API}/{resource}", json=["a", "list"])
    assert listed.status_code == 400
    assert buyer.patch(f"{API}/{resource}/1", data="nope").status_code in (400, 404)


# --- workspaces ----------------------------------------------------------------------------------


def test_workspace_id_chooses_where_to_act(
    db: Session,
    api: Callable[..., ApiClient],
    make_user: Callable[..., Any],
    workspace: Workspace,
) -> None:
    from tracker.auth.services import get_or_create_workspace, set_role
    from tracker.models import Role

    buyer = api("buyer")
    second = get_or_create_workspace(db, "Second")
    set_role(db, buyer.user, second, Role.VIEWER)
    third = get_or_create_workspace(db, "Third")
    set_role(db, buyer.user, third, Role.ADMIN)
    db.commit()
    lander = {"name": "L", "url": "https://l.example/"}

    here = buyer.post(f"{API}/landers", json=lander).json
    assert here["workspace_id"] == workspace.id
    refused = buyer.post(f"{API}/landers", json={**lander, "workspace_id": second.id})
    assert refused.status_code == 403
    there = buyer.post(f"{API}/landers?workspace_id={third.id}", json=lander)
    assert there.status_code == 201 and there.json["workspace_id"] == third.id
    # by id, the object's own workspace is used when none is named
    assert buyer.get(f"{API}/landers/{there.json['id']}").status_code == 200
    assert buyer.patch(f"{API}/landers/{there.json['id']}", json={"name": "M"}).status_code == 200
    named_wrong = buyer.get(f"{API}/landers/{there.json['id']}?workspace_id={workspace.id}")
    assert named_wrong.status_code == 404
    assert [o["id"] for o in buyer.get(f"{API}/landers").json["items"]] == [here["id"]]
    listed = buyer.get(f"{API}/landers?workspace_id={third.id}").json["items"]
    assert [o["id"] for o in listed] == [there.json["id"]]
    assert buyer.get(f"{API}/landers?workspace_id=424242").status_code == 404
    assert buyer.get(f"{API}/landers?workspace_id=abc").status_code == 400


# --- presets and campaign URLs -------------------------------------------------------------------


def test_presets_are_listed_with_the_fields_they_fill(api: Callable[..., ApiClient]) -> None:
    answer = api("viewer").get(f"{API}/presets")
    assert answer.status_code == 200
    by_id = {p["id"]: p for p in answer.json["items"]}
    assert {"propellerads", "exoclick", "tiktok", "tune", "affise", "impact"} <= set(by_id)
    assert len(answer.json["traffic_sources"]) == 12
    assert len(answer.json["affiliate_networks"]) == 7
    propeller = by_id["propellerads"]
    assert propeller["kind"] == "traffic_source"
    assert propeller["fields"]["external_id_placeholder"] == "${SUBID}"
    tune = by_id["tune"]
    assert tune["kind"] == "affiliate_network"
    assert tune["postback_url"] == (
        "http://localhost/postback?cid={aff_sub}&payout={payout}&txid={transaction_id}"
    )
    assert tune["offer_url_suffix"] == "aff_sub={clickid}"
    assert by_id["affise"]["fields"]["status_map"]["5"] == "pending"


def test_create_from_a_preset_with_fields_beside_it(api: Callable[..., ApiClient]) -> None:
    buyer = api("buyer")
    source = buyer.post(
        f"{API}/traffic-sources", json={"preset": "exoclick", "name": "Exo pops"}
    ).json
    assert source["preset"] == "exoclick" and source["name"] == "Exo pops"
    assert source["external_id_placeholder"] == "{conversions_tracking}"
    assert source["postback_success_pattern"]
    network = buyer.post(
        f"{API}/affiliate-networks",
        json={"preset": "impact", "postback_secret": "k3y", "status_map": {"A": "approved"}},
    ).json
    assert network["name"] == "Impact" and network["status_map"] == {"A": "approved"}
    assert network["param_map"]["SubId1"] == "cid"
    assert network["postback_url"].startswith("http://localhost/postback?cid={SubId1}&")
    assert network["postback_url"].endswith("&key=k3y")
    unknown = buyer.post(f"{API}/traffic-sources", json={"preset": "myspace"})
    assert unknown.status_code == 422 and "preset" in unknown.json["error"]["fields"]


def test_campaign_answer_has_key_and_url(
    api: Callable[..., ApiClient],
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Offer],
) -> None:
    buyer = api("buyer")
    source, offer = make_traffic_source(), make_offer()
    keys = set()
    for name in ("A", "B"):
        answer = buyer.post(
            f"{API}/campaigns",
            json={
                "name": name,
                "traffic_source_id": source.id,
                "cost_model": "auto",
                "destination": {"path": _path(offer.id)},
                "redirect_mode": "302",
            },
        ).json
        key = answer["key"]
        assert re.fullmatch(r"[A-Za-z0-9]{8,12}", key)
        assert answer["url"] == (
            f"http://localhost/c/{key}?visitor_id=${{SUBID}}&cost=${{COST}}&zoneid=${{ZONEID}}"
        )
        assert answer["destination"] == {"path": _path(offer.id)}
        assert answer["cost_model"] == "auto" and answer["cost_value"] is None
        keys.add(key)
    assert len(keys) == 2
    cannot = buyer.patch(f"{API}/campaigns/{answer['id']}", json={"key": "mine"})
    assert cannot.status_code == 422 and "key" in cannot.json["error"]["fields"]


def test_flow_errors_name_their_place(
    api: Callable[..., ApiClient], make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer()
    answer = api("buyer").post(
        f"{API}/flows",
        json={
            "name": "F",
            "rules": [
                {
                    "name": "R",
                    "conditions": [
                        {"field": "ip", "op": "in_cidr", "values": ["10.0.0.0/33"]},
                        {"field": "os", "op": "matches", "values": ["iOS"]},
                    ],
                    "paths": [_path(offer.id), {"weight": 10, "offers": []}],
                }
            ],
            "default_paths": [_path(offer.id)],
        },
    )
    assert answer.status_code == 422
    assert set(answer.json["error"]["fields"]) == {
        "rules.0.conditions.0.values",
        "rules.0.conditions.1.op",
        "rules.0.paths.1.offers",
    }
    unknown_ids = api("buyer", email="b2@example.com").post(
        f"{API}/flows",
        json={"name": "F", "default_paths": [{"offers": [{"id": 987654}]}]},
    )
    assert unknown_ids.status_code == 422
    assert unknown_ids.json["error"]["fields"] == {
        "default_paths.0.offers.0.id": "no offer 987654 in this workspace"
    }


# --- the spec ------------------------------------------------------------------------------------


def test_openapi_documents_every_setup_endpoint(client: FlaskClient) -> None:
    spec = client.get(f"{API}/openapi.json").json
    schemas = spec["components"]["schemas"]

    def resolve(ref: dict[str, Any]) -> dict[str, Any]:
        name = ref["$ref"].rsplit("/", 1)[1]
        return schemas[name]  # type: ignore[no-any-return]

    for resource in RESOURCES:
        collection = spec["paths"][f"/{resource}"]
        item = spec["paths"][f"/{resource}/{{object_id}}"]
        assert set(collection) == {"get", "post"} and set(item) == {"get", "patch", "delete"}
        listed = collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert resolve(listed["properties"]["items"]["items"])["properties"]["id"]
        create_body = collection["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert "name" in resolve(create_body)["properties"]
        created = collection["post"]["responses"]["201"]["content"]["application/json"]["schema"]
        assert {"id", "created_at", "archived_at"} <= set(resolve(created)["properties"])
        patch_body = item["patch"]["requestBody"]["content"]["application/json"]["schema"]
        assert resolve(patch_body)["additionalProperties"] is False
        assert "204" in item["delete"]["responses"]
        for method in ("get", "patch", "delete"):
            assert "404" in item[method]["responses"]
    campaign = resolve({"$ref": "#/components/schemas/CampaignOut"})
    assert {"key", "url", "destination"} <= set(campaign["properties"])
    assert "/presets" in spec["paths"]


# --- end to end ----------------------------------------------------------------------------------


def test_a_campaign_set_up_through_the_api_redirects(
    client: FlaskClient, api: Callable[..., ApiClient]
) -> None:
    buyer = api("buyer")
    source = buyer.post(f"{API}/traffic-sources", json={"preset": "zeropark"}).json
    network = buyer.post(f"{API}/affiliate-networks", json={"preset": "tune"}).json
    offer = buyer.post(
        f"{API}/offers",
        json={
            "name": "Offer",
            "url": "https://offer.example/?aff_sub={clickid}",
            "affiliate_network_id": network["id"],
            "payout": 1.5,
        },
    ).json
    flow = buyer.post(
        f"{API}/flows",
        json={"name": "Flow", "default_paths": [{"offers": [{"id": offer["id"]}]}]},
    ).json
    campaign = buyer.post(
        f"{API}/campaigns",
        json={
            "name": "Pops",
            "traffic_source_id": source["id"],
            "cost_model": "auto",
            "destination": {"flow_id": flow["id"]},
        },
    ).json
    assert campaign["url"].startswith(f"http://localhost/c/{campaign['key']}?cid={{cid}}&")
    visit = client.get(f"/c/{campaign['key']}?cid=zp-123&cost=0.002&target=t1")
    assert visit.status_code == 302
    assert visit.headers["Location"].startswith("https://offer.example/?aff_sub=")


def test_out_of_range_ids_nul_characters_and_far_pages_are_4xx(
    api: Callable[..., ApiClient],
) -> None:
    buyer = api("buyer")
    assert buyer.get(f"{API}/offers/{2**40}").status_code == 404
    assert buyer.delete(f"{API}/flows/{10**20}").status_code == 404
    too_big = buyer.post(
        f"{API}/flows", json={"name": "F", "default_paths": [{"offers": [{"id": 2**40}]}]}
    )
    assert too_big.status_code == 422
    assert set(too_big.json["error"]["fields"]) == {"default_paths.0.offers.0.id"}
    nul = buyer.post(f"{API}/landers", json={"name": "a\x00b", "url": "https://l.example/"})
    assert nul.status_code == 422 and set(nul.json["error"]["fields"]) == {"name"}
    assert buyer.get(f"{API}/landers?q=a%00b").status_code == 200
    far = buyer.get(f"{API}/landers?page={10**24}")
    assert far.status_code == 200 and far.json["items"] == []
