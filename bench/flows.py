"""What a flow of 10 rules costs a visit, measured in one process (no server, no network).

Two stores are prepared as ``bench/clicks.py`` prepares its own: one campaign straight to its
offer, and the same campaign through ``clicks.flow_document`` (10 rules, then 70/30 default
paths). Each round sends the same visitors (``clicks``' user agents and GeoIP test IPs) through
``/c/<key>`` of each app with Flask's test client, alternating direct / flow, and the medians of
the rounds are compared; the routing alone (``RouteTable.route`` over the same visitors' facts)
is timed too. Each round counts until its visits are stored (the write-behind's work included),
in wall-clock time and in the process's CPU time: on a shared machine the CPU time, and the
alternation, keep the comparison steadier than two HTTP runs.

    python bench/flows.py [--rounds 7] [--visits 3000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clicks  # bench/clicks.py: the load and the store


def _app(workdir: Path, flow: bool) -> Any:
    from tracker import create_app
    from tracker.config import Settings

    url = f"sqlite:///{workdir / 'tracker.db'}"
    clicks.prepare_store(url, workdir / "instance", flow=flow)
    geoip = {
        name.removeprefix("TRACKER_").lower(): str(clicks.GEOIP_DIR / file)
        for name, file in clicks.GEOIP_ENV.items()
    }
    settings = Settings.from_env(
        environ={},
        instance_path=workdir / "instance",
        database_url=url,
        secret_key="bench",
        trusted_proxies=1,
        **geoip,
    )
    return create_app(settings)


def _visitors(count: int, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    agents = clicks.user_agents(rng)
    weights = clicks.zipf_weights(len(agents))
    ips = clicks.visitor_ips(rng)
    chosen = rng.choices(agents, weights, k=count)
    return [(agent, rng.choice(ips), rng.randint(1, 40)) for agent in chosen]


def _round(app: Any, visitors: list[tuple[str, str, int]]) -> tuple[float, float]:
    """Microseconds per visit over ``visitors`` until all are stored, in wall-clock time and in
    this process's CPU time (all threads; steadier while other processes share the cores)."""
    from tracker.tracking.views import tracking_state

    client = app.test_client()
    started, cpu_started = time.perf_counter(), time.process_time()
    for n, (agent, ip, zone) in enumerate(visitors):
        answer = client.get(
            f"/c/{clicks.CAMPAIGN_KEY}?sub=f{n}&zone={zone}&cost=0.0021",
            headers={"User-Agent": agent, "X-Forwarded-For": ip, "Accept-Language": "en-US"},
        )
        if answer.status_code != 302:
            raise RuntimeError(f"answer {answer.status_code} to visit {n}")
    if not tracking_state(app).flush(60):  # the write-behind's work is part of a visit's cost
        raise RuntimeError("visits not stored within 60 s")
    wall = (time.perf_counter() - started) / len(visitors) * 1e6
    return wall, (time.process_time() - cpu_started) / len(visitors) * 1e6


def _routing_alone(app: Any, visitors: list[tuple[str, str, int]]) -> tuple[float, Counter[str]]:
    """Microseconds per ``RouteTable.route`` over the visitors' facts, and which rule took them."""
    from datetime import UTC, datetime

    from tracker.extensions import db
    from tracker.tracking.enrich import parse_user_agent
    from tracker.tracking.views import tracking_state

    state = tracking_state(app)
    with app.app_context():
        snapshot = state.snapshots.by_key(db.engine, clicks.CAMPAIGN_KEY)
    assert snapshot is not None
    facts = []
    for agent, ip, zone in visitors:
        device, geo = parse_user_agent(agent), state.geo.lookup(ip)
        facts.append(
            {
                "created_at": datetime.now(UTC),
                "campaign_id": snapshot.id,
                "traffic_source_id": snapshot.source.id,
                "ip": ip,
                "user_agent": agent,
                "device_type": device.device_type,
                "brand": device.brand,
                "model": device.model,
                "os": device.os,
                "os_version": device.os_version,
                "browser": device.browser,
                "browser_version": device.browser_version,
                "country": geo.country,
                "region": geo.region,
                "city": geo.city,
                "isp": geo.isp,
                "asn": geo.asn,
                "connection_type": geo.connection_type,
                "language": "en",
                "referrer": "",
                "referrer_domain": "",
                "var1": str(zone),
                **{f"var{n}": "" for n in range(2, 11)},
            }
        )
    routes = snapshot.routes
    taken: Counter[str] = Counter()
    for one in facts:
        route = routes.route(one)
        taken[(route.rule or "(default)") if route else "(nowhere)"] += 1
    started = time.perf_counter()
    for _ in range(5):
        for one in facts:
            routes.route(one)
    return (time.perf_counter() - started) / (5 * len(facts)) * 1e6, taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--visits", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    try:
        apps = {
            "direct": _app(workdir / "direct", flow=False),
            "flow": _app(workdir / "flow", flow=True),
        }
        visitors = _visitors(opts.visits, opts.seed)
        for app in apps.values():  # warm: user-agent cache, snapshots, GeoIP pages
            _round(app, visitors[:500])
        wall: dict[str, list[float]] = {"direct": [], "flow": []}
        cpu: dict[str, list[float]] = {"direct": [], "flow": []}
        for n in range(opts.rounds):
            for name in ("direct", "flow") if n % 2 == 0 else ("flow", "direct"):
                elapsed, used = _round(apps[name], visitors)
                wall[name].append(elapsed)
                cpu[name].append(used)
            print(
                f"round {n + 1}: direct {wall['direct'][-1]:.0f} µs ({cpu['direct'][-1]:.0f} CPU),"
                f" flow {wall['flow'][-1]:.0f} µs ({cpu['flow'][-1]:.0f} CPU) per visit",
                file=sys.stderr,
            )
        routing, taken = _routing_alone(apps["flow"], visitors)
        print(f"rounds: {opts.rounds}, visits per round: {opts.visits} (alternating order)")
        for label, figures in (("wall-clock", wall), ("CPU", cpu)):
            direct, flow = statistics.median(figures["direct"]), statistics.median(figures["flow"])
            print(
                f"{label}: median direct {direct:.0f} µs per visit, flow of 10 rules "
                f"{flow:.0f} µs; ratio flow / direct in visits/s: {direct / flow:.3f}"
            )
        print(f"routing alone (10 rules, then default paths): {routing:.1f} µs per visit")
        shares = ", ".join(
            f"{rule} {count * 100 / len(visitors):.0f}%" for rule, count in taken.most_common()
        )
        print(f"taken by: {shares}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
