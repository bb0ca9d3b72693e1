"""Real faults against a live `tracker serve`: the store cut off mid-traffic (PostgreSQL behind a
TCP proxy that drops every connection), SQLite's write lock held by another process, SIGTERM
during load, SIGKILL of a worker during load. After each, the count: every redirect answered
has its visit stored, none twice.

Each test polls for what it waits on, with a bounded timeout; none sleeps to synchronise.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, func, make_url, select
from sqlalchemy.orm import Session

from bench.openloop import run_open_loop
from tests.fault_tools import BROWSER_UA, Server, Tally, TcpProxy, drive, get, serving
from tracker.models import Campaign, Offer, Visit

LOAD_CONNECTIONS = 4


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stored(database_url: str, campaign_id: int) -> tuple[list[str], int]:
    """The click IDs stored for the campaign, and the sum of their clicks."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = list(conn.scalars(select(Visit.click_id).where(Visit.campaign_id == campaign_id)))
            clicks = conn.scalar(
                select(func.coalesce(func.sum(Visit.clicks), 0)).where(
                    Visit.campaign_id == campaign_id
                )
            )
        return ids, int(clicks or 0)
    finally:
        engine.dispose()


class Load:
    """Visits of one campaign URL from ``LOAD_CONNECTIONS`` threads, until stopped."""

    def __init__(self, server: Server, key: str, connections: int = LOAD_CONNECTIONS) -> None:
        self.tally = Tally()
        self.stop_event = threading.Event()
        paths = (f"/c/{key}?zoneid={n}" for n in itertools.count())
        self.thread = threading.Thread(
            target=drive,
            args=(server.port, paths, self.tally, connections, self.stop_event),
            kwargs={"timeout": 20},
            daemon=True,
        )

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def answered(self) -> int:
        return len(self.tally.click_ids)

    def wait_for_more(self, count: int, timeout: float = 60) -> None:
        target = self.answered() + count
        wait_for(f"{count} more redirects", lambda: self.answered() >= target, timeout)

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the load did not stop"


def assert_every_redirect_stored_once(
    database_url: str, campaign_id: int, answered: list[str], slack: int = 0, timeout: float = 60
) -> list[str]:
    """Poll until every answered click ID is stored; none is stored twice, and at most
    ``slack`` visits are stored whose answer never arrived (in flight when a worker died)."""
    expected = set(answered)
    assert len(expected) == len(answered), "a click ID was answered twice"
    wait_for(
        f"{len(expected)} visits stored",
        lambda: expected <= set(stored(database_url, campaign_id)[0]),
        timeout,
    )
    ids, _ = stored(database_url, campaign_id)
    assert len(ids) == len(set(ids)), "a visit was stored twice"
    assert len(set(ids) - expected) <= slack, (len(ids), len(expected))
    return ids


@pytest.fixture
def direct_campaign(
    db: Session, make_campaign: Callable[..., Campaign], make_offer: Callable[..., Offer]
) -> Campaign:
    """A campaign straight to an offer whose URL carries the click ID as ``cid``."""
    offer = make_offer(url="https://offer.example/?cid={clickid}")
    return make_campaign(
        path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]}
    )


def health(server: Server) -> dict[str, Any]:
    import json

    answer = get(server.port, "/healthz", timeout=20)
    assert answer.status == 200
    body: dict[str, Any] = json.loads(answer.body)
    return body


# --- the store down ------------------------------------------------------------------------------


def test_postgresql_cut_off_mid_traffic_loses_no_visit(
    database_url: str, tmp_path: Path, lander_offer_campaign: Campaign
) -> None:
    """The store's TCP connections are reset and new ones refused for a while, under load: the
    redirects go on from the cached campaign, a click on a visit of the outage reaches the
    offer, postbacks get 503, /healthz says degraded; when the store is back, every visit
    answered is stored once and every click counted once."""
    if not is_postgres(database_url):
        pytest.skip("cuts PostgreSQL's TCP connections (SQLite: the held-lock test below)")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    campaign = lander_offer_campaign
    try:
        with (
            serving(proxy.url_for(database_url), tmp_path, workers=1) as server,
            Load(server, campaign.key) as load,
        ):
            load.wait_for_more(50)  # the campaign is cached; visits flow into the store
            proxy.cut()
            cut_at = load.answered()
            load.wait_for_more(200)
            during = load.tally.click_ids[cut_at + 20 : cut_at + 30]
            clicks = [get(server.port, f"/click?cid={cid}") for cid in during]
            assert [c.status for c in clicks] == [302] * len(during)
            assert all(c.location.startswith("https://offer.example/") for c in clicks)
            assert [c.click_id() for c in clicks] == during
            postback = get(server.port, f"/postback?cid={during[0]}&payout=3")
            assert postback.status == 503 and postback.headers.get("retry-after")
            degraded = health(server)
            assert degraded["status"] == "degraded" and degraded["store"] == "unreachable"
            assert degraded["spool"]["backlog"] > 0 and degraded["spool"]["bytes"] > 0
            assert proxy.connections > 0
            proxy.restore()
            # The traffic itself finds the store again, at the gate's next probe (<= 5 s).
            wait_for("the store found again", lambda: "store reachable again" in server.log())
            load.wait_for_more(100)
        assert not load.tally.other, load.tally.other[:5]
        answered = load.tally.click_ids
        assert len(answered) >= 350
        assert_every_redirect_stored_once(database_url, campaign.id, answered)
        _, click_count = stored(database_url, campaign.id)
        assert click_count == len(during)  # lander visits: only the clicks made above
        log = server.log()
        assert log.count("store unreachable") == 1, log[-3000:]
        assert "store reachable again" in log
        assert "postback not recorded, store unavailable" in log
    finally:
        proxy.close()


def test_sqlite_write_lock_held_mid_traffic_loses_no_visit(
    database_url: str, tmp_path: Path, direct_campaign: Campaign
) -> None:
    """Another process holds SQLite's write lock for a while under load: redirects go on
    (visits wait in the spool), and once the lock is released every visit is stored once."""
    if is_postgres(database_url):
        pytest.skip("holds SQLite's lock (PostgreSQL: the cut-off test above)")
    campaign = direct_campaign
    path = make_url(database_url).database
    assert path
    with (
        serving(database_url, tmp_path, workers=2) as server,
        Load(server, campaign.key) as load,
    ):
        load.wait_for_more(50)
        holder = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # every other writer now waits
            locked_at = load.answered()
            load.wait_for_more(200)
            wait_for("the backlog to show", lambda: health(server)["spool"]["bytes"] > 0)
            # The fault is real: visits answered under the lock wait (a few answered just
            # before it may have been stored, hence not all of them).
            during_lock = set(load.tally.click_ids[locked_at:])
            assert len(during_lock - set(stored(database_url, campaign.id)[0])) >= 150
        finally:
            holder.execute("COMMIT")
            holder.close()
        load.wait_for_more(100)
    assert not load.tally.other, load.tally.other[:5]
    assert_every_redirect_stored_once(database_url, campaign.id, load.tally.click_ids)


# --- process faults ------------------------------------------------------------------------------


def test_sigterm_during_load_loses_no_visit(
    database_url: str, tmp_path: Path, direct_campaign: Campaign
) -> None:
    """SIGTERM to `tracker serve` under load: requests in progress are answered, workers store
    what they queued before they exit, and nothing is left in the spool."""
    campaign = direct_campaign
    with serving(database_url, tmp_path, workers=2) as server:
        load = Load(server, campaign.key, connections=8)
        with load:
            load.wait_for_more(300)
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(60) == 0, server.log()[-3000:]
    # Once the server stopped, the load only met refused connections: no 5xx, no bad status.
    statuses = {other[0] for other in load.tally.other}
    assert all(isinstance(s, OSError) for s in statuses), statuses
    assert_every_redirect_stored_once(database_url, campaign.id, load.tally.click_ids, timeout=5)
    spool = server.instance / "spool"
    left = [p for p in spool.glob("visits-*.jsonl") if p.stat().st_size] if spool.exists() else []
    assert left == []


def test_sigkill_of_a_worker_during_load_loses_no_answered_visit(
    database_url: str, tmp_path: Path, direct_campaign: Campaign
) -> None:
    """SIGKILL of a web worker under load: the visits it answered are in its spool file, which
    the next worker replays; none answered is lost, none stored twice. At most the one request
    it was serving (journalled, never answered) is stored without a redirect."""
    campaign = direct_campaign
    with serving(database_url, tmp_path, workers=2, background_worker=False) as server:
        with Load(server, campaign.key) as load:
            load.wait_for_more(200)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            wait_for("a new worker", lambda: victim not in server.worker_pids(), 30)
            load.wait_for_more(300)  # the new worker replays the dead one's spool file
        # A request cut by the kill failed on the client's side: never a 5xx.
        assert all(not isinstance(s, int) or s < 500 for s, _ in load.tally.other)
        ids = assert_every_redirect_stored_once(
            database_url, campaign.id, load.tally.click_ids, slack=1
        )
    assert len(ids) >= 500


def test_sigkill_during_an_outage_replays_the_whole_spool(
    database_url: str, tmp_path: Path, lander_offer_campaign: Campaign
) -> None:
    """The worst case the spool is for: the store is down and the worker is killed with
    visits only in its spool file; a new worker replays them once the store is back."""
    if not is_postgres(database_url):
        pytest.skip("cuts PostgreSQL's TCP connections")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    campaign = lander_offer_campaign
    try:
        with serving(
            proxy.url_for(database_url), tmp_path, workers=1, background_worker=False
        ) as server:
            with Load(server, campaign.key) as load:
                load.wait_for_more(30)
                proxy.cut()
                load.wait_for_more(300)
                (victim,) = server.worker_pids()
            os.kill(victim, signal.SIGKILL)
            wait_for("a new worker", lambda: server.worker_pids() not in ([], [victim]), 30)
            proxy.restore()
            # The new worker replays the orphan at its first visit (which needs the store up).
            answered = [*load.tally.click_ids]
            assert not load.tally.other, load.tally.other[:5]
            late = get(server.port, f"/c/{campaign.key}")
            assert late.status == 302
            answered.append(late.click_id())
            assert_every_redirect_stored_once(database_url, campaign.id, answered, slack=1)
    finally:
        proxy.close()


# --- past capacity -------------------------------------------------------------------------------


def visit_request(port: int, key: str, n: int) -> bytes:
    return (
        f"GET /c/{key}?zoneid={n} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"User-Agent: {BROWSER_UA}\r\nConnection: close\r\n\r\n"
    ).encode()


def test_twice_the_rate_it_can_answer_is_answered_late_and_all_stored(
    database_url: str, tmp_path: Path, direct_campaign: Campaign
) -> None:
    """Visits sent at twice the rate the server answers, whatever its answers (an open loop):
    they queue and wait, and then every one is redirected and stored once; nothing is refused,
    nothing answers 5xx. The rate is measured first on this machine, as a burst all at once."""
    campaign = direct_campaign
    with serving(database_url, tmp_path, workers=2) as server:
        port = server.port
        probe = run_open_loop(
            "127.0.0.1",
            port,
            [visit_request(port, campaign.key, n) for n in range(400)],
            1e6,
            keep_heads=True,
        )
        assert probe.statuses == {302: 400} and not probe.errors, (probe.statuses, probe.errors)
        capacity = probe.answered / probe.seconds
        count = max(400, int(capacity * 2))  # about two seconds of twice the capacity
        requests = [visit_request(port, campaign.key, 1000 + n) for n in range(count)]
        result = run_open_loop("127.0.0.1", port, requests, 2 * capacity, keep_heads=True)
        assert not result.errors, result.errors
        assert result.statuses == {302: count}, result.statuses
        # The queue showed as latency: the last visits waited for the ones before them.
        assert result.percentile_ms(99) > result.percentile_ms(1)
        answered = [head_click_id(head) for head in [*probe.answers, *result.answers]]
        assert_every_redirect_stored_once(database_url, campaign.id, answered)
        assert "ERROR" not in server.log()


def head_click_id(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "location":
            return parse_qs(urlsplit(value.strip()).query)["cid"][0]
    raise AssertionError(f"no Location in {head!r}")
