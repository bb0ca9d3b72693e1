"""Traffic-source and affiliate-network presets: the catalogue, applying one, and the URLs built
from them."""

from __future__ import annotations

import re

import pytest

from tracker.models import AffiliateNetwork, TrafficSource
from tracker.setup import presets, schemas, urls
from tracker.setup.presets import UnknownPreset

SOURCE_IDS = {
    "propellerads",
    "exoclick",
    "zeropark",
    "trafficjunky",
    "popads",
    "richads",
    "mgid",
    "taboola",
    "outbrain",
    "meta",
    "googleads",
    "tiktok",
}
NETWORK_IDS = {"tune", "everflow", "cake", "affise", "clickbank", "maxbounty", "impact"}
# Our tokens a source postback URL may use (CONTRACT §1), and the markers a buyer replaces.
SOURCE_POSTBACK_TOKENS = {"externalid", "payout", "clickid"}


def test_the_catalogue_has_every_contract_preset_once() -> None:
    source_ids = [p.id for p in presets.traffic_source_presets()]
    network_ids = [p.id for p in presets.affiliate_network_presets()]
    assert set(source_ids) == SOURCE_IDS and len(source_ids) == len(SOURCE_IDS)
    assert set(network_ids) == NETWORK_IDS and len(network_ids) == len(NETWORK_IDS)
    for preset_id in source_ids + network_ids:
        assert preset_id == preset_id.lower() and preset_id.isalnum()


@pytest.mark.parametrize("preset", presets.traffic_source_presets(), ids=lambda p: p.id)
def test_every_source_preset_is_a_valid_traffic_source(preset: presets.TrafficSourcePreset) -> None:
    source = schemas.TrafficSourceIn.model_validate({"preset": preset.id})
    assert source.preset == preset.id
    assert source.name == preset.name
    assert source.external_id_param, "every source sends its click ID somewhere"
    assert len(source.variables) <= 10
    if preset.postback_url:
        assert "{externalid}" in preset.postback_url
        tokens = set(re.findall(r"\{(\w+)\}", preset.postback_url))
        assert tokens <= SOURCE_POSTBACK_TOKENS, tokens
    if preset.postback_success_pattern:
        re.compile(preset.postback_success_pattern)


@pytest.mark.parametrize("preset", presets.affiliate_network_presets(), ids=lambda p: p.id)
def test_every_network_preset_is_a_valid_network(preset: presets.AffiliateNetworkPreset) -> None:
    network = schemas.AffiliateNetworkIn.model_validate({"preset": preset.id})
    assert network.preset == preset.id
    assert network.name == preset.name
    ours = dict(preset.postback_macros)
    assert "cid" in ours and "payout" in ours and "txid" in ours
    assert set(network.param_map.values()) <= set(schemas.POSTBACK_PARAMS)
    assert set(network.status_map.values()) <= set(schemas.CONVERSION_STATUSES)
    if "status" in ours:
        assert network.status_map, "a network sending its status needs its values mapped"


def test_network_status_values_are_the_networks_own() -> None:
    affise = presets.affiliate_network_preset("affise")
    assert dict(affise.status_map) == {
        "1": "approved",
        "2": "pending",
        "3": "declined",
        "5": "pending",
    }
    impact = presets.affiliate_network_preset("impact")
    assert impact.status_map["PENDING"] == "pending"
    assert impact.status_map["APPROVED"] == "approved"
    assert impact.status_map["REVERSED"] == "declined"


def test_exoclick_success_pattern_refuses_an_error_inside_a_200() -> None:
    pattern = re.compile(presets.traffic_source_preset("exoclick").postback_success_pattern)
    assert pattern.search("OK")
    assert not pattern.search("ERROR: This conversion has already been notified and saved.")
    assert not pattern.search("ERROR: Tag is invalid!")


def test_applying_a_preset_lets_given_fields_win() -> None:
    data = presets.apply_traffic_source_preset(
        "PropellerAds", {"name": "Propeller push", "cost_param": "", "cost_placeholder": ""}
    )
    assert data["preset"] == "propellerads"
    assert data["name"] == "Propeller push"
    assert data["cost_param"] == ""
    assert data["external_id_param"] == "visitor_id"
    assert data["external_id_placeholder"] == "${SUBID}"
    network = presets.apply_affiliate_network_preset("tune", {"accept_duplicates": True})
    assert network["accept_duplicates"] is True
    assert network["param_map"]["aff_sub"] == "cid"


def test_an_unknown_preset_is_refused_by_name() -> None:
    with pytest.raises(UnknownPreset, match="nosuch"):
        presets.traffic_source_preset("nosuch")
    with pytest.raises(UnknownPreset):
        presets.apply_affiliate_network_preset("propellerads", {})  # a source, not a network


def test_campaign_url_keeps_the_sources_macros_verbatim() -> None:
    source = TrafficSource(
        external_id_param="visitor_id",
        external_id_placeholder="${SUBID}",
        cost_param="cost",
        cost_placeholder="${COST}",
        variables=[
            {"name": "zone", "param": "zoneid", "placeholder": "${ZONEID}"},
            {"name": "unused", "param": "", "placeholder": ""},
            {"name": "site", "param": "site", "placeholder": "{{site}}"},
        ],
    )
    url = urls.campaign_url("https://trk.example/", "AbC123xyz0", source)
    assert url == (
        "https://trk.example/c/AbC123xyz0"
        "?visitor_id=${SUBID}&cost=${COST}&zoneid=${ZONEID}&site={{site}}"
    )
    assert urls.campaign_url("https://trk.example", "k", None) == "https://trk.example/c/k"


def test_auto_tagged_click_ids_stay_out_of_the_campaign_url() -> None:
    fields = presets.traffic_source_preset("googleads").fields()
    source = TrafficSource(**fields)
    url = urls.campaign_url("https://trk.example", "key", source)
    assert "gclid" not in url
    assert "campaign_id={campaignid}" in url


def test_network_postback_url_uses_the_presets_macros_and_the_secret() -> None:
    network = AffiliateNetwork(preset="tune", postback_secret="s3cret+/")
    url = urls.network_postback_url("https://trk.example", network)
    assert url == (
        "https://trk.example/postback?cid={aff_sub}&payout={payout}&txid={transaction_id}"
        "&key=s3cret%2B%2F"
    )
    custom = AffiliateNetwork(preset=None, postback_secret=None)
    assert urls.network_postback_url("https://trk.example/", custom) == (
        "https://trk.example/postback?cid=REPLACE&payout=OPTIONAL&txid=OPTIONAL"
    )
    assert urls.offer_url_hint(network) == "aff_sub={clickid}"
    assert urls.offer_url_hint(custom) is None


def test_preset_postback_url_for_a_hash_token_network() -> None:
    cake = presets.affiliate_network_preset("cake")
    assert urls.preset_postback_url("http://127.0.0.1:8000", cake) == (
        "http://127.0.0.1:8000/postback?cid=#s2#&payout=#price#&txid=#leadid#"
    )
