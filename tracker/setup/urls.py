"""The URLs a buyer copies out of the tracker: a campaign's URL for the ad platform, and the
postback URL for an affiliate network.

Macros are left exactly as the platform writes them (``${SUBID}``, ``{aff_sub}``, ``#s2#``): the
platform replaces them before the URL is called, so encoding them would break them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from tracker.models.setup import AffiliateNetwork, TrafficSource
from tracker.setup.presets import AffiliateNetworkPreset, UnknownPreset, affiliate_network_preset

POSTBACK_PATH = "/postback"
# What a buyer replaces by hand when the network is not a known one (Voluum's wording).
REPLACE = "REPLACE"
OPTIONAL = "OPTIONAL"


def tracking_parameters(source: TrafficSource | None) -> list[tuple[str, str]]:
    """The (parameter, placeholder) pairs a source fills in, in URL order: its click ID, its cost,
    then its variables. A parameter without a placeholder is one the platform appends by itself
    (gclid, fbclid), so it is read on visits but not written into the URL."""
    if source is None:
        return []
    pairs = [
        (source.external_id_param, source.external_id_placeholder),
        (source.cost_param, source.cost_placeholder),
    ]
    pairs += [(v.get("param", ""), v.get("placeholder", "")) for v in source.variables or []]
    return [(param, placeholder) for param, placeholder in pairs if param and placeholder]


def query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """``a=b&c=d`` with names encoded and values (macros) kept verbatim."""
    return "&".join(f"{quote(name, safe='[]._-~')}={value}" for name, value in pairs)


def campaign_url(base_url: str, key: str, source: TrafficSource | None) -> str:
    """The URL to paste into the ad platform: ``<base>/c/<key>?<param>=<placeholder>&...``."""
    url = f"{base_url.rstrip('/')}/c/{key}"
    query = query_string(tracking_parameters(source))
    return f"{url}?{query}" if query else url


def postback_base(base_url: str) -> str:
    return base_url.rstrip("/") + POSTBACK_PATH


def preset_postback_url(base_url: str, preset: AffiliateNetworkPreset) -> str:
    """The tracker's postback URL with a network's macros in place, to paste into that network."""
    return f"{postback_base(base_url)}?{query_string(preset.postback_macros)}"


def network_postback_url(base_url: str, network: AffiliateNetwork) -> str:
    """The postback URL to paste into this network: its preset's macros where it has one (else
    REPLACE/OPTIONAL markers for the buyer to fill in), and its secret as ``key``."""
    pairs: list[tuple[str, str]]
    try:
        pairs = list(affiliate_network_preset(network.preset or "").postback_macros)
    except UnknownPreset:
        pairs = [("cid", REPLACE), ("payout", OPTIONAL), ("txid", OPTIONAL)]
    if network.postback_secret:
        pairs.append(("key", quote(network.postback_secret, safe="")))
    return f"{postback_base(base_url)}?{query_string(pairs)}"


def offer_url_hint(network: AffiliateNetwork) -> str | None:
    """What to append to this network's offer URLs so our click ID travels (``aff_sub={clickid}``),
    when the network is a known one."""
    try:
        return affiliate_network_preset(network.preset or "").offer_url_suffix
    except UnknownPreset:
        return None
