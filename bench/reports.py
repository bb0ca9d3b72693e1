"""Report benchmark: realistic visits and conversions in a store of its own, then timed reports.

Run through the CLI: ``tracker bench reports [--visits N] [--database-url URL]``. The store is
built by the migrations, filled with bulk Core inserts (bounded batches), its rollups refreshed
as the worker would, then 30-day reports are timed cold (a new connection's first run) and warm
(median of the next runs): as the API asks for them (by traffic source; campaign → country;
traffic source → var1 (zone) → device type, all groups and the top 1,000), and as the report
page does (one level at a time, 1,000 rows at most, drilling into the top source and zone).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text

DAYS = 35
BATCH = 10_000
COUNTRIES = [
    ("US", 22),
    ("DE", 8),
    ("GB", 7),
    ("FR", 6),
    ("BR", 6),
    ("IN", 6),
    ("ID", 5),
    ("MX", 4),
    ("IT", 4),
    ("ES", 4),
    ("CA", 3),
    ("PL", 3),
    ("TR", 3),
    ("VN", 3),
    ("TH", 3),
    ("PH", 2),
    ("NL", 2),
    ("AU", 2),
    ("JP", 2),
    ("KR", 1),
    ("AR", 1),
    ("CO", 1),
    ("ZA", 1),
    ("EG", 1),
    ("NG", 1),
    ("SE", 1),
    ("RO", 1),
    ("UA", 1),
    ("PK", 1),
    ("MY", 1),
]
DEVICES = [
    ("mobile", 64, ["Android", "iOS"], ["Chrome Mobile", "Samsung Internet", "Mobile Safari"]),
    ("desktop", 30, ["Windows", "Mac OS X", "Linux"], ["Chrome", "Edge", "Firefox", "Safari"]),
    ("tablet", 5, ["Android", "iOS"], ["Chrome Mobile", "Mobile Safari"]),
    ("tv", 1, ["Tizen"], ["Samsung Internet"]),
]
BRANDS = ["Samsung", "Apple", "Xiaomi", "Huawei", "Oppo", "Vivo", "Motorola", "Google", ""]
ISPS = ["Comcast", "Verizon", "Deutsche Telekom", "Vodafone", "Orange", "Jio", "Telkomsel", "AT&T"]
CONNECTIONS = ["Cellular", "Cable/DSL", "Corporate", "Satellite"]
LANGUAGES = ["en", "de", "fr", "es", "pt", "id", "hi", "it", "tr", "vi"]
SOURCES = [
    "PropellerAds",
    "ExoClick",
    "Zeropark",
    "TrafficJunky",
    "PopAds",
    "RichAds",
    "MGID",
    "Taboola",
]


@dataclass
class Setup:
    workspace_id: int
    campaigns: list[dict[str, Any]]


def _ua(i: int) -> str:
    return (
        f"Mozilla/5.0 (Linux; Android {8 + i % 7}; SM-G{900 + i % 97}F) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{100 + i % 30}.0.{4000 + i * 7 % 900}.{i % 200} "
        "Mobile Safari/537.36"
    )


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (k**s) for k in range(1, n + 1)]


def make_setup(engine: Engine, rng: random.Random, campaigns: int = 60) -> Setup:
    """A workspace with sources, networks, offers, landers and campaigns (Core inserts)."""
    from tracker.models import AffiliateNetwork, Campaign, Lander, Offer, TrafficSource, Workspace

    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        workspace_id = conn.execute(
            insert(Workspace)
            .values(name="Bench", is_default=True, created_at=now)
            .returning(Workspace.id)
        ).scalar_one()
        source_ids = [
            conn.execute(
                insert(TrafficSource)
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    variables=[],
                    postback_statuses=["approved"],
                    **stamp,
                )
                .returning(TrafficSource.id)
            ).scalar_one()
            for name in SOURCES
        ]
        network_ids = [
            conn.execute(
                insert(AffiliateNetwork)
                .values(
                    workspace_id=workspace_id,
                    name=f"Network {n}",
                    allowed_ips=[],
                    status_map={},
                    param_map={},
                    **stamp,
                )
                .returning(AffiliateNetwork.id)
            ).scalar_one()
            for n in range(1, 5)
        ]
        offers = []
        for n in range(1, 31):
            payout = Decimal(rng.choice(["0.80", "1.50", "2.40", "4.00", "7.50", "12.00"]))
            offer_id = conn.execute(
                insert(Offer)
                .values(
                    workspace_id=workspace_id,
                    name=f"Offer {n}",
                    url="https://offer.example/?c={clickid}",
                    affiliate_network_id=network_ids[n % len(network_ids)],
                    payout=payout,
                    **stamp,
                )
                .returning(Offer.id)
            ).scalar_one()
            offers.append((offer_id, payout))
        lander_ids = [
            conn.execute(
                insert(Lander)
                .values(
                    workspace_id=workspace_id,
                    name=f"Lander {n}",
                    url="https://lp.example/",
                    offer_count=1,
                    **stamp,
                )
                .returning(Lander.id)
            ).scalar_one()
            for n in range(1, 21)
        ]
        result = []
        for n in range(1, campaigns + 1):
            source_id = source_ids[n % len(source_ids)]
            offer_id, payout = offers[n % len(offers)]
            lander_id = lander_ids[n % len(lander_ids)] if n % 5 else None  # a fifth go direct
            cost_value = Decimal(rng.choice(["0.0008", "0.0015", "0.003", "0.006"]))
            campaign_id = conn.execute(
                insert(Campaign)
                .values(
                    workspace_id=workspace_id,
                    name=f"Campaign {n:02d}",
                    key=f"bench{n:04d}",
                    traffic_source_id=source_id,
                    cost_model="cpc",
                    cost_value=cost_value,
                    path={
                        "weight": 100,
                        "landers": [],
                        "offers": [{"id": offer_id, "weight": 100}],
                    },
                    redirect_mode="302",
                    critical_client_hints=False,
                    **stamp,
                )
                .returning(Campaign.id)
            ).scalar_one()
            result.append(
                {
                    "id": campaign_id,
                    "source_id": source_id,
                    "offer_id": offer_id,
                    "network_id": network_ids[n % len(network_ids)],
                    "payout": payout,
                    "lander_id": lander_id,
                    "cost": cost_value,
                    "cr": rng.uniform(0.5, 3.5) / 100,
                }
            )
    return Setup(workspace_id, result)


def _hour_weights() -> list[float]:
    # Evening peak, night trough: what ad traffic looks like in UTC for a mostly-western audience.
    return [
        0.5,
        0.4,
        0.35,
        0.3,
        0.3,
        0.35,
        0.5,
        0.7,
        0.9,
        1.0,
        1.0,
        1.05,
        1.1,
        1.1,
        1.15,
        1.2,
        1.3,
        1.4,
        1.5,
        1.55,
        1.5,
        1.3,
        1.0,
        0.7,
    ]


def generate(
    engine: Engine, setup: Setup, visits: int, seed: int, progress: Callable[[int], None]
) -> int:
    """Insert ``visits`` visits over the last DAYS days and ~2% conversions; returns conversions."""
    from tracker.models import Conversion, Visit

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    hours = DAYS * 24
    hour_weights = [_hour_weights()[(h + start.hour) % 24] for h in range(hours)]
    campaign_weights = _zipf_weights(len(setup.campaigns), 0.8)
    zones = {
        c["source_id"]: [str(rng.randint(100000, 9999999)) for _ in range(3000)]
        for c in setup.campaigns
    }
    zone_weights = _zipf_weights(3000, 1.05)
    user_agents = [_ua(i) for i in range(400)]
    country_codes = [c for c, _ in COUNTRIES]
    country_weights = [w for _, w in COUNTRIES]
    device_weights = [d[1] for d in DEVICES]
    with engine.connect() as conn:
        first_id = (conn.execute(select(func.max(Visit.id))).scalar() or 0) + 1
        first_conversion = (conn.execute(select(func.max(Conversion.id))).scalar() or 0) + 1
    next_id, next_conversion, conversions = first_id, first_conversion, 0
    remaining = visits
    while remaining:
        n = min(BATCH, remaining)
        hours_picked = rng.choices(range(hours), weights=hour_weights, k=n)
        campaigns_picked = rng.choices(setup.campaigns, weights=campaign_weights, k=n)
        countries = rng.choices(country_codes, weights=country_weights, k=n)
        devices = rng.choices(DEVICES, weights=device_weights, k=n)
        zone_ranks = rng.choices(range(3000), weights=zone_weights, k=n)
        visit_rows: list[dict[str, Any]] = []
        conversion_rows: list[dict[str, Any]] = []
        for i in range(n):
            campaign = campaigns_picked[i]
            created = start + timedelta(hours=hours_picked[i], seconds=rng.randrange(3600))
            device = devices[i]
            is_bot = rng.random() < 0.03
            clicks = 1 if campaign["lander_id"] is None else 1 if rng.random() < 0.25 else 0
            visit_id = next_id
            next_id += 1
            click_id = f"bench{visit_id:015x}"
            visit_rows.append(
                {
                    "id": visit_id,
                    "click_id": click_id,
                    "created_at": created,
                    "workspace_id": setup.workspace_id,
                    "campaign_id": campaign["id"],
                    "traffic_source_id": campaign["source_id"],
                    "flow_id": None,
                    "rule": "",
                    "path": "1",
                    "lander_id": campaign["lander_id"],
                    "offer_id": campaign["offer_id"] if clicks else None,
                    "clicks": clicks,
                    "clicked_at": created + timedelta(seconds=5) if clicks else None,
                    "ip": ".".join(str(rng.randint(1, 254)) for _ in range(4)),
                    "user_agent": user_agents[rng.randrange(len(user_agents))],
                    "is_bot": is_bot,
                    "is_unique": rng.random() < 0.85,
                    "device_type": device[0],
                    "brand": rng.choice(BRANDS) if device[0] != "desktop" else "",
                    "model": "",
                    "os": rng.choice(device[2]),
                    "os_version": str(rng.randint(9, 17)),
                    "browser": rng.choice(device[3]),
                    "browser_version": str(rng.randint(100, 130)),
                    "country": countries[i],
                    "region": "",
                    "city": "",
                    "isp": rng.choice(ISPS),
                    "asn": rng.randint(1000, 60000),
                    "connection_type": rng.choice(CONNECTIONS),
                    "language": rng.choice(LANGUAGES),
                    "referrer": "",
                    "referrer_domain": "",
                    "external_id": f"ext{visit_id}",
                    "cost": campaign["cost"],
                    "var1": zones[campaign["source_id"]][zone_ranks[i]],
                    "var2": str(rng.randint(1, 50)),
                    **{f"var{k}": "" for k in range(3, 11)},
                }
            )
            if clicks and not is_bot and rng.random() < campaign["cr"] * 3.2:
                status = rng.choices(["approved", "pending", "declined"], weights=[85, 10, 5])[0]
                # Posted 1 to 600 minutes after the visit, changed since, never in the future.
                posted = min(created + timedelta(minutes=rng.randint(1, 600)), end)
                changed = min(created + timedelta(minutes=rng.randint(1, 600)), end)
                conversion_rows.append(
                    {
                        "id": next_conversion,
                        "dedupe_key": f"{click_id}||",
                        "workspace_id": setup.workspace_id,
                        "visit_id": visit_id,
                        "click_id": click_id,
                        "campaign_id": campaign["id"],
                        "offer_id": campaign["offer_id"],
                        "affiliate_network_id": campaign["network_id"],
                        "txid": "",
                        "et": "",
                        "status": status,
                        "payout": campaign["payout"],
                        "currency": "USD",
                        "visit_at": created,
                        "created_at": posted,
                        "updated_at": max(posted, changed),
                        **{f"param{k}": "" for k in range(1, 6)},
                    }
                )
                next_conversion += 1
        with engine.begin() as conn:
            conn.execute(insert(Visit), visit_rows)
            if conversion_rows:
                conn.execute(insert(Conversion), conversion_rows)
        conversions += len(conversion_rows)
        remaining -= n
        progress(n)
    return conversions


def _slots(weights: list[float], size: int) -> list[int]:
    """Positions 1..n repeated in proportion to ``weights`` (at least once each): a uniform
    pick from the list is a weighted pick, which SQL can do with one array subscript."""
    total = sum(weights)
    slots: list[int] = []
    for position, weight in enumerate(weights, start=1):
        slots.extend([position] * max(1, round(weight * size / total)))
    return slots


def _spread(options: list[str], width: int) -> list[str]:
    # Each device's OS (or browser) choices repeated to a common width, for one flat array.
    return [options[k % len(options)] for k in range(width)]


# One INSERT … SELECT per batch of hours: the server draws every random value itself, so no
# row crosses the wire (10 M visits took 38 min as client-side batches).
_PG_VISITS = """
INSERT INTO visit (id, click_id, created_at, workspace_id, campaign_id, traffic_source_id,
    flow_id, rule, path, lander_id, offer_id, clicks, clicked_at, ip, user_agent, is_bot,
    is_unique, device_type, brand, model, os, os_version, browser, browser_version, country,
    region, city, isp, asn, connection_type, language, referrer, referrer_domain, external_id,
    cost, var1, var2, var3, var4, var5, var6, var7, var8, var9, var10)
SELECT id, 'bench' || lpad(to_hex(id), 15, '0'), created_at, :workspace_id,
    (CAST(:campaign_ids AS int[]))[c], (CAST(:source_ids AS int[]))[c], NULL, '', '1',
        (CAST(:lander_ids AS int[]))[c],
    CASE WHEN clicks = 1 THEN (CAST(:offer_ids AS int[]))[c] END, clicks,
    CASE WHEN clicks = 1 THEN created_at + interval '5 seconds' END,
    concat_ws('.', 1 + (r_ip * 254)::int % 254, 1 + (r_ip * 64516)::int % 254,
        1 + (r_ip * 16387064)::int % 254, 1 + (r_ip * 4162314256)::bigint % 254),
    (CAST(:user_agents AS text[]))[1 + floor(r_ua * 400)::int], is_bot, r_unique < 0.85,
    (CAST(:device_names AS text[]))[d],
        CASE WHEN d = 2 THEN '' ELSE (CAST(:brands AS text[]))[1 + floor(r_brand * 9)::int] END,
    '', (CAST(:oses AS text[]))[(d - 1) * 6 + 1 + floor(r_os * 6)::int],
        (9 + floor(r_osv * 9))::int::text,
    (CAST(:browsers AS text[]))[(d - 1) * 12 + 1 + floor(r_browser * 12)::int],
    (100 + floor(r_bv * 31))::int::text, (CAST(:countries AS text[]))[country], '', '',
    (CAST(:isps AS text[]))[1 + floor(r_isp * 8)::int], 1000 + floor(r_asn * 59001)::int,
    (CAST(:connections AS text[]))[1 + floor(r_conn * 4)::int],
        (CAST(:languages AS text[]))[1 + floor(r_lang * 10)::int],
    '', '', 'ext' || id, (CAST(:costs AS numeric[]))[c],
    (CAST(:zones AS int[]))[((CAST(:source_positions AS int[]))[c] - 1) * 3000 + zone]::text,
    (1 + floor(r_var2 * 50))::int::text, '', '', '', '', '', '', '', ''
FROM (
    SELECT g.id,
        (CAST(:campaign_slots AS int[]))[1 + floor(random() * :campaign_slot_count)::int] AS c,
        :start + make_interval(hours => h.hour, secs => floor(random() * 3600)) AS created_at,
        (CAST(:device_slots AS int[]))[1 + floor(random() * :device_slot_count)::int] AS d,
        (CAST(:country_slots AS int[]))[1 + floor(random() * :country_slot_count)::int] AS country,
        (CAST(:zone_slots AS int[]))[1 + floor(random() * :zone_slot_count)::int] AS zone,
        random() < 0.03 AS is_bot, random() AS r_click, random() AS r_ip,
        random() AS r_ua, random() AS r_unique, random() AS r_brand, random() AS r_os,
        random() AS r_osv, random() AS r_browser, random() AS r_bv, random() AS r_isp,
        random() AS r_asn, random() AS r_conn, random() AS r_lang, random() AS r_var2
    FROM unnest(CAST(:hours AS int[]), CAST(:first_ids AS bigint[]), CAST(:counts AS int[]))
        AS h(hour, first_id, n)
    CROSS JOIN LATERAL generate_series(h.first_id, h.first_id + h.n - 1) AS g(id)
    OFFSET 0
) AS drawn
CROSS JOIN LATERAL (
    SELECT CASE WHEN (CAST(:lander_ids AS int[]))[c] IS NULL OR r_click < 0.25 THEN 1 ELSE 0 END
        AS clicks
) AS clicked
"""

_PG_CONVERSIONS = """
INSERT INTO conversion (dedupe_key, workspace_id, visit_id, click_id, campaign_id, offer_id,
    affiliate_network_id, txid, et, status, payout, currency, visit_at, created_at, updated_at,
    param1, param2, param3, param4, param5, counts_as_conversion, counts_in_revenue, source)
SELECT click_id || '||', workspace_id, id, click_id, campaign_id, offer_id, network_id, '', '',
    CASE WHEN r_status < 0.85 THEN 'approved' WHEN r_status < 0.95 THEN 'pending'
        ELSE 'declined' END,
    payout, 'USD', created_at, posted, GREATEST(posted, changed),
    '', '', '', '', '', true, true, 'postback'
FROM (
    SELECT v.id, v.click_id, v.workspace_id, v.campaign_id, v.offer_id, v.created_at,
        c.network_id, c.payout, random() AS r_status, random() AS r_created,
        random() AS r_updated
    FROM (
        -- One draw per visit: beside the campaign's rate alone, random() would be drawn once
        -- per campaign (the planner filters the small side first).
        SELECT *, random() AS r_convert FROM visit
        WHERE id BETWEEN :lo AND :hi AND clicks = 1 AND NOT is_bot
        OFFSET 0
    ) AS v
    JOIN unnest(CAST(:campaign_ids AS int[]), CAST(:rates AS float8[]),
        CAST(:payouts AS numeric[]), CAST(:network_ids AS int[]))
        AS c(campaign_id, rate, payout, network_id) ON c.campaign_id = v.campaign_id
    WHERE v.r_convert < c.rate
    OFFSET 0
) AS converted
CROSS JOIN LATERAL (
    -- Posted 1 to 600 minutes after the visit, changed since, never in the future.
    SELECT
        LEAST(created_at + make_interval(mins => 1 + floor(r_created * 600)::int),
            CAST(:end AS timestamp)) AS posted,
        LEAST(created_at + make_interval(mins => 1 + floor(r_updated * 600)::int),
            CAST(:end AS timestamp)) AS changed
) AS posting
"""


def generate_in_server(
    engine: Engine, setup: Setup, visits: int, seed: int, progress: Callable[[int], None]
) -> int:
    """``generate`` done by PostgreSQL itself (same shapes and rates, drawn by ``random()``
    seeded from ``seed``), in visit-time order as a live tracker writes them; returns
    conversions."""
    from tracker.models import Visit

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    hours = DAYS * 24
    hour_weights = [_hour_weights()[(h + start.hour) % 24] for h in range(hours)]
    total_weight = sum(hour_weights)
    per_hour = [int(visits * w / total_weight) for w in hour_weights]
    for h in rng.sample(range(hours), visits - sum(per_hour)):
        per_hour[h] += 1
    campaigns = setup.campaigns
    source_ids = sorted({c["source_id"] for c in campaigns})
    zones = [rng.randint(100000, 9999999) for _ in range(3000 * len(source_ids))]
    user_agents = [_ua(i) for i in range(400)]
    campaign_slots = _slots(_zipf_weights(len(campaigns), 0.8), 20_000)
    device_slots = _slots([float(d[1]) for d in DEVICES], 1_000)
    country_slots = _slots([float(w) for _, w in COUNTRIES], 1_000)
    zone_slots = _slots(_zipf_weights(3000, 1.05), 200_000)
    params: dict[str, Any] = {
        "campaign_ids": [c["id"] for c in campaigns],
        "source_ids": [c["source_id"] for c in campaigns],
        "source_positions": [source_ids.index(c["source_id"]) + 1 for c in campaigns],
        "lander_ids": [c["lander_id"] for c in campaigns],
        "offer_ids": [c["offer_id"] for c in campaigns],
        "costs": [c["cost"] for c in campaigns],
        "user_agents": user_agents,
        "device_names": [d[0] for d in DEVICES],
        "brands": BRANDS,
        "oses": [os for d in DEVICES for os in _spread(d[2], 6)],
        "browsers": [b for d in DEVICES for b in _spread(d[3], 12)],
        "countries": [c for c, _ in COUNTRIES],
        "isps": ISPS,
        "connections": CONNECTIONS,
        "languages": LANGUAGES,
        "zones": zones,
        "campaign_slots": campaign_slots,
        "campaign_slot_count": len(campaign_slots),
        "device_slots": device_slots,
        "device_slot_count": len(device_slots),
        "country_slots": country_slots,
        "country_slot_count": len(country_slots),
        "zone_slots": zone_slots,
        "zone_slot_count": len(zone_slots),
    }
    conversion_params: dict[str, Any] = {
        "campaign_ids": [c["id"] for c in campaigns],
        "rates": [float(c["cr"]) * 3.2 for c in campaigns],
        "payouts": [c["payout"] for c in campaigns],
        "network_ids": [c["network_id"] for c in campaigns],
        "end": end.replace(tzinfo=None),  # the columns hold UTC without a zone
    }
    with engine.connect() as conn:
        next_id = (conn.execute(select(func.max(Visit.id))).scalar() or 0) + 1
    conversions = 0
    hour = 0
    while hour < hours:
        batch_hours: list[int] = []
        first_ids: list[int] = []
        counts: list[int] = []
        lo = next_id
        while hour < hours and sum(counts) < 200_000:
            batch_hours.append(hour)
            first_ids.append(next_id)
            counts.append(per_hour[hour])
            next_id += per_hour[hour]
            hour += 1
        with engine.begin() as conn:
            # Repeatable: the same seed draws the same data (one batch after another).
            conn.execute(text("SELECT setseed(:s)"), {"s": ((seed * 7919 + hour) % 10007) / 10007})
            conn.execute(
                text(_PG_VISITS),
                {
                    **params,
                    "workspace_id": setup.workspace_id,
                    "start": start.replace(tzinfo=None),  # the store's times are naive UTC
                    "hours": batch_hours,
                    "first_ids": first_ids,
                    "counts": counts,
                },
            )
            result = conn.execute(
                text(_PG_CONVERSIONS), {**conversion_params, "lo": lo, "hi": next_id - 1}
            )
            conversions += int(result.rowcount or 0)
        progress(next_id - lo)
    return conversions


# The API's reports (every group, or the ``limit`` it asks for; totals still cover every group).
REPORTS: list[tuple[str, tuple[str, ...], int | None]] = [
    ("by traffic source", ("traffic_source",), None),
    ("campaign → country", ("campaign", "country"), None),
    ("source → var1 → device type", ("traffic_source", "var1", "device_type"), None),
    ("source → var1 → device type, top 1,000", ("traffic_source", "var1", "device_type"), 1000),
]
# The report page never asks for three levels at once: it shows the first level of the drill
# path, 1,000 rows at most, and a click on a row filters by it and shows the next level
# (``tracker.reports.views``: ``_shown``, ``PAGE_ROWS``). These are its requests down the zone
# path, into the top source and its top zone.
PAGE_PATH = ("traffic_source", "var1", "device_type")
PAGE_ROWS = 1000


def _timed(url: str, query: Any, warm_runs: int) -> tuple[dict[str, Any], float, float]:
    """The report's figures, its first run on a new connection (cold) and the median of the
    next (warm). A run ends once the report is dropped and the garbage collector runs again,
    as a request's does at its teardown (tracker/reports/collector.py)."""
    from sqlalchemy.orm import Session

    from tracker.reports import collector
    from tracker.reports.query import run_report
    from tracker.store import configure_engine

    def run_once(session: Session) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        with collector.paused():
            report = run_report(session, query)
            figures = {
                "rows": report.total_rows,
                "visits": report.totals.visits,
                "sources": "+".join(report.sources),
                "top": report.rows[0].values if report.rows else None,
            }
            del report
        return figures, time.perf_counter() - started

    engine = create_engine(url)
    configure_engine(engine)
    with Session(engine) as session:
        figures, cold = run_once(session)
        warm = [run_once(session)[1] for _ in range(warm_runs)]
    engine.dispose()
    return figures, cold, statistics.median(warm)


def time_reports(url: str, workspace_id: int, warm_runs: int = 5) -> Iterator[dict[str, Any]]:
    """Each report: its first run on a new connection (cold) and the median of the next (warm);
    the API's reports first, then the page's requests down the zone path."""
    from zoneinfo import ZoneInfo

    from tracker.reports.periods import make_period
    from tracker.reports.query import Filter, ReportQuery

    today = datetime.now(UTC).date()
    period = make_period(today - timedelta(days=29), today, ZoneInfo("UTC"))
    queries = [
        (label, ReportQuery(workspace_id, levels, period, limit=limit))
        for label, levels, limit in REPORTS
    ]
    for label, query in queries:
        yield _result(f"API: {label}", *_timed(url, query, warm_runs))
    filters: tuple[Filter, ...] = ()
    for depth, level in enumerate(PAGE_PATH):
        query = ReportQuery(workspace_id, (level,), period, filters, limit=PAGE_ROWS)
        figures, cold, warm = _timed(url, query, warm_runs)
        within = f" in the top {' → '.join(PAGE_PATH[:depth])}" if depth else ""
        label = f"page: {level}{within}, ≤ {PAGE_ROWS:,} rows".replace("_", " ")
        yield _result(label, figures, cold, warm)
        top = figures["top"]  # the most visits: what a buyer drills into first
        if top is None:
            break
        dimension = PAGE_PATH[depth]
        by_id = f"{dimension}_id" in top
        value = top[f"{dimension}_id"] if by_id else top[dimension]
        filters = (*filters, Filter(dimension, (str(value),), by_id))


def _result(label: str, figures: dict[str, Any], cold: float, warm: float) -> dict[str, Any]:
    return {
        "report": label,
        "rows": figures["rows"],
        "visits": figures["visits"],
        "sources": figures["sources"],
        "cold_ms": cold * 1000,
        "warm_ms": warm * 1000,
    }


def store_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        visits = conn.execute(text("SELECT count(*) FROM visit")).scalar_one()
        conversions = conn.execute(text("SELECT count(*) FROM conversion")).scalar_one()
    return int(visits), int(conversions)
