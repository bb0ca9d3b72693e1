"""What the demo buyer set up, through the setup services the pages and the API use: traffic
sources and affiliate networks from presets, offers, landers, a flow with rules, campaigns on
every cost model, conversion types; and how each behaves (who it reaches, how well it converts).

Behaviour lives beside the setup here so the numbers tell a story a buyer recognises: a push
campaign that pays in tier 1 and burns money elsewhere, a few zones that carry a campaign and
many that never convert, a campaign paused after a bad week, a partner paid by revenue share.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracker.conversions.event_types import create_type, list_types
from tracker.demo.audience import COUNTRIES
from tracker.extensions import DbSession
from tracker.models.setup import AffiliateNetwork, Campaign, Lander, Offer, TrafficSource
from tracker.setup import presets, services

# Where the demo's networks fire their postbacks from (TEST-NET ranges: documentation only).
NETWORK_IPS = {
    "everflow": "203.0.113.21",
    "affise": "198.51.100.40",
    "maxbounty": "192.0.2.77",
    "clickbank": "198.51.100.200",
}


@dataclass(frozen=True)
class Event:
    """One step of an offer's funnel: its ``et`` ("" for the main conversion), how likely it
    follows the step before, its payout range (None: the offer's default payout), and how
    many hours after the click it typically comes."""

    et: str
    probability: float
    payout: tuple[float, float] | None = None
    hours: float = 0.5


@dataclass
class NetworkProfile:
    """An affiliate network and how it talks: its secret, its IP, its status values."""

    network: AffiliateNetwork
    preset: str
    secret: str | None
    ip: str
    # Our status → the value the network sends (absent: it sends no status for that one).
    statuses: dict[str, str]


@dataclass
class OfferProfile:
    """An offer and how it converts: rate per click in its target countries and devices."""

    offer: Offer
    network: NetworkProfile
    conversion_rate: float
    funnel: tuple[Event, ...]
    countries: frozenset[str] | None = None  # None: worldwide
    os_families: frozenset[str] | None = None  # None: any
    declined: float = 0.04  # share of conversions the network declines later


@dataclass
class VariablePool:
    """Values of one campaign-URL variable (zones, sites): a few carry most traffic, and each
    has its own quality (a multiplier on conversions) when ``rated``."""

    values: tuple[str, ...]
    weights: tuple[float, ...]
    quality: dict[str, float]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.weights)[0]


@dataclass
class SourceProfile:
    """A traffic source: its devices, how its sub IDs, click IDs and referrers look."""

    source: TrafficSource
    preset: str | None
    devices: dict[str, float]
    external_id: Callable[[random.Random], str]
    referrer: Callable[[random.Random, dict[str, str]], str]


@dataclass
class CampaignProfile:
    """A campaign and its traffic: share of the month's visits, when it ran, countries."""

    campaign: Campaign
    source: SourceProfile
    share: float
    countries: dict[str, float]
    starts: float = 0.0  # fraction of the period when its traffic starts
    stops: float = 1.0  # ... and stops (paused at the source)
    quality: float = 1.0
    lander_ctr: float = 0.3
    # Costs: the source's bid per tier, sent in the cost parameter (cost model auto), or the
    # buyer's daily spend per visit, entered as manual cost updates (cost model none).
    bids: dict[int, tuple[float, float]] = field(default_factory=dict)
    daily_spend_per_visit: tuple[float, float] | None = None
    variables: dict[str, VariablePool | Callable[[random.Random, dict[str, Any]], str]] = field(
        default_factory=dict
    )


@dataclass
class Catalogue:
    """Everything the demo set up, with the profiles that drive its traffic."""

    sources: list[SourceProfile]
    networks: list[NetworkProfile]
    offers: dict[int, OfferProfile]
    landers: list[Lander]
    campaigns: list[CampaignProfile]
    flow_ids: list[int]


# --- value makers ----------------------------------------------------------------------------

_HEX = "0123456789abcdef"
_TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_SITE_WORDS = (
    "daily",
    "pixel",
    "sunny",
    "metro",
    "river",
    "quick",
    "smart",
    "happy",
    "gadget",
    "planet",
    "urban",
    "bright",
    "media",
    "tube",
    "play",
    "news",
    "hub",
    "zone",
    "wave",
    "spark",
)


def _hex(n: int) -> Callable[[random.Random], str]:
    return lambda rng: "".join(rng.choice(_HEX) for _ in range(n))


def _token(prefix: str, n: int) -> Callable[[random.Random], str]:
    return lambda rng: prefix + "".join(rng.choice(_TOKEN) for _ in range(n))


def _uuid(rng: random.Random) -> str:
    raw = "".join(rng.choice(_HEX) for _ in range(32))
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"


def _pool(
    rng: random.Random,
    count: int,
    make: Callable[[random.Random, int], str],
    rated: bool = True,
    skew: float = 1.1,
) -> VariablePool:
    """``count`` values, Zipf-weighted; rated ones get a quality from about 0 to 3: most
    average, some duds, a few gems."""
    values: list[str] = []
    while len(values) < count:
        value = make(rng, len(values))
        if value not in values:
            values.append(value)
    cumulative: list[float] = []
    total = 0.0
    for n in range(count):
        total += 1 / (n + 1) ** skew
        cumulative.append(total)
    quality = {}
    if rated:
        for value in values:
            roll = rng.random()
            quality[value] = 0.0 if roll < 0.25 else min(3.0, rng.lognormvariate(0, 0.6))
    return VariablePool(tuple(values), tuple(cumulative), quality)


def _number(low: int, high: int) -> Callable[[random.Random, int], str]:
    return lambda rng, _n: str(rng.randrange(low, high))


def _site(tld: str = "example") -> Callable[[random.Random, int], str]:
    return lambda rng, _n: f"{rng.choice(_SITE_WORDS)}{rng.choice(_SITE_WORDS)}.{tld}"


def _fixed(value: str) -> Callable[[random.Random, dict[str, Any]], str]:
    return lambda _rng, _visit: value


def _device_name(names: dict[str, str]) -> Callable[[random.Random, dict[str, Any]], str]:
    return lambda _rng, visit: names.get(visit["device_type"], "")


def _no_referrer(_rng: random.Random, _vars: dict[str, str]) -> str:
    return ""


def _referrer_from(var: str, share: float) -> Callable[[random.Random, dict[str, str]], str]:
    """The page the ad ran on, named by one of the visit's variables (a site)."""

    def referrer(rng: random.Random, variables: dict[str, str]) -> str:
        host = variables.get(var, "")
        if not host or rng.random() > share:
            return ""
        path = rng.choice(("", "article/", "video/", f"{rng.randrange(1000, 99999)}/"))
        return f"https://{host}/{path}"

    return referrer


def _one_of(
    choices: tuple[str, ...], share: float
) -> Callable[[random.Random, dict[str, str]], str]:
    def referrer(rng: random.Random, _vars: dict[str, str]) -> str:
        return rng.choice(choices) if rng.random() < share else ""

    return referrer


# --- creating it all ---------------------------------------------------------------------------


def _source(
    session: DbSession, workspace_id: int, preset: str | None, **fields: Any
) -> TrafficSource:
    # The demo's sources forward nothing: their presets' postback URLs point at real ad
    # platforms, which must never hear of made-up conversions.
    data: dict[str, Any] = {"postback_url": "", **fields}
    if preset:
        data["preset"] = preset
        data.setdefault("name", presets.traffic_source_preset(preset).name)
    return services.create_traffic_source(session, workspace_id, data)


def _network(
    session: DbSession, workspace_id: int, preset: str, statuses: dict[str, str], **fields: Any
) -> NetworkProfile:
    network = services.create_affiliate_network(session, workspace_id, {"preset": preset, **fields})
    return NetworkProfile(
        network, preset, network.postback_secret, NETWORK_IPS[preset], statuses=statuses
    )


def _offer_url(path: str, network: NetworkProfile) -> str:
    suffix = presets.affiliate_network_preset(network.preset).offer_url_suffix
    return f"https://offers.example/{path}?{suffix}"


def _ref(ident: int, weight: int = 100) -> dict[str, int]:
    return {"id": ident, "weight": weight}


def _conversion_types(session: DbSession, workspace_id: int) -> None:
    """The event types the demo's networks send (a type the workspace has is kept as it is)."""
    existing = list_types(session, workspace_id)
    names = {kind.name.lower() for kind in existing}
    taken = {str(et).lower() for kind in existing for et in kind.et_values or []}
    for name, et_values, counts, revenue in (
        ("Registration", ["registration", "reg"], False, True),
        ("Deposit", ["deposit", "ftd"], True, True),
        ("Install", ["install"], True, True),
        ("Purchase", ["purchase"], True, True),
    ):
        if name.lower() not in names and not taken & set(et_values):
            create_type(session, workspace_id, name, et_values, counts, revenue)


def create_catalogue(session: DbSession, workspace_id: int, rng: random.Random) -> Catalogue:
    """Create the demo's setup in the workspace (through the setup services; flushes only)."""
    # Traffic sources, from presets (one partner without one).
    propeller = _source(session, workspace_id, "propellerads")
    exoclick = _source(session, workspace_id, "exoclick")
    zeropark = _source(session, workspace_id, "zeropark")
    taboola = _source(session, workspace_id, "taboola")
    tiktok = _source(session, workspace_id, "tiktok")
    richads = _source(session, workspace_id, "richads")
    newsletter = _source(
        session,
        workspace_id,
        None,
        name="Newsletter partner",
        external_id_param="sid",
        external_id_placeholder="[SUBSCRIBER]",
        variables=[
            {"name": "list", "param": "list", "placeholder": "[LIST]"},
            {"name": "issue", "param": "issue", "placeholder": "[ISSUE]"},
        ],
    )
    sources = [
        SourceProfile(
            propeller,
            "propellerads",
            {"android": 55, "iphone": 30, "desktop": 11, "tablet": 3, "tv": 0.3},
            _hex(32),
            _no_referrer,
        ),
        SourceProfile(
            exoclick,
            "exoclick",
            {"desktop": 42, "android": 28, "iphone": 24, "tablet": 6},
            _token("", 40),
            _referrer_from("var5", 0.8),
        ),
        SourceProfile(
            zeropark,
            "zeropark",
            {"android": 82, "iphone": 6, "desktop": 10, "tablet": 2},
            _uuid,
            _no_referrer,
        ),
        SourceProfile(
            taboola,
            "taboola",
            {"desktop": 52, "iphone": 26, "android": 16, "tablet": 6},
            _token("GiA", 52),
            _referrer_from("var1", 0.9),
        ),
        SourceProfile(
            tiktok,
            "tiktok",
            {"iphone": 62, "android": 37, "tablet": 1},
            _token("E.C.P.", 48),
            _one_of(("https://www.tiktok.com/", "https://www.tiktok.com/foryou"), 0.35),
        ),
        SourceProfile(
            richads,
            "richads",
            {"android": 62, "iphone": 28, "desktop": 10},
            _hex(24),
            _no_referrer,
        ),
        SourceProfile(
            newsletter,
            None,
            {"desktop": 48, "iphone": 30, "android": 20, "tablet": 2},
            _token("s", 12),
            _one_of(("https://mail.google.com/", "https://outlook.live.com/"), 0.4),
        ),
    ]

    # Affiliate networks, from presets: one with a secret and an IP allow-list, two that send
    # their own status values.
    everflow = _network(
        session,
        workspace_id,
        "everflow",
        {"pending": "pending", "declined": "declined"},
        postback_secret="ef-" + "".join(rng.choice(_TOKEN) for _ in range(16)),
        allowed_ips=["203.0.113.0/24"],
    )
    affise = _network(
        session, workspace_id, "affise", {"approved": "1", "pending": "2", "declined": "3"}
    )
    maxbounty = _network(
        session, workspace_id, "maxbounty", {"pending": "pending", "declined": "declined"}
    )
    clickbank = _network(
        session, workspace_id, "clickbank", {"approved": "SALE", "declined": "RFND"}
    )
    networks = [everflow, affise, maxbounty, clickbank]

    def offer(
        name: str,
        path: str,
        network: NetworkProfile,
        payout: str | None,
        rate: float,
        funnel: tuple[Event, ...] = (Event("", 1.0),),
        countries: tuple[str, ...] | None = None,
        os_families: tuple[str, ...] | None = None,
        declined: float = 0.04,
    ) -> OfferProfile:
        created = services.create_offer(
            session,
            workspace_id,
            {
                "name": name,
                "url": _offer_url(path, network),
                "affiliate_network_id": network.network.id,
                "payout": payout,
            },
        )
        return OfferProfile(
            created,
            network,
            rate,
            funnel,
            frozenset(countries) if countries else None,
            frozenset(os_families) if os_families else None,
            declined,
        )

    sweeps_us = offer(
        "Sweepstakes iPhone 16 - US", "sweeps/us", everflow, "2.40", 0.075, countries=("US",)
    )
    sweeps_eu = offer(
        "Sweepstakes - Tier 1 EU",
        "sweeps/eu",
        everflow,
        "1.60",
        0.06,
        countries=("GB", "DE", "FR", "NL", "SE", "CH", "AT"),
    )
    sweeps_ww = offer("Sweepstakes - WW mobile", "sweeps/ww", affise, "0.32", 0.045)
    dating = offer(
        "Dating SOI - Tier 1",
        "dating/soi",
        affise,
        "3.20",
        0.02,
        countries=("US", "GB", "CA", "AU", "DE", "FR", "NL", "SE", "CH"),
    )
    vpn = offer(
        "VPN app - Android installs",
        "apps/vpn",
        maxbounty,
        "0.55",
        0.014,
        funnel=(Event("install", 1.0, hours=0.3), Event("purchase", 0.06, (11.99, 14.99), 30)),
        os_families=("Android",),
    )
    antivirus_a = offer(
        "Antivirus trial - US/CA",
        "security/trial",
        clickbank,
        None,
        0.035,
        funnel=(Event("", 1.0, (24.50, 44.95), 2),),
        countries=("US", "CA", "GB", "AU"),
        declined=0.07,
    )
    antivirus_b = offer(
        "PC cleaner - T1",
        "security/cleaner",
        clickbank,
        None,
        0.028,
        funnel=(Event("", 1.0, (19.95, 29.95), 2),),
        countries=("US", "CA", "GB", "AU"),
        declined=0.07,
    )
    casino = offer(
        "Casino FTD - CA/AU/NZ",
        "casino/ftd",
        everflow,
        "80.00",
        0.07,
        funnel=(Event("registration", 1.0, (0.0, 0.0), 0.2), Event("deposit", 0.22, None, 20)),
        countries=("CA", "AU", "NZ", "DE", "GB"),
    )
    nutra = offer(
        "Keto trial - DE/AT/CH",
        "nutra/keto",
        maxbounty,
        "31.00",
        0.012,
        countries=("DE", "AT", "CH"),
        declined=0.15,
    )
    offers = [sweeps_us, sweeps_eu, sweeps_ww, dating, vpn, antivirus_a, antivirus_b, casino, nutra]

    def lander(name: str, path: str, offer_count: int = 1) -> Lander:
        url = f"https://lp.example/{path}/?cid={{clickid}}&country={{country}}"
        return services.create_lander(
            session, workspace_id, {"name": name, "url": url, "offer_count": offer_count}
        )

    spin = lander("Spin the wheel", "spin")
    scratch = lander("Scratch card", "scratch")
    chat = lander("Dating - chat preview", "chat")
    scan = lander("Security scan - compare two", "scan", offer_count=2)
    advertorial = lander("Keto advertorial", "keto")
    bonus = lander("Casino welcome bonus", "bonus")
    landers = [spin, scratch, chat, scan, advertorial, bonus]

    flow = services.create_flow(
        session,
        workspace_id,
        {
            "name": "Sweeps by geo & device",
            "rules": [
                {
                    "name": "US mobile",
                    "conditions": [
                        {"field": "country", "op": "in", "values": ["US"]},
                        {"field": "device_type", "op": "in", "values": ["mobile", "tablet"]},
                    ],
                    "paths": [
                        {
                            "name": "Spin vs scratch",
                            "landers": [_ref(spin.id, 50), _ref(scratch.id, 50)],
                            "offers": [_ref(sweeps_us.offer.id)],
                        }
                    ],
                },
                {
                    "name": "Tier 1 Europe",
                    "conditions": [
                        {
                            "field": "country",
                            "op": "in",
                            "values": ["GB", "DE", "FR", "NL", "SE", "CH", "AT"],
                        }
                    ],
                    "paths": [{"landers": [_ref(spin.id)], "offers": [_ref(sweeps_eu.offer.id)]}],
                },
                {
                    "name": "Desktop straight to offer",
                    "conditions": [{"field": "device_type", "op": "in", "values": ["desktop"]}],
                    "paths": [{"offers": [_ref(sweeps_ww.offer.id)]}],
                },
            ],
            "default_paths": [
                {"landers": [_ref(scratch.id)], "offers": [_ref(sweeps_ww.offer.id)]}
            ],
        },
    )

    def campaign(
        name: str,
        source: TrafficSource,
        cost_model: str,
        cost_value: str | None,
        destination: dict[str, Any],
    ) -> Campaign:
        return services.create_campaign(
            session,
            workspace_id,
            {
                "name": name,
                "traffic_source_id": source.id,
                "cost_model": cost_model,
                "cost_value": cost_value,
                "destination": destination,
            },
        )

    worldwide = {country.code: country.share for country in COUNTRIES}
    campaigns = [
        CampaignProfile(
            campaign(
                "PropellerAds · Push · Sweeps WW", propeller, "auto", None, {"flow_id": flow.id}
            ),
            sources[0],
            share=0.31,
            countries=worldwide,
            lander_ctr=0.32,
            bids={1: (0.012, 0.03), 2: (0.004, 0.009), 3: (0.0015, 0.004)},
            variables={
                "var1": _pool(rng, 80, _number(3_100_000, 9_900_000)),
                "var2": _fixed(str(rng.randrange(7_000_000, 8_000_000))),
                "var3": _pool(rng, 4, _number(11_000_000, 12_000_000), rated=False),
            },
        ),
        CampaignProfile(
            campaign(
                "ExoClick · Popunder · Dating T1",
                exoclick,
                "cpm",
                "3.50",
                {"path": {"landers": [_ref(chat.id)], "offers": [_ref(dating.offer.id)]}},
            ),
            sources[1],
            share=0.2,
            countries={
                "US": 40,
                "GB": 12,
                "CA": 9,
                "AU": 7,
                "DE": 12,
                "FR": 8,
                "NL": 4,
                "SE": 2,
                "CH": 2,
                "IN": 2,
                "BR": 2,
            },
            lander_ctr=0.22,
            quality=0.95,
            variables={
                "var1": _pool(rng, 60, _number(2_000_000, 5_000_000)),
                "var2": _pool(rng, 120, _number(4_000_000, 5_500_000), rated=False),
                "var3": _fixed(str(rng.randrange(6_000_000, 7_000_000))),
                "var4": _pool(rng, 3, _number(1_000_000, 2_000_000), rated=False),
                "var5": _pool(rng, 60, _site(), rated=False),
            },
        ),
        CampaignProfile(
            campaign(
                "Zeropark · Pop · VPN Android",
                zeropark,
                "cpc",
                "0.009",
                {"path": {"offers": [_ref(vpn.offer.id)]}},
            ),
            sources[2],
            share=0.17,
            countries={c: w for c, w in worldwide.items() if c not in ("US", "JP", "KR")},
            quality=1.1,
            variables={
                "var1": _pool(rng, 150, lambda r, _n: f"{r.randrange(10_000, 99_999)}-pop"),
                "var2": _pool(rng, 12, lambda r, _n: f"src-{r.randrange(100, 999)}", rated=False),
                "var3": _fixed(_uuid(rng)),
                "var5": lambda _rng, visit: visit["country"].lower(),
            },
        ),
        CampaignProfile(
            campaign(
                "Taboola · Native · Security US/CA",
                taboola,
                "cpc",
                "0.16",
                {
                    "path": {
                        "landers": [_ref(scan.id)],
                        "offers": [_ref(antivirus_a.offer.id, 60), _ref(antivirus_b.offer.id, 40)],
                    }
                },
            ),
            sources[3],
            share=0.11,
            countries={"US": 62, "CA": 18, "GB": 12, "AU": 8},
            lander_ctr=0.18,
            variables={
                "var1": _pool(rng, 40, _site()),
                "var2": _pool(rng, 40, _number(1_000_000, 1_999_999), rated=False),
                "var3": _fixed(str(rng.randrange(20_000_000, 29_000_000))),
                "var4": _pool(rng, 6, _number(3_000_000_000, 3_999_999_999), rated=False),
                "var5": _device_name(
                    {"desktop": "Desktop", "mobile": "Smartphone", "tablet": "Tablet"}
                ),
            },
        ),
        CampaignProfile(
            campaign(
                "TikTok · Casino CA/AU",
                tiktok,
                "none",
                None,
                {"path": {"landers": [_ref(bonus.id)], "offers": [_ref(casino.offer.id)]}},
            ),
            sources[4],
            share=0.09,
            countries={"CA": 45, "AU": 35, "NZ": 8, "GB": 7, "DE": 5},
            starts=0.25,
            lander_ctr=0.24,
            daily_spend_per_visit=(0.11, 0.19),
            variables={
                "var1": _fixed(str(rng.randrange(1_700_000_000, 1_799_999_999))),
                "var2": _pool(rng, 5, _number(1_800_000_000, 1_899_999_999)),
                "var3": _pool(rng, 12, _number(1_900_000_000, 1_999_999_999), rated=False),
                "var4": _pool(rng, 2, lambda _r, n: ("TikTok", "Pangle")[n], rated=False),
                "var5": _fixed("Casino CA AU - broad"),
            },
        ),
        CampaignProfile(
            campaign(
                "RichAds · Push · Keto DE",
                richads,
                "cpa",
                "22.00",
                {"path": {"landers": [_ref(advertorial.id)], "offers": [_ref(nutra.offer.id)]}},
            ),
            sources[5],
            share=0.07,
            countries={"DE": 70, "AT": 18, "CH": 12},
            stops=0.7,
            lander_ctr=0.28,
            variables={
                "var1": _pool(rng, 30, _number(100_000, 999_999)),
                "var2": _pool(rng, 50, _number(1_000_000, 9_999_999), rated=False),
                "var3": _fixed(str(rng.randrange(500_000, 599_999))),
                "var4": _pool(rng, 4, _number(10_000, 99_999), rated=False),
            },
        ),
        CampaignProfile(
            campaign(
                "Newsletter · Sweeps US (revshare)",
                newsletter,
                "revshare",
                "40",
                {"path": {"offers": [_ref(sweeps_us.offer.id)]}},
            ),
            sources[6],
            share=0.05,
            countries={"US": 100},
            starts=0.55,
            quality=1.4,
            variables={
                "var1": _pool(
                    rng, 3, lambda _r, n: ("deals-daily", "winners-weekly", "vip-list")[n]
                ),
                "var2": lambda rng, visit: visit["created_at"].strftime("%Y-%m-%d"),
            },
        ),
    ]
    _conversion_types(session, workspace_id)
    return Catalogue(
        sources=sources,
        networks=networks,
        offers={profile.offer.id: profile for profile in offers},
        landers=landers,
        campaigns=campaigns,
        flow_ids=[flow.id],
    )
