"""Postback benchmark: ``/postback`` under ``tracker serve`` against a bare Flask app.

The store holds a million visits (bulk Core inserts, in batches); the postbacks name visits
drawn at random among them, as a network reporting conversions would: 85 % new conversions,
10 % repeats of one answered a moment earlier (duplicates), 5 % unknown click IDs. Each round
sends the same number of postbacks to the tracker, then to a bare Flask app served the same way
that only answers "recorded", alternating; medians of the rounds are compared. After each
tracker round the store is counted: every "recorded" answer must be exactly one new conversion,
every duplicate none, every call one postback log row.

    python bench/postbacks.py [--visits 1000000] [--rounds 3] [--postbacks 15000] [--reuse]
    tracker bench postbacks   (the same options)

The load comes from ``wrk`` (``apt-get install wrk``), one new connection per postback; only
127.0.0.1 is ever contacted and every round is bounded in requests and in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clicks import (  # bench/clicks.py: servers started and stopped the same way
    free_port,
    serving,
    tracker_command,
)

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the only address this benchmark ever sends to
MAX_ROUND_SECONDS = 120
BATCH = 20_000
CAMPAIGNS = 10


def click_id(n: int) -> str:
    """The click ID of the n-th bench visit (URL-safe, 26 characters, like the tracker's)."""
    return f"pb{n:024d}"


@dataclass
class Options:
    visits: int = 1_000_000
    rounds: int = 3
    postbacks: int = 15_000
    connections: int = 8
    workers: int = 2
    database_url: str = ""  # empty: a SQLite file in a temporary folder
    reuse: bool = False  # keep the visits of an earlier run in the same store
    seed: int = 7


@dataclass
class RoundResult:
    target: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    counts: dict[str, int]
    expected: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def exact(self) -> bool:
        """Answers as planned, and the store holds exactly what was answered."""
        if self.target != "tracker":
            return self.counts.get("other", 0) == 0
        return (
            self.counts.get("recorded") == self.expected["recorded"] == self.stored["conversions"]
            and self.counts.get("duplicate") == self.expected["duplicate"]
            and self.counts.get("unknown") == self.expected["unknown"]
            and self.counts.get("other", 0) == 0
            and self.stored["log"] == self.requests
        )


@dataclass
class Report:
    date: str
    store: str
    options: Options
    command: str
    seed_seconds: float = 0.0
    rounds: list[RoundResult] = field(default_factory=list)

    def median(self, target: str, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.rounds if r.target == target]
        return statistics.median(values) if values else 0.0

    @property
    def ratio(self) -> float:
        bare = self.median("bare", "rate")
        return self.median("tracker", "rate") / bare if bare else 0.0

    @property
    def exact(self) -> bool:
        return all(r.exact for r in self.rounds)

    def markdown(self) -> str:
        o = self.options
        tracker = [r for r in self.rounds if r.target == "tracker"]
        lines = [
            f"### {self.date}, {self.store}",
            "",
            f"`{self.command}`: {o.visits:,} visits in the store (seeded in "
            f"{self.seed_seconds:.0f} s), {o.rounds} rounds of {o.postbacks:,} postbacks "
            f"(85 % new, 10 % duplicates, 5 % unknown click IDs), {o.connections} connections "
            f"(wrk, one connection per postback), `tracker serve` with {o.workers} gunicorn "
            "workers and no background worker.",
            "",
            "| target | postbacks/s (median) | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
        ]
        for target, label in (("tracker", "tracker `/postback`"), ("bare", "bare Flask")):
            lines.append(
                f"| {label} | {self.median(target, 'rate'):,.0f} | "
                f"{self.median(target, 'p50_ms'):.1f} | {self.median(target, 'p99_ms'):.1f} |"
            )
        lines += [
            "",
            f"Tracker / bare: **{self.ratio:.2f}**. Stored exactly once: "
            + ("**yes**" if self.exact else "**NO**")
            + " (per round: recorded answers = new conversions in the store; duplicates and "
            "unknown click IDs as sent; one postback log row per call).",
            "",
            "| round | recorded | duplicate | 404 unknown | conversions stored | log rows |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for n, r in enumerate(tracker, 1):
            lines.append(
                f"| {n} | {r.counts.get('recorded', 0):,} | {r.counts.get('duplicate', 0):,} | "
                f"{r.counts.get('unknown', 0):,} | {r.stored.get('conversions', 0):,} | "
                f"{r.stored.get('log', 0):,} |"
            )
        return "\n".join(lines)


def bare_command(port: int, workers: int) -> list[str]:
    # The options of tracker.server.run_server, for the same server doing the least work.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        *("--bind", f"{HOST}:{port}", "--workers", str(workers), "--worker-class", "sync"),
        *("--timeout", "60", "--keep-alive", "2", "--error-logfile", "-"),
        *("--log-level", "warning", "--chdir", str(ROOT / "bench")),
        "postbacks:bare_app()",
    ]


def bare_app() -> Any:
    """The yardstick: a Flask app that reads the parameters and answers "recorded"."""
    from flask import Flask, Response, request

    app = Flask("bare")

    @app.route("/postback", methods=["GET", "POST"])
    def postback() -> Response:
        """Read the parameters, answer, nothing else."""
        _ = (request.args.get("cid"), request.args.get("payout"), request.args.get("txid"))
        return Response("recorded\n", mimetype="text/plain")

    return app


def time_wait_count(ports: tuple[int, ...]) -> int:
    """Sockets in TIME_WAIT on these local ports (other runs on the machine are not counted)."""
    sides = [f"{side} = :{port}" for port in ports for side in ("sport", "dport")]
    command = ["ss", "-tan", "state", "time-wait", "( " + " or ".join(sides) + " )"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return max(0, len(out.splitlines()) - 1)


def drain_time_wait(
    below: int, timeout: float, say: Callable[[str], None], ports: tuple[int, ...]
) -> None:
    """Let closed connections leave TIME_WAIT, so a round never runs out of local ports."""
    deadline = time.monotonic() + timeout
    count = time_wait_count(ports)
    if count >= below:
        say(f"  waiting for {count} TIME_WAIT sockets to drain below {below}...")
    while count >= below and time.monotonic() < deadline:
        time.sleep(2)
        count = time_wait_count(ports)


# --- the load -------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
local paths = {%(paths)s}
local limit = #paths
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  got, recorded, duplicate, unknown, other = 0, 0, 0, 0, 0
  -- wrk calls request() once in its first thread to check the script: that one is never sent.
  sent = id == 1 and -1 or 0
  -- wrk's own duration is the -d it was given: the timing is taken from these two lines.
  io.write("START\n")
  io.flush()
end

function request()
  if sent >= limit then
    -- Every postback is sent: a HEAD (records nothing) keeps connections busy until the last
    -- answers are in.
    return wrk.format("HEAD", "/postback", {["Connection"] = "close"})
  end
  sent = sent + 1
  return wrk.format("GET", paths[math.max(sent, 1)], {["Connection"] = "close"})
end

function response(status, headers, body)
  if got >= limit or body == nil or body == "" then return end
  got = got + 1
  if status == 200 and string.sub(body, 1, 8) == "recorded" then recorded = recorded + 1
  elseif status == 200 and string.sub(body, 1, 9) == "duplicate" then duplicate = duplicate + 1
  elseif status == 404 then unknown = unknown + 1
  else other = other + 1 end
  if got >= limit then
    io.write("DONE\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c = {recorded = 0, duplicate = 0, unknown = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(c) do c[name] = c[name] + thread:get(name) end
  end
  io.write(string.format(
    "BENCH {\"recorded\": %%d, \"duplicate\": %%d, \"unknown\": %%d, \"other\": %%d, " ..
    "\"p50_us\": %%d, \"p99_us\": %%d}\n",
    c.recorded, c.duplicate, c.unknown, c.other, latency:percentile(50),
    latency:percentile(99)))
end
"""


def plan(visits: int, count: int, tag: str, rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """The postbacks of one round, and how each should be answered."""
    paths: list[str] = []
    fresh: list[int] = []  # positions of new conversions, for duplicates to repeat
    expected = {"recorded": 0, "duplicate": 0, "unknown": 0}
    for i in range(count):
        if i % 20 == 0:
            paths.append(f"/postback?cid=unknown{i:019d}&payout=1.00&txid={tag}-{i}")
            expected["unknown"] += 1
        elif i % 10 == 5 and len(fresh) > 64:
            # A repeat of a postback sent at least 48 calls earlier: answered before this one.
            paths.append(paths[rng.choice(fresh[:-48])])
            expected["duplicate"] += 1
        else:
            payout = rng.choice(("0.80", "1,50", "2.40", "12.00"))
            n = rng.randrange(visits)
            paths.append(f"/postback?cid={click_id(n)}&payout={payout}&txid={tag}-{i}")
            fresh.append(i)
            expected["recorded"] += 1
    return paths, expected


def run_wrk(port: int, paths: list[str], opts: Options, workdir: Path) -> RoundResult:
    """Send ``paths`` through wrk; timed from its start to the last postback's answer."""
    script = workdir / "postbacks.lua"
    script.write_text(WRK_SCRIPT % {"paths": ",".join(json.dumps(p) for p in paths)})
    process = subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{opts.connections}",
            f"-d{MAX_ROUND_SECONDS}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{port}/postback",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # wrk only stops at the end of its -d: once the last answer is in, SIGINT ends it early.
    watchdog = threading.Timer(MAX_ROUND_SECONDS + 10, process.send_signal, [signal.SIGINT])
    watchdog.start()
    started = finished = 0.0
    output = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            output.append(line)
            if line.strip() == "START" and not started:
                started = time.perf_counter()
            elif line.strip() == "DONE":
                finished = time.perf_counter()
                process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        watchdog.cancel()
    bench_line = next((x for x in output if x.startswith("BENCH ")), None)
    if bench_line is None or not finished:
        raise RuntimeError("wrk did not finish the round:\n" + "".join(output[-20:]))
    data = json.loads(bench_line[len("BENCH ") :])
    counts = {k: data[k] for k in ("recorded", "duplicate", "unknown", "other")}
    return RoundResult(
        target="",
        requests=sum(counts.values()),
        seconds=finished - started,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        counts=counts,
    )


# --- the store ------------------------------------------------------------------------------------


def prepare_store(
    url: str, instance: Path, visits: int, reuse: bool, say: Callable[[str], None]
) -> float:
    """Migrate the store and fill it with ``visits`` visits; seconds spent seeding."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, delete, func, insert, make_url, select, text

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" and not reuse:
        if "bench" not in (parsed.database or ""):
            raise SystemExit("the benchmark empties its database: its name must contain 'bench'")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()

    from tracker import create_app
    from tracker.auth.services import default_workspace
    from tracker.config import Settings
    from tracker.extensions import db
    from tracker.models import AffiliateNetwork, Campaign, Conversion, Offer, TrafficSource, Visit
    from tracker.store import bump_setup_version

    app = create_app(
        Settings.from_env(environ={}, instance_path=instance, database_url=url, secret_key="b")
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        have = db.session.scalar(select(func.count()).select_from(Visit)) or 0
        if reuse and have >= visits:
            db.session.execute(delete(Conversion).execution_options(synchronize_session=False))
            db.session.commit()
            say(f"reusing {have:,} visits")
            return 0.0
        started = time.perf_counter()
        workspace = default_workspace(db.session)
        source = TrafficSource(workspace_id=workspace.id, name="Bench source")
        network = AffiliateNetwork(workspace_id=workspace.id, name="Bench network")
        db.session.add_all([source, network])
        db.session.flush()
        offer = Offer(
            workspace_id=workspace.id,
            name="Bench offer",
            url="https://offer.example/?sub={clickid}",
            affiliate_network_id=network.id,
            payout=Decimal("2.40"),
        )
        db.session.add(offer)
        db.session.flush()
        campaigns = []
        for n in range(CAMPAIGNS):
            campaign = Campaign(
                workspace_id=workspace.id,
                name=f"Bench campaign {n}",
                key=f"benchpb{n:03d}",
                traffic_source_id=source.id,
                path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]},
            )
            db.session.add(campaign)
            campaigns.append(campaign)
        bump_setup_version(db.session)
        db.session.commit()
        ids = [(c.id, workspace.id, source.id, offer.id) for c in campaigns]
        db.session.remove()

        engine = db.engine
        now = datetime.now(UTC)
        rng = random.Random(1)
        statement = insert(Visit)
        for start in range(have, visits, BATCH):
            rows = []
            for n in range(start, min(start + BATCH, visits)):
                campaign_id, workspace_id, source_id, offer_id = ids[n % CAMPAIGNS]
                rows.append(
                    {
                        "click_id": click_id(n),
                        "created_at": now - timedelta(seconds=rng.randrange(30 * 86400)),
                        "workspace_id": workspace_id,
                        "campaign_id": campaign_id,
                        "traffic_source_id": source_id,
                        "offer_id": offer_id,
                        "clicks": 1,
                        "ip": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                        "user_agent": "Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",
                        "device_type": "mobile",
                        "os": "Android",
                        "browser": "Chrome Mobile",
                        "country": rng.choice(("US", "DE", "BR", "IN", "FR")),
                        "external_id": f"ext{n}",
                        "var1": f"zone{n % 500}",
                    }
                )
            with engine.begin() as conn:
                conn.execute(statement, rows)
            done = min(start + BATCH, visits)
            if done % 200_000 == 0 or done == visits:
                say(f"  {done:,} visits stored")
        seconds = time.perf_counter() - started
        engine.dispose()
    return seconds


def store_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "conversions": int(
                    conn.execute(text("SELECT count(*) FROM conversion")).scalar() or 0
                ),
                "log": int(conn.execute(text("SELECT count(*) FROM postback_log")).scalar() or 0),
            }
    finally:
        engine.dispose()


# --- the benchmark --------------------------------------------------------------------------------


def run(opts: Options, say: Callable[[str], None] = print, command: str = "") -> Report:
    """Seed the store, start both servers, load them in alternating rounds, count, report."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-postbacks-"))
    url = opts.database_url or f"sqlite:///{workdir / 'tracker.db'}"
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    say(f"seeding {opts.visits:,} visits into {store}...")
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        store=store,
        options=opts,
        command=command or "tracker bench postbacks",
    )
    report.seed_seconds = prepare_store(url, workdir / "instance", opts.visits, opts.reuse, say)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")},
        "TRACKER_DATABASE_URL": url,
        "TRACKER_SECRET_KEY": "bench-secret",
        "TRACKER_INSTANCE_PATH": str(workdir / "instance"),
    }
    ports = {"tracker": free_port(), "bare": free_port()}
    # The background worker (forwards, report rollups) is left out: this measures /postback.
    tracker = [
        *tracker_command(),
        *("serve", "--bind", f"{HOST}:{ports['tracker']}", "--workers", str(opts.workers)),
        "--no-worker",
    ]
    rng = random.Random(opts.seed)
    try:
        with (
            serving(tracker, env, ports["tracker"], workdir / "tracker.log"),
            serving(
                bare_command(ports["bare"], opts.workers), env, ports["bare"], workdir / "b.log"
            ),
        ):
            say("warming up both servers...")
            for target in ("tracker", "bare"):
                run_wrk(ports[target], plan(opts.visits, 300, f"w{target}", rng)[0], opts, workdir)
            for n in range(1, opts.rounds + 1):
                paths, expected = plan(opts.visits, opts.postbacks, f"r{n}", rng)
                for target in ("tracker", "bare"):
                    drain_time_wait(20_000, 75, say, tuple(ports.values()))
                    before = store_counts(url) if target == "tracker" else {}
                    result = run_wrk(ports[target], paths, opts, workdir)
                    result.target = target
                    if target == "tracker":
                        after = store_counts(url)
                        result.expected = expected
                        result.stored = {k: after[k] - before[k] for k in after}
                    report.rounds.append(result)
                    say(
                        f"  round {n} {target}: {result.rate:,.0f}/s, p50 {result.p50_ms:.1f} ms, "
                        f"p99 {result.p99_ms:.1f} ms, {result.counts}"
                        + (f", stored {result.stored}" if result.stored else "")
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    defaults = Options()
    parser.add_argument("--visits", type=int, default=defaults.visits)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--postbacks", type=int, default=defaults.postbacks)
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return Options(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    report = run(
        parse_args(argv),
        say=lambda m: print(m, file=sys.stderr),
        command="python bench/postbacks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    print(report.markdown())
    return 0 if report.exact else 1


if __name__ == "__main__":
    sys.exit(main())
