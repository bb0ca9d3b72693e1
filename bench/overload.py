"""Overload: `tracker serve` asked for more than it can answer, and the count afterwards.

`bench/clicks.py` measures the tracker's most visits per second with 8 clients that each wait
for an answer before the next visit (a closed loop; ~1,200/s on a quiet machine). Here the same
visitors (``Connection: close``, real-looking user agents, GeoIP on) come from twice and eight
times as many clients at once, so that visits wait in the listen queue: the tracker is past
its capacity for the whole round. What may degrade is latency; what must not happen is a 5xx,
a visitor refused, or a redirect whose visit is not stored.

    python bench/overload.py [--connections 16 64] [--requests 20000] [--workers 2]
                             [--database-url URL]

An open loop (visits at a fixed rate whatever the answers) needs a generator faster than the
server; a Python one on the same two shared cores is not (it offered ~250/s here), and wrk has
no fixed-rate mode: so the overload is offered as concurrency. Needs ``wrk``. Only 127.0.0.1 is
ever contacted.
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


def main(argv: list[str] | None = None) -> int:
    """Run one round per concurrency and print its figures; exit 1 if anything was lost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
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
    print("| clients | load avg | visits/s | p50 ms | p99 ms | 302 | other | errors | stored |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lost = 0
    with serving(command, env, port, workdir / "tracker.log"):
        run_wrk(port, agents, weights, ips, replace(opts, connections=8), 500, workdir, 1)
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
