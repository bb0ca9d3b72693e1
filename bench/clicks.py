"""Click benchmark: the tracker's ``/c/<key>`` against a bare Flask 302, same server and load.

Both run under gunicorn with the same worker count (the tracker through ``tracker serve``); each
round sends the same load to one of them, alternating tracker / bare, and the medians of the
rounds are compared. The load is what ad traffic looks like to a tracker: every request a new
visitor on a new connection (``Connection: close``), over a thousand distinct real-looking user
agents in a skewed mix, IPs spread over the GeoIP test databases (enabled, through
``X-Forwarded-For`` with one trusted proxy). Every round is bounded in requests and in time, and
only 127.0.0.1 is ever contacted.

    python bench/clicks.py [--rounds 3] [--requests 15000] [--database-url URL] [--flow]
    tracker bench clicks   (the same options)

With ``--flow`` the campaign routes through a flow of 10 rules (geo, device, versions, IP ranges,
ISP, language and time in a zone, variables, user agent, day of week) before its default paths,
instead of going straight to its offer: the cost of rule matching on every visit.

The load comes from ``wrk`` when it is installed (``apt-get install wrk``), else from a Python
generator (slower: it competes harder with the servers for the same cores). For each round the
count of 302 answers and of visits stored must be equal: a redirected visit is a stored visit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GEOIP_DIR = ROOT / "tests" / "data" / "geoip"
GEOIP_ENV = {
    "TRACKER_GEOIP_CITY": "GeoIP2-City-Test.mmdb",
    "TRACKER_GEOIP_ISP": "GeoIP2-ISP-Test.mmdb",
    "TRACKER_GEOIP_ASN": "GeoLite2-ASN-Test.mmdb",
    "TRACKER_GEOIP_CONNECTION_TYPE": "GeoIP2-Connection-Type-Test.mmdb",
}
CAMPAIGN_KEY = "benchclicks"
HOST = "127.0.0.1"  # the only address this benchmark ever sends to
MAX_ROUND_SECONDS = 60


@dataclass
class Options:
    rounds: int = 3
    requests: int = 15_000
    connections: int = 8
    workers: int = 2
    database_url: str = ""  # empty: a fresh SQLite file in a temporary folder
    loader: str = "auto"  # auto, wrk, python
    drain_below: int = 1_000
    drain_timeout: float = 75.0
    seed: int = 7
    flow: bool = False  # the campaign routes through flow_document (10 rules) first


@dataclass
class RoundResult:
    target: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    redirects: int
    other: int
    stored: int | None = None
    catch_up_s: float = 0.0  # seconds after the round until every visit was in the store
    errors: int = 0  # wrk's connect, read, write errors and timeouts

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    date: str
    loader: str
    store: str
    options: Options
    rounds: list[RoundResult] = field(default_factory=list)
    rss_mb: dict[str, list[float]] = field(default_factory=dict)

    def median(self, target: str, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.rounds if r.target == target]
        return statistics.median(values) if values else 0.0

    @property
    def ratio(self) -> float:
        bare = self.median("bare", "rate")
        return self.median("tracker", "rate") / bare if bare else 0.0

    @property
    def lost(self) -> int:
        return sum(r.redirects - (r.stored or 0) for r in self.rounds if r.target == "tracker")

    def lines(self) -> list[str]:
        out = [
            f"date: {self.date}",
            f"store: {self.store}; loader: {self.loader}; workers: {self.options.workers}; "
            f"connections: {self.options.connections}; requests per round: "
            f"{self.options.requests}; Connection: close"
            + ("; campaign: a flow of 10 rules" if self.options.flow else ""),
            "",
            "| round | target | requests/s | p50 ms | p99 ms | 302s | other | visits stored "
            "| all stored after |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, r in enumerate(self.rounds, 1):
            stored = "" if r.stored is None else str(r.stored)
            caught = "" if r.stored is None else f"{r.catch_up_s:.1f} s"
            out.append(
                f"| {(n + 1) // 2} | {r.target} | {r.rate:,.0f} | {r.p50_ms:.2f} | "
                f"{r.p99_ms:.2f} | {r.redirects} | {r.other} | {stored} | {caught} |"
            )
        out.append("")
        for target in ("tracker", "bare"):
            out.append(
                f"median {target}: {self.median(target, 'rate'):,.0f} requests/s, "
                f"p50 {self.median(target, 'p50_ms'):.2f} ms, "
                f"p99 {self.median(target, 'p99_ms'):.2f} ms"
            )
        out.append(f"ratio tracker / bare: {self.ratio:.2f}")
        tracker_302 = sum(r.redirects for r in self.rounds if r.target == "tracker")
        tracker_stored = sum(r.stored or 0 for r in self.rounds if r.target == "tracker")
        out.append(
            f"tracker 302s: {tracker_302}, visits stored: {tracker_stored}, "
            f"lost: {tracker_302 - tracker_stored}"
        )
        for target, sizes in self.rss_mb.items():
            shown = ", ".join(f"{s:.0f}" for s in sizes)
            out.append(f"{target} worker RSS (MB): {shown}")
        return out


# --- the load: user agents and IPs ------------------------------------------------------------

ANDROID_MODELS = [
    "SM-A515F",
    "SM-A125F",
    "SM-G991B",
    "SM-S911B",
    "SM-A536B",
    "SM-G973F",
    "SM-N986B",
    "SM-A145R",
    "Pixel 7",
    "Pixel 8 Pro",
    "Pixel 6a",
    "Redmi Note 8 Pro",
    "M2101K6G",
    "22101316G",
    "CPH2211",
    "CPH2387",
    "RMX3363",
    "V2111",
    "moto g(8) power",
    "moto e(7)",
    "TECNO KG5n",
    "Infinix X6816",
    "itel A665L",
    "LM-K420",
    "ELE-L29",
    "JNY-LX1",
    "SM-T505",
    "SM-X200",
    "Lenovo TB-X606F",
    "Nokia G20",
]
IOS_VERSIONS = ["15_7", "16_1", "16_5", "16_6", "17_0", "17_1", "17_2", "17_3", "17_4", "17_5"]
WINDOWS = ["Windows NT 10.0; Win64; x64", "Windows NT 6.1; Win64; x64", "Windows NT 10.0"]
MACS = ["Macintosh; Intel Mac OS X 10_15_7", "Macintosh; Intel Mac OS X 10_14_6"]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
]


def user_agents(rng: random.Random, count: int = 1_200) -> list[str]:
    """At least ``count`` distinct, real-looking user agents (most common first)."""
    found: dict[str, None] = dict.fromkeys(BOTS)
    makers: list[Callable[[], str]] = [
        lambda: (
            f"Mozilla/5.0 (Linux; Android {rng.choice([10, 11, 12, 13, 14])}; "
            f"{rng.choice([*ANDROID_MODELS, 'K'])}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{rng.randint(110, 126)}.0.{rng.randint(5000, 6500)}.{rng.randint(10, 200)} "
            "Mobile Safari/537.36"
        ),
        lambda: (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {(v := rng.choice(IOS_VERSIONS))} like Mac OS X)"
            f" AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v.split('_')[0]}."
            f"{v.split('_')[1]} Mobile/15E148 Safari/604.1"
        ),
        lambda: (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {rng.choice(IOS_VERSIONS)} like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/"
            f"{rng.randint(400, 470)}.0.0.{rng.randint(10, 60)}.{rng.randint(100, 120)};FBBV/"
            f"{rng.randint(500000000, 600000000)};FBDV/iPhone{rng.randint(11, 16)},"
            f"{rng.randint(1, 8)};FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US]"
        ),
        lambda: (
            f"Mozilla/5.0 (iPad; CPU OS {rng.choice(IOS_VERSIONS)} like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
        ),
        lambda: (
            f"Mozilla/5.0 ({rng.choice(WINDOWS)}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{rng.randint(110, 126)}.0.0.0 Safari/537.36"
            + (
                f" Edg/{rng.randint(110, 126)}.0.{rng.randint(1000, 2500)}.{rng.randint(10, 99)}"
                if rng.random() < 0.3
                else ""
            )
        ),
        lambda: (
            f"Mozilla/5.0 ({rng.choice([*WINDOWS, 'X11; Linux x86_64', 'X11; Ubuntu; Linux'])};"
            f" rv:{(v := rng.randint(100, 127))}.0) Gecko/20100101 Firefox/{v}.0"
        ),
        lambda: (
            f"Mozilla/5.0 ({rng.choice(MACS)}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{rng.randint(14, 17)}.{rng.randint(0, 6)} Safari/605.1.15"
        ),
        lambda: (
            f"Mozilla/5.0 (Linux; Android {rng.choice([11, 12, 13, 14])}; "
            f"{rng.choice(ANDROID_MODELS[:8])}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"SamsungBrowser/{rng.randint(18, 25)}.0 Chrome/{rng.randint(110, 126)}.0.0.0 "
            "Mobile Safari/537.36"
        ),
        lambda: (
            f"Mozilla/5.0 (SMART-TV; LINUX; Tizen {rng.randint(4, 7)}.0) AppleWebKit/537.36 "
            f"(KHTML, like Gecko) {rng.randint(70, 110)}.0.{rng.randint(3000, 5000)}.0/"
            f"{rng.randint(4, 7)}.0 TV Safari/537.36"
        ),
    ]
    weights = [40, 25, 8, 4, 12, 4, 3, 3, 1]
    while len(found) < count:
        maker = rng.choices(makers, weights)[0]
        found.setdefault(maker(), None)
    agents = list(found)
    rng.shuffle(agents)
    return agents


def zipf_weights(n: int, exponent: float = 1.07) -> list[float]:
    """Real traffic repeats a few user agents heavily: weight of rank r is 1 / r^s."""
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


def visitor_ips(rng: random.Random, count: int = 3_000) -> list[str]:
    """Addresses inside the networks of the GeoIP test databases, plus random public ones."""
    import ipaddress

    import maxminddb

    networks: list[Any] = []
    for name in GEOIP_ENV.values():
        with maxminddb.open_database(str(GEOIP_DIR / name)) as reader:
            networks.extend(network for network, _record in reader)
    ips: set[str] = set()
    for network in networks:
        if network.is_private or network.is_reserved or network.is_loopback:
            continue
        for _ in range(2):
            offset = rng.randrange(network.num_addresses) if network.num_addresses > 1 else 0
            ips.add(str(network.network_address + offset))
    while len(ips) < count:
        candidate = ipaddress.IPv4Address(rng.randrange(1 << 24, 223 << 24))
        if candidate.is_global:
            ips.add(str(candidate))
    out = sorted(ips)
    rng.shuffle(out)
    return out[: max(count, len(out))]


# --- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    """Run a server until the block ends (SIGTERM, then SIGKILL); yields its master pid.

    The server runs in a session of its own (a Ctrl-C meant for the benchmark must not stop it
    mid-round), so a SIGTERM to the benchmark is turned into an exit that stops it too."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_listening(port, process)
            yield process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            signal.signal(signal.SIGTERM, previous)


def worker_rss_mb(master_pid: int, background: bool = False) -> list[float]:
    """Resident memory of each web worker of a gunicorn master (or, with ``background``, of the
    tracker's background worker that ``tracker serve`` also starts)."""
    sizes = []
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        cmdline = Path(f"/proc/{pid}/cmdline")
        is_background = cmdline.exists() and b"['worker']" in cmdline.read_bytes()
        if is_background != background:
            continue
        status = Path(f"/proc/{pid}/status")
        for line in status.read_text().splitlines() if status.exists() else []:
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def time_wait_count(ports: tuple[int, ...] = ()) -> int:
    """Sockets in TIME_WAIT (on these local ports only, when given: others' runs not counted)."""
    command = ["ss", "-tan", "state", "time-wait"]
    if ports:
        sides = [f"{side} = :{port}" for port in ports for side in ("sport", "dport")]
        command.append("( " + " or ".join(sides) + " )")
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return max(0, len(out.splitlines()) - 1)


def drain_time_wait(
    below: int, timeout: float, say: Callable[[str], None], ports: tuple[int, ...] = ()
) -> None:
    """Let the last round's closed connections leave TIME_WAIT before the next round."""
    deadline = time.monotonic() + timeout
    count = time_wait_count(ports)
    if count >= below:
        say(f"  waiting for {count} TIME_WAIT sockets to drain below {below}...")
    while count >= below and time.monotonic() < deadline:
        time.sleep(2)
        count = time_wait_count(ports)


# --- loaders --------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local agents = {%(agents)s}
local cumulative = {%(cumulative)s}
local ips = {%(ips)s}
local total = cumulative[#cumulative]
local limit = %(limit)d
local path = "%(path)s"

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  got, redirects, other, first_us, last_us = 0, 0, 0, 0, 0
  -- wrk calls request() once in its first thread to check the script: that one is never sent.
  sent = id == 1 and -1 or 0
  math.randomseed(%(seed)d + id)
end

local function pick_agent()
  local r = math.random() * total
  local lo, hi = 1, #cumulative
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cumulative[mid] < r then lo = mid + 1 else hi = mid end
  end
  return agents[lo]
end

function request()
  if sent >= limit then
    -- The visits are all sent: a 404 filler that records nothing, until the last answers are in.
    return wrk.format("GET", "/bench-filler", {["Connection"] = "close"})
  end
  if sent == 0 then first_us = now_us() end
  sent = sent + 1
  return wrk.format("GET", path .. "?sub=" .. id .. "-" .. sent .. "&zone=" .. math.random(40)
    .. "&cost=0.0021", {
      ["User-Agent"] = pick_agent(),
      ["X-Forwarded-For"] = ips[math.random(#ips)],
      ["Accept-Language"] = "en-US,en;q=0.9",
      ["Connection"] = "close",
    })
end

function response(status, headers, body)
  if got >= limit or status == 404 then return end
  got = got + 1
  if status == 302 then redirects = redirects + 1 else other = other + 1 end
  if got >= limit then
    last_us = now_us()
    io.write("LIMIT\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local r, o, first, last = 0, 0, nil, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("redirects")
    o = o + thread:get("other")
    local f, l = thread:get("first_us"), thread:get("last_us")
    if first == nil or f < first then first = f end
    if l > last then last = l end
  end
  io.write(string.format(
    "BENCH {\"redirects\": %%d, \"other\": %%d, \"elapsed_us\": %%d, \"p50_us\": %%d, " ..
    "\"p99_us\": %%d, \"errors\": %%d}\n",
    r, o, last - first, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua_strings(values: list[str]) -> str:
    return ",".join(json.dumps(v) for v in values)  # JSON strings are valid Lua strings here


def run_wrk(
    port: int,
    agents: list[str],
    weights: list[float],
    ips: list[str],
    opts: Options,
    requests: int,
    workdir: Path,
    seed: int,
) -> RoundResult:
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)
    script = workdir / "clicks.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "agents": _lua_strings(agents),
            "cumulative": ",".join(f"{c:.9g}" for c in cumulative),
            "ips": _lua_strings(ips),
            "limit": requests,
            "path": f"/c/{CAMPAIGN_KEY}",
            "seed": seed,
        }
    )
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
            f"http://{HOST}:{port}/c/{CAMPAIGN_KEY}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # wrk's own clock runs to -d: stop it once all answers are in
        lines.append(line)
        if line.strip() == "LIMIT":
            process.send_signal(signal.SIGINT)
    process.wait(timeout=MAX_ROUND_SECONDS + 30)
    found = [x for x in lines if x.startswith("BENCH ")]
    if not found:
        raise RuntimeError("wrk gave no result:\n" + "".join(lines))
    data = json.loads(found[0][len("BENCH ") :])
    if data["redirects"] + data["other"] < requests:
        raise RuntimeError(f"round stopped at {MAX_ROUND_SECONDS} s before {requests} answers")
    return RoundResult(
        target="",
        requests=data["redirects"] + data["other"],
        seconds=data["elapsed_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        redirects=data["redirects"],
        other=data["other"],
        errors=data.get("errors", 0),
    )


async def _python_load(
    port: int,
    agents: list[str],
    weights: list[float],
    ips: list[str],
    opts: Options,
    requests: int,
    seed: int,
) -> RoundResult:
    rng = random.Random(seed)
    chosen = rng.choices(agents, weights, k=requests)
    latencies: list[float] = []
    counts = {"redirects": 0, "other": 0}
    queue = iter(range(requests))
    deadline = time.monotonic() + MAX_ROUND_SECONDS

    async def one(n: int) -> None:
        raw = (
            f"GET /c/{CAMPAIGN_KEY}?sub=py-{n}&zone={rng.randint(1, 40)}&cost=0.0021 HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\nUser-Agent: {chosen[n]}\r\n"
            f"X-Forwarded-For: {rng.choice(ips)}\r\nAccept-Language: en-US,en;q=0.9\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1", "replace")
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(raw)
        status_line = await reader.readline()
        await reader.read()
        writer.close()
        latencies.append(time.perf_counter() - started)
        status = status_line.split(b" ")[1] if status_line.count(b" ") >= 1 else b""
        counts["redirects" if status == b"302" else "other"] += 1

    async def client() -> None:
        for n in queue:
            if time.monotonic() > deadline:
                return
            try:
                await one(n)
            except OSError:
                counts["other"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(opts.connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return RoundResult(
        target="",
        requests=len(latencies),
        seconds=seconds,
        p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
        redirects=counts["redirects"],
        other=counts["other"],
    )


# --- the store ------------------------------------------------------------------------------------


# --- the --flow scenario: a flow of 10 rules (flows and routing) ---------------------------------


def flow_document(offers: list[int], lander: int) -> dict[str, Any]:
    """A buyer's flow of 10 rules over every kind of condition, most of which this load's
    visitors pass through before a later rule or the default paths (70/30) take them."""

    def to(*ids: int, lander_id: int | None = None) -> list[dict[str, Any]]:
        landers = [{"id": lander_id, "weight": 100}] if lander_id else []
        return [{"landers": landers, "offers": [{"id": i, "weight": 100} for i in ids]}]

    def rule(name: str, *conditions: tuple[str, str, list[str]], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "conditions": [{"field": f, "op": op, "values": v} for f, op, v in conditions],
            "paths": extra.pop("paths", to(offers[0])),
            **extra,
        }

    return {
        "name": "Bench flow",
        "rules": [
            rule(
                "iOS in FR/DE/ES/IT",
                ("country", "in", ["FR", "DE", "ES", "IT"]),
                ("os", "in", ["iOS"]),
            ),
            rule(
                "LatAm mobile",
                ("country", "in", ["BR", "MX", "AR", "CO"]),
                ("device_type", "in", ["mobile"]),
            ),
            rule(
                "Blocked ranges", ("ip", "in_cidr", ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"])
            ),
            rule(
                "Old iOS",
                ("os", "in", ["iOS"]),
                ("os_version", "between", ["14", "16.4"]),
                paths=to(offers[1], lander_id=lander),
            ),
            rule(
                "Mobile data",
                ("connection_type", "in", ["Cellular"]),
                ("device_type", "in", ["mobile", "tablet"]),
            ),
            rule("Big ISPs", ("isp", "contains", ["vodafone", "orange", "telefonica"])),
            rule(
                "EU office hours",
                ("language", "in", ["de", "fr", "es"]),
                ("time_of_day", "between", ["09:00", "17:00"]),
                timezone="Europe/Paris",
            ),
            rule(
                "Top zones on Chrome",
                ("var1", "in", [str(z) for z in range(1, 6)]),
                ("browser", "in", ["Chrome Mobile"]),
                paths=to(offers[1]),
            ),
            rule(
                "Facebook in-app",
                ("user_agent", "contains", ["FBAN", "FBAV", "Instagram"]),
                paths=to(offers[2], lander_id=lander),
            ),
            rule(
                "US weekend",
                ("country", "in", ["US"]),
                ("day_of_week", "in", ["saturday", "sunday"]),
            ),
        ],
        "default_paths": [
            {"name": "main", "weight": 70, "offers": [{"id": offers[1], "weight": 100}]},
            {"name": "test", "weight": 30, "offers": [{"id": offers[2], "weight": 100}]},
        ],
    }


# --- the store ------------------------------------------------------------------------------------


def prepare_store(url: str, instance: Path, flow: bool = False) -> None:
    """Migrate a fresh store and create one campaign straight to an offer (with tokens), or
    (``flow``) through the 10 rules of ``flow_document``."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, make_url, text, update

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
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
    from tracker.models import Campaign, CostModel, Lander, Offer, TrafficSource
    from tracker.store import bump_setup_version

    app = create_app(
        Settings.from_env(environ={}, instance_path=instance, database_url=url, secret_key="b")
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        workspace = default_workspace(db.session)
        db.session.flush()
        source = TrafficSource(
            workspace_id=workspace.id,
            name="Bench source",
            external_id_param="sub",
            cost_param="cost",
            variables=[{"name": "zone", "param": "zone", "placeholder": "{zone}"}],
        )
        offer = Offer(
            workspace_id=workspace.id,
            name="Bench offer",
            url="https://offer.example/?cid={clickid}&geo={country}&dev={device}&z={var1}",
        )
        db.session.add_all([source, offer])
        db.session.flush()
        db.session.add(
            Campaign(
                workspace_id=workspace.id,
                name="Bench campaign",
                key=CAMPAIGN_KEY,
                traffic_source_id=source.id,
                cost_model=CostModel.AUTO,
                path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]},
            )
        )
        if flow:  # --flow: the same campaign, routed by the flow's rules
            from tracker.setup.services import create_flow

            more = [
                Offer(workspace_id=workspace.id, name=f"Bench offer {n}", url=offer.url + f"&o={n}")
                for n in (2, 3)
            ]
            lander = Lander(
                workspace_id=workspace.id,
                name="Bench lander",
                url="https://lp.example/?cid={clickid}",
            )
            db.session.add_all([*more, lander])
            db.session.flush()
            document = flow_document([offer.id, *(o.id for o in more)], lander.id)
            routing = create_flow(db.session, workspace.id, document)
            db.session.execute(
                update(Campaign)
                .where(Campaign.key == CAMPAIGN_KEY)
                .values(flow_id=routing.id, path=None)
            )
        bump_setup_version(db.session)
        db.session.commit()
        db.engine.dispose()


def stored_visits(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM visit")).scalar() or 0)
    finally:
        engine.dispose()


def analyze_store(url: str) -> None:
    """PostgreSQL: statistics for the fresh visit table, as autovacuum would gather within a
    minute; without them the planner checks the unique flag with a scan of the day's visits."""
    from sqlalchemy import create_engine, text

    if not url.startswith("postgresql"):
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE visit"))
    finally:
        engine.dispose()


def settled_count(url: str, expected: int, wait: float = 120.0) -> tuple[int, float]:
    """The visits stored once the write-behind has caught up (or ``wait`` seconds passed), and
    how many seconds after the round's last answer that took."""
    started = time.monotonic()
    count = stored_visits(url)
    while count < expected and time.monotonic() - started < wait:
        time.sleep(0.1)
        count = stored_visits(url)
    return count, time.monotonic() - started


# --- the benchmark --------------------------------------------------------------------------------


def tracker_command() -> list[str]:
    script = Path(sys.executable).parent / "tracker"
    if script.exists():
        return [str(script)]
    found = shutil.which("tracker")
    if found:
        return [found]
    return [sys.executable, "-c", "from tracker.cli import main; main()"]


def bare_command(port: int, workers: int) -> list[str]:
    # The options of tracker.server.run_server, for the same server doing the same work.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--timeout",
        "60",
        "--graceful-timeout",
        "30",
        "--keep-alive",
        "2",
        "--error-logfile",
        "-",
        "--log-level",
        "warning",
        "--pythonpath",
        str(ROOT / "bench"),
        "bare_app:app",
    ]


def run(opts: Options, say: Callable[[str], None] = print) -> Report:
    """Start both servers, load them in alternating rounds, and report."""
    loader = opts.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"
    if loader == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --loader python")
    workdir = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    url = opts.database_url or f"sqlite:///{workdir / 'tracker.db'}"
    rng = random.Random(opts.seed)
    agents = user_agents(rng)
    weights = zipf_weights(len(agents))
    ips = visitor_ips(rng)
    say(f"{len(agents)} user agents, {len(ips)} IPs, loader {loader}, store {url.split(':')[0]}")
    prepare_store(url, workdir / "instance", flow=opts.flow)

    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_SECRET_KEY": "bench-secret",
        "TRACKER_INSTANCE_PATH": str(workdir / "instance"),
        "TRACKER_TRUSTED_PROXIES": "1",
        **{name: str(GEOIP_DIR / file) for name, file in GEOIP_ENV.items()},
    }
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        loader=loader,
        store="PostgreSQL" if url.startswith("postgresql") else "SQLite",
        options=opts,
    )
    ports = {"tracker": free_port(), "bare": free_port()}
    commands = {
        "tracker": [
            *tracker_command(),
            "serve",
            "--bind",
            f"{HOST}:{ports['tracker']}",
            "--workers",
            str(opts.workers),
        ],
        "bare": bare_command(ports["bare"], opts.workers),
    }

    def load(target: str, requests: int, seed: int) -> RoundResult:
        if loader == "wrk":
            result = run_wrk(ports[target], agents, weights, ips, opts, requests, workdir, seed)
        else:
            result = asyncio.run(
                _python_load(ports[target], agents, weights, ips, opts, requests, seed)
            )
        result.target = target
        return result

    with (
        serving(commands["tracker"], env, ports["tracker"], workdir / "tracker.log") as t_pid,
        serving(commands["bare"], env, ports["bare"], workdir / "bare.log") as b_pid,
    ):
        say("warming up both servers...")
        warm_up = load("tracker", 500, opts.seed)
        load("bare", 500, opts.seed)
        settled_count(url, warm_up.redirects)  # the rounds count only their own visits
        analyze_store(url)
        for n in range(opts.rounds):
            for target in ("tracker", "bare"):
                drain_time_wait(opts.drain_below, opts.drain_timeout, say, tuple(ports.values()))
                before = stored_visits(url) if target == "tracker" else None
                result = load(target, opts.requests, opts.seed + n)
                if before is not None:
                    count, result.catch_up_s = settled_count(url, before + result.redirects)
                    result.stored = count - before
                report.rounds.append(result)
                say(
                    f"  round {n + 1} {target}: {result.rate:,.0f} req/s, p50 "
                    f"{result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, 302s {result.redirects}"
                    + (
                        f", stored {result.stored} ({result.catch_up_s:.1f} s after)"
                        if result.stored is not None
                        else ""
                    )
                )
        report.rss_mb = {
            "tracker": worker_rss_mb(t_pid),
            "tracker background": worker_rss_mb(t_pid, background=True),
            "bare": worker_rss_mb(b_pid),
        }
    shutil.rmtree(workdir, ignore_errors=True)
    return report


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Options()
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--requests", type=int, default=defaults.requests)
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default=defaults.loader)
    parser.add_argument("--drain-below", type=int, default=defaults.drain_below)
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--flow", action="store_true", help="route the campaign through a flow of 10 rules"
    )
    args = parser.parse_args(argv)
    return Options(**vars(args))


def main(argv: list[str] | None = None) -> int:
    report = run(parse_args(argv), say=lambda m: print(m, file=sys.stderr))
    print("\n".join(report.lines()))
    return 0 if report.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
