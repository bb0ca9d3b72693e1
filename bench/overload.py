"""Overload: `tracker serve` asked for more than it can answer, and the count afterwards.

`bench/clicks.py` measures the tracker's most visits per second with 8 clients that each wait
for an answer before the next visit (a closed loop). Here the same visitors (``Connection:
close``, real-looking user agents, GeoIP on) come two ways:

- **open loop** (`--open`, multiples of the measured maximum; default 2): first a closed-loop
  round with 8 clients measures the maximum, then visits are sent at twice that rate for
  `--open-seconds`, whatever the answers (`bench/openloop.py`); latency counts from the moment
  a visit was due, so the queue that builds up shows in it.
- **many clients** (`--connections`, default 16 and 64): wrk's closed loop with two and eight
  times the benchmark's clients, so that visits wait in the listen queue for the whole round.

What may degrade is latency; what must not happen is a 5xx, a visitor refused, or a redirect
whose visit is not stored.

    python bench/overload.py [--open 2] [--open-seconds 5] [--connections 16 64]
                             [--requests 20000] [--workers 2] [--database-url URL]

Needs ``wrk``. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clicks import (  # bench/clicks.py: the store, the server, the visitors, wrk
    CAMPAIGN_KEY,
    GEOIP_DIR,
    GEOIP_ENV,
    HOST,
    Options,
    drain_time_wait,
    free_port,
    prepare_store,
    run_wrk,
    serving,
    settled_count,
    stored_visits,
    tracker_command,
    user_agents,
    visitor_ips,
    zipf_weights,
)
from openloop import OpenLoopResult, run_open_loop


def visit_requests(
    port: int, agents: list[str], weights: list[float], ips: list[str], count: int, seed: int
) -> list[bytes]:
    """``count`` whole visit requests as the clicks benchmark's wrk script sends them."""
    rng = random.Random(seed)
    chosen = rng.choices(agents, weights, k=count)
    return [
        (
            f"GET /c/{CAMPAIGN_KEY}?sub=open-{seed}-{n}&zone={rng.randint(1, 40)}&cost=0.0021 "
            f"HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: {chosen[n]}\r\n"
            f"X-Forwarded-For: {rng.choice(ips)}\r\nAccept-Language: en-US,en;q=0.9\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1", "replace")
        for n in range(count)
    ]


OPEN_LOOP_COLUMNS = (
    "load, load avg, asked /s, sent /s, late sends, answered /s, p50 ms, p99 ms, 302, other, "
    "errors, stored"
)
CLOSED_LOOP_COLUMNS = "clients, load avg, visits/s, p50 ms, p99 ms, 302, other, errors, stored"


def table_head(columns: str) -> None:
    names = columns.split(", ")
    print()
    print("| " + " | ".join(names) + " |")
    print("|" + "|".join("---" if name == "errors" else "---:" for name in names) + "|")


def open_loop_line(multiple: float, result: OpenLoopResult, load: float, stored: int) -> str:
    other = sum(n for status, n in result.statuses.items() if status != 302)
    errors = ", ".join(f"{n} {name}" for name, n in sorted(result.errors.items())) or "0"
    return (
        f"| {multiple:g} x max | {load:.1f} | {result.asked_rate:,.0f} | {result.sent_rate:,.0f} | "
        f"{result.late_sends} | {result.answered / result.seconds:,.0f} | "
        f"{result.percentile_ms(50):.0f} | {result.percentile_ms(99):.0f} | "
        f"{result.statuses[302]} | {other} | {errors} | {stored} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one round per concurrency and print its figures; exit 1 if anything was lost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=float, nargs="*", default=[2.0])
    parser.add_argument("--open-seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, nargs="*", default=[16, 64])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-overload-"))
    url = args.database_url or f"sqlite:///{workdir / 'tracker.db'}"
    prepare_store(url, workdir / "instance")
    rng = random.Random(7)
    agents = user_agents(rng)
    weights = zipf_weights(len(agents))
    ips = visitor_ips(rng)
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_SECRET_KEY": "bench-secret",
        "TRACKER_INSTANCE_PATH": str(workdir / "instance"),
        "TRACKER_TRUSTED_PROXIES": "1",
        **{name: str(GEOIP_DIR / file) for name, file in GEOIP_ENV.items()},
    }
    port = free_port()
    command = [*tracker_command(), "serve", "--bind", f"{HOST}:{port}"]
    command += ["--workers", str(args.workers)]
    opts = Options(workers=args.workers, database_url=url)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; store {url.split(':')[0]}")
    lost = 0
    with serving(command, env, port, workdir / "tracker.log"):
        run_wrk(port, agents, weights, ips, replace(opts, connections=8), 500, workdir, 1)
        if args.open:
            drain_time_wait(opts.drain_below, opts.drain_timeout, print, (port,))
            before = stored_visits(url)
            closed = run_wrk(
                port, agents, weights, ips, replace(opts, connections=8), args.requests, workdir, 2
            )
            settled_count(url, before + closed.redirects)
            maximum = closed.rate
            print(f"maximum, closed loop with 8 clients: {maximum:,.0f} visits/s")
            table_head(OPEN_LOOP_COLUMNS)
        for n, multiple in enumerate(args.open):
            drain_time_wait(opts.drain_below, opts.drain_timeout, print, (port,))
            rate = maximum * multiple
            requests = visit_requests(
                port, agents, weights, ips, int(rate * args.open_seconds), 100 + n
            )
            before = stored_visits(url)
            load = os.getloadavg()[0]
            result = run_open_loop(HOST, port, requests, rate, timeout=60)
            stored, _ = settled_count(url, before + result.statuses[302])
            stored -= before
            other = result.answered - result.statuses[302]
            lost += max(result.statuses[302] - stored, 0) + other + sum(result.errors.values())
            print(open_loop_line(multiple, result, load, stored))
        if args.connections:
            table_head(CLOSED_LOOP_COLUMNS)
        for n, connections in enumerate(args.connections):
            drain_time_wait(opts.drain_below, opts.drain_timeout, print, (port,))
            before = stored_visits(url)
            load = os.getloadavg()[0]
            result = run_wrk(
                port,
                agents,
                weights,
                ips,
                replace(opts, connections=connections),
                args.requests,
                workdir,
                n + 2,
            )
            stored, _ = settled_count(url, before + result.redirects)
            stored -= before
            # A visit whose answer the client gave up on may be stored: more is fine, less not.
            lost += max(result.redirects - stored, 0) + result.other
            print(
                f"| {connections} | {load:.1f} | {result.rate:,.0f} | {result.p50_ms:.1f} | "
                f"{result.p99_ms:.1f} | {result.redirects} | {result.other} | {result.errors} "
                f"| {stored} |"
            )
        log = (workdir / "tracker.log").read_text(errors="replace")
    print(f"server log lines with ERROR: {log.count('ERROR')}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
