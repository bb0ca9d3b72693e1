"""Identical postbacks racing against a real server count once and forward once: threads
against the live test server, and processes of `tracker serve` (two gunicorn workers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.test_postback import add_visit, conversions, log_rows
from tracker.models import Campaign, OutboxMessage, TrafficSource, Visit


def fire(urls: list[str]) -> list[tuple[int, str]]:
    """GET every URL at the same moment, one thread each; (status, first word) per answer."""
    barrier = threading.Barrier(len(urls))
    answers: list[tuple[int, str]] = [(0, "")] * len(urls)

    def call(index: int, url: str) -> None:
        barrier.wait()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                answers[index] = (response.status, response.read().decode().split(":")[0].strip())
        except urllib.error.HTTPError as exc:
            answers[index] = (exc.code, exc.read().decode().split(":")[0].strip())

    threads = [threading.Thread(target=call, args=(i, u)) for i, u in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_identical_postbacks_racing_count_once(
    live_server: str, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    visit = add_visit(db, make_campaign())
    url = f"{live_server}/postback?cid={visit.click_id}&txid=RACE&payout=5"
    answers = fire([url] * 16)
    assert {status for status, _ in answers} == {200}
    assert Counter(word for _, word in answers) == {"recorded": 1, "duplicate": 15}
    assert len(conversions(db)) == 1
    assert len(log_rows(db)) == 16


def test_racing_status_updates_apply_and_forward_once(
    live_server: str,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    source = make_traffic_source(postback_url="http://127.0.0.1:9/pb?s={status}")
    visit = add_visit(db, make_campaign(traffic_source_id=source.id))
    base = f"{live_server}/postback?cid={visit.click_id}&txid=UP"
    assert fire([base + "&status=pending"])[0] == (200, "recorded")
    answers = fire([base + "&status=approved"] * 12)
    assert Counter(word for _, word in answers) == {"updated": 1, "duplicate": 11}
    [row] = conversions(db)
    assert row["status"] == "approved"
    db.rollback()
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1


# --- against `tracker serve` ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(database_url: str, tmp_root: Path, db: Session) -> Iterator[str]:
    """`tracker serve` with two workers on the test store; yields its base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=database_url,
        TRACKER_INSTANCE_PATH=str(tmp_root / "instance"),
        TRACKER_SECRET_KEY="test-secret-key",
    )
    port = _free_port()
    tracker = str(Path(sys.executable).with_name("tracker"))
    process = subprocess.Popen(
        [tracker, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).close()
            break
        except OSError:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "tracker serve did not start"
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def test_racing_postbacks_against_two_server_processes(
    served: str, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    visits: list[Visit] = [add_visit(db, campaign) for _ in range(10)]
    same = [f"{served}/postback?cid={visits[0].click_id}&txid=SAME"] * 12
    distinct = [f"{served}/postback?cid={v.click_id}&txid=D{n}" for n, v in enumerate(visits)]
    distinct += [f"{served}/postback?cid={visits[1].click_id}&txid=E{n}" for n in range(10)]
    answers = fire(same + distinct)
    assert {status for status, _ in answers} == {200}
    words = Counter(word for _, word in answers)
    assert words == {"recorded": 1 + len(distinct), "duplicate": len(same) - 1}
    rows = conversions(db)
    assert len(rows) == 1 + len(distinct)
    assert len({r["dedupe_key"] for r in rows}) == len(rows)
