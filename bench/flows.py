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

With ``--http`` the same two campaigns are served by two ``tracker serve`` (two stores) beside
``bench/clicks.py``'s bare Flask 302, all under the same gunicorn set-up and ``clicks``' wrk load;
each round loads the three in turn (the order rotating from round to round), so the ratios
direct / bare and flow / bare are taken at the same moments of a shared machine. Each round also
counts the CPU time the server's processes spent per request (``/proc``): steadier than rates
while other processes share the cores.

    python bench/flows.py --http [--rounds 5] [--requests 8000]
"""

from __future__ import annotations

import argparse
import os
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


def http_ab(rounds: int, requests: int, seed: int) -> int:
    """Direct and flow campaigns under ``tracker serve`` and the bare app, in rotating rounds."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    opts = clicks.Options(rounds=rounds, requests=requests, seed=seed, loader="wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-flows-http-"))
    rng = random.Random(seed)
    agents = clicks.user_agents(rng)
    weights = clicks.zipf_weights(len(agents))
    ips = clicks.visitor_ips(rng)
    urls = {name: f"sqlite:///{workdir / name / 'tracker.db'}" for name in ("direct", "flow")}
    commands: dict[str, list[str]] = {}
    envs: dict[str, dict[str, str]] = {}
    ports = {name: clicks.free_port() for name in ("direct", "flow", "bare")}
    for name, url in urls.items():
        (workdir / name).mkdir()
        clicks.prepare_store(url, workdir / name / "instance", flow=name == "flow")
        envs[name] = {
            **os.environ,
            "TRACKER_DATABASE_URL": url,
            "TRACKER_SECRET_KEY": "bench-secret",
            "TRACKER_INSTANCE_PATH": str(workdir / name / "instance"),
            "TRACKER_TRUSTED_PROXIES": "1",
            **{env: str(clicks.GEOIP_DIR / file) for env, file in clicks.GEOIP_ENV.items()},
        }
        commands[name] = [
            *clicks.tracker_command(),
            *("serve", "--bind", f"{clicks.HOST}:{ports[name]}", "--workers", str(opts.workers)),
        ]
    envs["bare"] = dict(os.environ)
    commands["bare"] = clicks.bare_command(ports["bare"], opts.workers)

    def load(target: str, count: int, round_seed: int) -> Any:
        result = clicks.run_wrk(
            ports[target], agents, weights, ips, opts, count, workdir, round_seed
        )
        result.target = target
        return result

    rates: dict[str, list[float]] = {"direct": [], "flow": [], "bare": []}
    cpu: dict[str, list[float]] = {"direct": [], "flow": [], "bare": []}
    masters: dict[str, int] = {}
    lost = 0
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    logs = {name: workdir / f"{name}.log" for name in commands}
    with (
        clicks.serving(commands["direct"], envs["direct"], ports["direct"], logs["direct"]) as a,
        clicks.serving(commands["flow"], envs["flow"], ports["flow"], logs["flow"]) as b,
        clicks.serving(commands["bare"], envs["bare"], ports["bare"], logs["bare"]) as c,
    ):
        masters.update(direct=a, flow=b, bare=c)
        for name in ("direct", "flow", "bare"):
            load(name, 500, seed)
        for url in urls.values():
            clicks.settled_count(url, 500)
        order = ["direct", "flow", "bare"]
        for n in range(rounds):
            for target in order[n % 3 :] + order[: n % 3]:
                clicks.drain_time_wait(opts.drain_below, opts.drain_timeout, _say)
                before = clicks.stored_visits(urls[target]) if target in urls else 0
                cpu_before = _tree_cpu_seconds(masters[target])
                result = load(target, requests, seed + n)
                if target in urls:
                    count, _ = clicks.settled_count(urls[target], before + result.redirects)
                    lost += result.redirects - (count - before)
                used = (_tree_cpu_seconds(masters[target]) - cpu_before) / result.requests * 1e6
                rates[target].append(result.rate)
                cpu[target].append(used)
                _say(
                    f"  round {n + 1} {target}: {result.rate:,.0f} req/s, {used:,.0f} µs CPU per "
                    f"request, 302s {result.redirects}"
                )
    shutil.rmtree(workdir, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"date: {started}; SQLite; wrk, {opts.connections} connections, Connection: close;")
    print(f"workers: {opts.workers} each; rounds: {rounds} x {requests} requests per target")
    for name in ("direct", "flow", "bare"):
        shown = ", ".join(f"{rate:,.0f}" for rate in rates[name])
        print(
            f"{name}: median {medians[name]:,.0f} requests/s (rounds: {shown}); "
            f"median {cpu_medians[name]:,.0f} µs CPU per request"
        )
    print(f"ratio direct / bare: {medians['direct'] / medians['bare']:.2f}")
    print(f"ratio flow of 10 rules / bare: {medians['flow'] / medians['bare']:.2f}")
    print(f"ratio flow / direct: {medians['flow'] / medians['direct']:.2f}")
    print(
        "CPU per request, ratio bare / flow (the CPU-bound ceiling of flow / bare): "
        f"{cpu_medians['bare'] / cpu_medians['flow']:.2f}; bare / direct: "
        f"{cpu_medians['bare'] / cpu_medians['direct']:.2f}; direct / flow: "
        f"{cpu_medians['direct'] / cpu_medians['flow']:.2f}"
    )
    print(f"visits redirected but not stored: {lost}")
    return 0 if lost == 0 else 1


def _tree_cpu_seconds(master_pid: int) -> float:
    """User and system CPU seconds of a server's master and its worker processes so far."""
    pids = [str(master_pid)]
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    if children.exists():
        pids += children.read_text().split()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--visits", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--http", action="store_true", help="three servers under wrk load")
    parser.add_argument("--requests", type=int, default=8000, help="per target and round (--http)")
    opts = parser.parse_args(argv)
    if opts.http:
        return http_ab(opts.rounds or 5, opts.requests, opts.seed)
    opts.rounds = opts.rounds or 7

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
