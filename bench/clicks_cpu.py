"""CPU per ``/c/<key>`` visit in-process: two checkouts of the tracker (or the bare Flask app)
compared in alternating rounds, without a server or network in the way.

Each checkout runs in its own process with its own SQLite store, prepared as ``bench/clicks.py``
prepares it (its campaign, optionally its 10-rule flow, its user agents and IPs, the GeoIP test
databases). A round calls the WSGI app with N requests and takes the process's CPU time
(``time.process_time``: the visit writer thread's inserts count) until the write-behind has
stored them all; the medians of the rounds are compared.

    python bench/clicks_cpu.py [--flow] [--rounds 30] [--requests 1000] [--releases 0] \\
        CHECKOUT [CHECKOUT | bare:CHECKOUT ...]

A checkout is a directory holding ``tracker/`` and ``bench/`` (``git archive REV | tar -x -C
DIR`` makes one of a past revision); ``bare:DIR`` is that checkout's bare Flask 302. With
``--releases N`` each request first lets go of the GIL N times, as a server's socket calls do
(accept, recv, send, close), so the writer thread takes its turns as it would there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def _worker(root: str, flow: bool, requests: int, releases: int, bare: bool) -> None:
    """One checkout's process: prepare, warm up, then one round per line read."""
    sys.path[:0] = [root, str(Path(root) / "bench")]
    import clicks  # type: ignore[import-not-found]

    import tracker
    from tracker import create_app
    from tracker.config import Settings

    assert tracker.__file__.startswith(root), f"tracker imported from {tracker.__file__}"
    from tracker.tracking.views import tracking_state

    workdir = Path(tempfile.mkdtemp(prefix="bench-clicks-cpu-"))
    url = f"sqlite:///{workdir / 'tracker.db'}"
    clicks.prepare_store(url, workdir / "instance", flow=flow)
    environ = {
        "TRACKER_TRUSTED_PROXIES": "1",
        **{name: str(clicks.GEOIP_DIR / file) for name, file in clicks.GEOIP_ENV.items()},
    }
    settings = Settings.from_env(
        environ=environ, instance_path=workdir / "instance", database_url=url, secret_key="b"
    )
    app = create_app(settings)
    state = tracking_state(app)
    state.write_behind = True
    wsgi: Callable[..., Iterable[bytes]] = app.wsgi_app
    if bare:
        import bare_app  # type: ignore[import-not-found]

        wsgi = bare_app.app.wsgi_app
    rng = random.Random(7)
    agents = clicks.user_agents(rng)
    weights = clicks.zipf_weights(len(agents))
    ips = clicks.visitor_ips(rng)
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    def one_round(seed: int, count: int) -> float:
        draw = random.Random(seed)
        chosen = draw.choices(agents, weights, k=count)
        calls = [
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": f"/c/{clicks.CAMPAIGN_KEY}",
                "QUERY_STRING": f"sub=1-{seed}-{n}&zone={draw.randint(1, 40)}&cost=0.0021",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "HTTP_HOST": "127.0.0.1:8000",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_USER_AGENT": chosen[n],
                "HTTP_X_FORWARDED_FOR": draw.choice(ips),
                "HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9",
                "HTTP_CONNECTION": "close",
                "wsgi.url_scheme": "http",
            }
            for n in range(count)
        ]
        statuses.clear()
        devnull = os.open(os.devnull, os.O_WRONLY)
        started = time.process_time()
        for call in calls:
            for _ in range(releases):
                os.write(devnull, b"x")  # a system call: the GIL is let go
            for _ in wsgi(call, start_response):
                pass
        if not bare:
            assert state.flush(60), "the write-behind did not catch up"
        spent = time.process_time() - started
        os.close(devnull)
        assert all(s.startswith("302") for s in statuses), set(statuses)
        return spent / count * 1e6

    one_round(1, 500)  # warm-up: caches, compiled statements, the writer thread
    print("ready", flush=True)
    seed = 100
    for _line in sys.stdin:
        seed += 1
        print(json.dumps(one_round(seed, requests)), flush=True)
    state.close_writer()
    shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+")
    parser.add_argument("--flow", action="store_true")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--releases", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = args.checkouts[0]
        _worker(
            spec.removeprefix("bare:"),
            args.flow,
            args.requests,
            args.releases,
            spec.startswith("bare:"),
        )
        return 0
    processes = []
    for spec in args.checkouts:
        root = str(Path(spec.removeprefix("bare:")).resolve())
        resolved = ("bare:" if spec.startswith("bare:") else "") + root
        command = [sys.executable, __file__, "--worker", resolved]
        command += ["--requests", str(args.requests)]
        command += ["--releases", str(args.releases)] + (["--flow"] if args.flow else [])
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": "0"},
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        processes.append(process)
    results: dict[str, list[float]] = {spec: [] for spec in args.checkouts}
    for _ in range(args.rounds):
        for spec, process in zip(args.checkouts, processes, strict=True):
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("round\n")
            process.stdin.flush()
            results[spec].append(json.loads(process.stdout.readline()))
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
    first = statistics.median(results[args.checkouts[0]])
    for spec in args.checkouts:
        median = statistics.median(results[spec])
        print(f"{spec}: median {median:.1f} µs CPU per visit (first / this: {first / median:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
