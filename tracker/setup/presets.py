"""Known traffic sources and affiliate networks: the macros and postback formats each one uses.

A preset fills in a new source's or network's fields; anything the buyer gives beside it wins.
Values a buyer must still put in (an account ID, a goal ID) are written in capitals, e.g.
``YOUR_GOAL_ID``, and named in the preset's ``notes``. Macros were taken from each platform's
public documentation; platforms change them now and then, so each preset stays editable.

Tokens in source postback URLs are ours (CONTRACT §1): ``{externalid}`` is the source's own click
ID kept from the visit, ``{payout}`` the conversion's payout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TRAFFIC_SOURCE = "traffic_source"
AFFILIATE_NETWORK = "affiliate_network"


class UnknownPreset(ValueError):
    """No preset has that id."""

    def __init__(self, preset_id: object, known: list[str]) -> None:
        super().__init__(f"unknown preset {preset_id!r}; known: {', '.join(known)}")
        self.preset_id = preset_id


@dataclass(frozen=True)
class Variable:
    name: str
    param: str
    placeholder: str


@dataclass(frozen=True)
class TrafficSourcePreset:
    """What a traffic source fills into its campaign URLs, and where its conversions go."""

    id: str
    name: str
    external_id_param: str
    external_id_placeholder: str
    cost_param: str = ""
    cost_placeholder: str = ""
    variables: tuple[Variable, ...] = ()
    postback_url: str = ""
    # A regular expression a postback answer's body must match to count as delivered.
    postback_success_pattern: str = ""
    notes: str = ""

    @property
    def kind(self) -> str:
        return TRAFFIC_SOURCE

    def fields(self) -> dict[str, Any]:
        """The traffic-source fields this preset fills in."""
        return {
            "name": self.name,
            "external_id_param": self.external_id_param,
            "external_id_placeholder": self.external_id_placeholder,
            "cost_param": self.cost_param,
            "cost_placeholder": self.cost_placeholder,
            "variables": [
                {"name": v.name, "param": v.param, "placeholder": v.placeholder}
                for v in self.variables
            ],
            "postback_url": self.postback_url,
            "postback_success_pattern": self.postback_success_pattern,
        }


@dataclass(frozen=True)
class AffiliateNetworkPreset:
    """How a network carries our click ID, and the macros its postbacks can fill in."""

    id: str
    name: str
    # The offer-URL parameter that carries our click ID to the network: append
    # ``<click_id_param>={clickid}`` to the offer's URL.
    click_id_param: str
    # Our postback parameters and the network's macro for each, in URL order.
    postback_macros: tuple[tuple[str, str], ...]
    # The network's own status values, as sent, to ours.
    status_map: Mapping[str, str] = field(default_factory=dict)
    # The network's own parameter names to ours, for postbacks sent in the network's format.
    param_map: Mapping[str, str] = field(default_factory=dict)
    accept_duplicates: bool = False
    notes: str = ""

    @property
    def kind(self) -> str:
        return AFFILIATE_NETWORK

    @property
    def offer_url_suffix(self) -> str:
        """What to append to an offer URL of this network so the click ID travels."""
        return f"{self.click_id_param}={{clickid}}"

    def fields(self) -> dict[str, Any]:
        """The affiliate-network fields this preset fills in."""
        return {
            "name": self.name,
            "status_map": dict(self.status_map),
            "param_map": dict(self.param_map),
            "accept_duplicates": self.accept_duplicates,
        }


def _vars(*triples: tuple[str, str, str]) -> tuple[Variable, ...]:
    return tuple(Variable(*t) for t in triples)


TRAFFIC_SOURCE_PRESETS: tuple[TrafficSourcePreset, ...] = (
    TrafficSourcePreset(
        id="propellerads",
        name="PropellerAds",
        external_id_param="visitor_id",
        external_id_placeholder="${SUBID}",
        cost_param="cost",
        cost_placeholder="${COST}",
        variables=_vars(
            ("zone", "zoneid", "${ZONEID}"),
            ("campaign", "campaignid", "${CAMPAIGNID}"),
            ("banner", "bannerid", "${BANNERID}"),
        ),
        postback_url=(
            "https://ad.propellerads.com/conversion.php?aid=YOUR_AID&pid=&tid=YOUR_TID"
            "&visitor_id={externalid}&payout={payout}"
        ),
        notes="Replace YOUR_AID and YOUR_TID with the values of PropellerAds' tracking page.",
    ),
    TrafficSourcePreset(
        id="exoclick",
        name="ExoClick",
        external_id_param="conversions_tracking",
        external_id_placeholder="{conversions_tracking}",
        variables=_vars(
            ("site", "site_id", "{site_id}"),
            ("zone", "zone_id", "{zone_id}"),
            ("campaign", "campaign_id", "{campaign_id}"),
            ("variation", "variation_id", "{variation_id}"),
            ("hostname", "src_hostname", "{src_hostname}"),
        ),
        postback_url="https://main.exoclick.com/tag.php?goal=YOUR_GOAL_ID&tag={externalid}",
        # ExoClick answers 200 with "ERROR: ..." in the body when it refuses a conversion.
        postback_success_pattern=r"^\s*OK",
        notes="Replace YOUR_GOAL_ID with the 32-character goal ID of ExoClick's conversion "
        "tracking page; for dynamic values add &value={payout}.",
    ),
    TrafficSourcePreset(
        id="zeropark",
        name="Zeropark",
        external_id_param="cid",
        external_id_placeholder="{cid}",
        cost_param="cost",
        cost_placeholder="{visit_cost}",
        variables=_vars(
            ("target", "target", "{target}"),
            ("source", "source", "{source}"),
            ("campaign", "campaign_id", "{campaign_id}"),
            ("keyword", "keyword", "{keyword}"),
            ("geo", "geo", "{geo}"),
        ),
        postback_url="https://postback.zeropark.com/?cid={externalid}&payout={payout}",
    ),
    TrafficSourcePreset(
        id="trafficjunky",
        name="TrafficJunky",
        external_id_param="aclid",
        external_id_placeholder="{ACLID}",
        variables=_vars(
            ("spot", "spot_id", "{SpotID}"),
            ("site", "site_id", "{SiteID}"),
            ("campaign", "campaign_id", "{CampaignID}"),
            ("banner", "banner_id", "{BannerID}"),
        ),
        postback_url=(
            "https://ads.trafficjunky.net/ct?a=YOUR_ACCOUNT_ID&member_id=YOUR_MEMBER_ID"
            "&cb={clickid}&cti={clickid}&ctv={payout}&ctd=conversion&aclid={externalid}"
        ),
        notes="Replace YOUR_ACCOUNT_ID and YOUR_MEMBER_ID with the values TrafficJunky shows "
        "for its conversion tracking.",
    ),
    TrafficSourcePreset(
        id="popads",
        name="PopAds",
        external_id_param="impression_id",
        external_id_placeholder="[IMPRESSIONID]",
        cost_param="cost",
        cost_placeholder="[BID]",
        variables=_vars(
            ("website", "website_id", "[WEBSITEID]"),
            ("campaign", "campaign_id", "[CAMPAIGNID]"),
            ("category", "category_id", "[CATEGORYID]"),
            ("country", "country", "[COUNTRY]"),
        ),
        postback_url=(
            "https://serve.popads.net/cpixel.php?s2s=1&aid=YOUR_API_KEY&id={externalid}"
            "&value={payout}"
        ),
        notes="Replace YOUR_API_KEY with the key of PopAds' conversion tracking page.",
    ),
    TrafficSourcePreset(
        id="richads",
        name="RichAds",
        external_id_param="click_id",
        external_id_placeholder="[CLICK_ID]",
        variables=_vars(
            ("publisher", "publisher_id", "[PUBLISHER_ID]"),
            ("site", "site_id", "[SITE_ID]"),
            ("campaign", "campaign_id", "[CAMPAIGN_ID]"),
            ("creative", "creative_id", "[CREATIVE_ID]"),
        ),
        postback_url="https://xml.richpush.co/log?action=conversion&key={externalid}"
        "&price={payout}",
        notes="Compare the host with the postback link RichAds shows in the campaign's "
        "tracking settings.",
    ),
    TrafficSourcePreset(
        id="mgid",
        name="MGID",
        external_id_param="click_id",
        external_id_placeholder="{click_id}",
        cost_param="cost",
        cost_placeholder="{click_price}",
        variables=_vars(
            ("widget", "widget_id", "{widget_id}"),
            ("teaser", "teaser_id", "{teaser_id}"),
            ("campaign", "campaign_id", "{campaign_id}"),
            ("category", "category_id", "{category_id}"),
        ),
        postback_url="https://a.mgid.com/postback?c={externalid}&e=YOUR_EVENT_NAME&r={payout}",
        notes="Replace YOUR_EVENT_NAME with the event name of the MGID conversion goal.",
    ),
    TrafficSourcePreset(
        id="taboola",
        name="Taboola",
        external_id_param="click_id",
        external_id_placeholder="{click_id}",
        variables=_vars(
            ("site", "site", "{site}"),
            ("site id", "site_id", "{site_id}"),
            ("campaign", "campaign_id", "{campaign_id}"),
            ("item", "campaign_item_id", "{campaign_item_id}"),
            ("platform", "platform", "{platform}"),
        ),
        postback_url=(
            "https://trc.taboola.com/actions-handler/log/3/s2s-action?click-id={externalid}"
            "&name=YOUR_EVENT_NAME&revenue={payout}"
        ),
        notes="Replace YOUR_EVENT_NAME with the event name of the Taboola conversion.",
    ),
    TrafficSourcePreset(
        id="outbrain",
        name="Outbrain",
        external_id_param="ob_click_id",
        external_id_placeholder="{{ob_click_id}}",
        variables=_vars(
            ("section", "section_id", "{{section_id}}"),
            ("section name", "section_name", "{{section_name}}"),
            ("publisher", "publisher_id", "{{publisher_id}}"),
            ("ad", "ad_id", "{{ad_id}}"),
            ("campaign", "campaign_id", "{{campaign_id}}"),
        ),
        postback_url=(
            "https://tr.outbrain.com/unifiedPixel?ob_click_id={externalid}"
            "&name=YOUR_CONVERSION_NAME&orderValue={payout}"
        ),
        notes="Replace YOUR_CONVERSION_NAME with the name of the Outbrain conversion.",
    ),
    TrafficSourcePreset(
        id="meta",
        name="Meta",
        # Meta appends fbclid by itself; an empty placeholder keeps it out of the URL.
        external_id_param="fbclid",
        external_id_placeholder="",
        variables=_vars(
            ("campaign", "campaign_id", "{{campaign.id}}"),
            ("ad set", "adset_id", "{{adset.id}}"),
            ("ad", "ad_id", "{{ad.id}}"),
            ("placement", "placement", "{{placement}}"),
            ("site source", "site_source", "{{site_source_name}}"),
        ),
        notes="Meta takes conversions through its Conversions API, not a postback URL.",
    ),
    TrafficSourcePreset(
        id="googleads",
        name="Google Ads",
        # Auto-tagging appends gclid by itself.
        external_id_param="gclid",
        external_id_placeholder="",
        variables=_vars(
            ("campaign", "campaign_id", "{campaignid}"),
            ("ad group", "adgroup_id", "{adgroupid}"),
            ("creative", "creative", "{creative}"),
            ("keyword", "keyword", "{keyword}"),
            ("device", "device", "{device}"),
            ("network", "network", "{network}"),
            ("placement", "placement", "{placement}"),
        ),
        notes="Turn on auto-tagging; Google Ads imports conversions by gclid, not by postback.",
    ),
    TrafficSourcePreset(
        id="tiktok",
        name="TikTok",
        # TikTok appends ttclid by itself.
        external_id_param="ttclid",
        external_id_placeholder="",
        variables=_vars(
            ("campaign", "campaign_id", "__CAMPAIGN_ID__"),
            ("ad group", "adgroup_id", "__AID__"),
            ("ad", "ad_id", "__CID__"),
            ("placement", "placement", "__PLACEMENT__"),
            ("campaign name", "campaign_name", "__CAMPAIGN_NAME__"),
        ),
        notes="TikTok takes conversions through its Events API, not a postback URL.",
    ),
)

AFFILIATE_NETWORK_PRESETS: tuple[AffiliateNetworkPreset, ...] = (
    AffiliateNetworkPreset(
        id="tune",
        name="TUNE",
        click_id_param="aff_sub",
        postback_macros=(
            ("cid", "{aff_sub}"),
            ("payout", "{payout}"),
            ("txid", "{transaction_id}"),
        ),
        param_map={"aff_sub": "cid", "transaction_id": "txid"},
    ),
    AffiliateNetworkPreset(
        id="everflow",
        name="Everflow",
        click_id_param="sub1",
        postback_macros=(
            ("cid", "{sub1}"),
            ("payout", "{payout_amount}"),
            ("txid", "{transaction_id}"),
        ),
        param_map={"sub1": "cid", "payout_amount": "payout", "transaction_id": "txid"},
    ),
    AffiliateNetworkPreset(
        id="cake",
        name="CAKE",
        click_id_param="s2",
        postback_macros=(("cid", "#s2#"), ("payout", "#price#"), ("txid", "#leadid#")),
        param_map={"s2": "cid", "price": "payout", "leadid": "txid"},
        notes="s2 holds up to 100 characters; our click IDs fit.",
    ),
    AffiliateNetworkPreset(
        id="affise",
        name="Affise",
        click_id_param="sub1",
        postback_macros=(
            ("cid", "{sub1}"),
            ("payout", "{sum}"),
            ("txid", "{conversion_id}"),
            ("status", "{status}"),
        ),
        # 5 is "hold": not paid yet, so pending.
        status_map={"1": "approved", "2": "pending", "3": "declined", "5": "pending"},
        param_map={"sub1": "cid", "sum": "payout", "conversion_id": "txid"},
    ),
    AffiliateNetworkPreset(
        id="clickbank",
        name="ClickBank",
        click_id_param="tid",
        postback_macros=(
            ("cid", "{tid}"),
            ("payout", "{amount}"),
            ("txid", "{receipt}"),
            ("status", "{transactionType}"),
        ),
        # ClickBank's transaction types: sale, rebill, refund, chargeback.
        status_map={
            "SALE": "approved",
            "BILL": "approved",
            "RFND": "declined",
            "CGBK": "chargeback",
        },
        param_map={
            "tid": "cid",
            "amount": "payout",
            "receipt": "txid",
            "transactionType": "status",
        },
        notes="ClickBank keeps tid to 100 letters, digits and underscores; check the macro names "
        "against ClickBank's Postback/Pixels page.",
    ),
    AffiliateNetworkPreset(
        id="maxbounty",
        name="MaxBounty",
        click_id_param="s2",
        postback_macros=(("cid", "#S2#"), ("payout", "#RATE#"), ("txid", "#LEADID#")),
        param_map={"S2": "cid", "RATE": "payout", "LEADID": "txid"},
    ),
    AffiliateNetworkPreset(
        id="impact",
        name="Impact",
        click_id_param="subId1",
        postback_macros=(
            ("cid", "{SubId1}"),
            ("payout", "{Payout}"),
            ("txid", "{ActionId}"),
            ("status", "{ActionStatus}"),
        ),
        status_map={"PENDING": "pending", "APPROVED": "approved", "REVERSED": "declined"},
        param_map={
            "SubId1": "cid",
            "Payout": "payout",
            "ActionId": "txid",
            "ActionStatus": "status",
        },
        notes="Impact's macros are case-sensitive: {SubId1}, not {subid1}.",
    ),
)

_SOURCES = {p.id: p for p in TRAFFIC_SOURCE_PRESETS}
_NETWORKS = {p.id: p for p in AFFILIATE_NETWORK_PRESETS}


def traffic_source_presets() -> list[TrafficSourcePreset]:
    """Every traffic-source preset, in display order."""
    return list(TRAFFIC_SOURCE_PRESETS)


def affiliate_network_presets() -> list[AffiliateNetworkPreset]:
    """Every affiliate-network preset, in display order."""
    return list(AFFILIATE_NETWORK_PRESETS)


def traffic_source_preset(preset_id: str) -> TrafficSourcePreset:
    """The traffic-source preset with that id (case-insensitive); UnknownPreset otherwise."""
    preset = _SOURCES.get(preset_id.strip().lower()) if isinstance(preset_id, str) else None
    if preset is None:
        raise UnknownPreset(preset_id, list(_SOURCES))
    return preset


def affiliate_network_preset(preset_id: str) -> AffiliateNetworkPreset:
    """The affiliate-network preset with that id (case-insensitive); UnknownPreset otherwise."""
    preset = _NETWORKS.get(preset_id.strip().lower()) if isinstance(preset_id, str) else None
    if preset is None:
        raise UnknownPreset(preset_id, list(_NETWORKS))
    return preset


def apply_traffic_source_preset(preset_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's fields overlaid by ``data`` (what the buyer gave wins), with ``preset`` set."""
    preset = traffic_source_preset(preset_id)
    return {**preset.fields(), **data, "preset": preset.id}


def apply_affiliate_network_preset(preset_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's fields overlaid by ``data`` (what the buyer gave wins), with ``preset`` set."""
    preset = affiliate_network_preset(preset_id)
    return {**preset.fields(), **data, "preset": preset.id}
