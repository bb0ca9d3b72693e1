"""Report benchmark: realistic visits and conversions in a store of its own, then timed reports.

Run through the CLI: ``tracker bench reports [--visits N] [--database-url URL]``. The store is
built by the migrations, filled with bulk Core inserts (bounded batches), its rollups refreshed
as the worker would, then three 30-day reports are timed cold (a new connection's first run)
and warm (median of the next runs): by traffic source; campaign → country; traffic source →
var1 (zone) → device type.
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
                        "created_at": created + timedelta(minutes=rng.randint(1, 600)),
                        "updated_at": created + timedelta(minutes=rng.randint(1, 600)),
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


REPORTS: list[tuple[str, tuple[str, ...]]] = [
    ("by traffic source", ("traffic_source",)),
    ("campaign → country", ("campaign", "country")),
    ("source → var1 → device type", ("traffic_source", "var1", "device_type")),
]


def time_reports(url: str, workspace_id: int, warm_runs: int = 5) -> Iterator[dict[str, Any]]:
    """Each report: its first run on a new connection (cold) and the median of the next (warm)."""
    from sqlalchemy.orm import Session

    from tracker.reports.periods import make_period
    from tracker.reports.query import ReportQuery, run_report
    from tracker.store import configure_engine

    today = datetime.now(UTC).date()
    from zoneinfo import ZoneInfo

    period = make_period(today - timedelta(days=29), today, ZoneInfo("UTC"))
    for label, levels in REPORTS:
        engine = create_engine(url)
        configure_engine(engine)
        with Session(engine) as session:
            query = ReportQuery(workspace_id, levels, period)
            started = time.perf_counter()
            report = run_report(session, query)
            cold = time.perf_counter() - started
            warm = []
            for _ in range(warm_runs):
                started = time.perf_counter()
                run_report(session, query)
                warm.append(time.perf_counter() - started)
        engine.dispose()
        yield {
            "report": label,
            "rows": report.total_rows,
            "visits": report.totals.visits,
            "sources": "+".join(report.sources),
            "cold_ms": cold * 1000,
            "warm_ms": statistics.median(warm) * 1000,
        }


def store_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        visits = conn.execute(text("SELECT count(*) FROM visit")).scalar_one()
        conversions = conn.execute(text("SELECT count(*) FROM conversion")).scalar_one()
    return int(visits), int(conversions)
