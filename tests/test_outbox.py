"""Forwarding conversions to traffic sources: tokens in the source's postback URL, which
statuses and conversions go, retries with back-off against a real receiver on loopback that
fails then recovers, success patterns, timeouts, two workers never sending one message twice,
a worker that was down catching up, the postback log's retention, and `tracker worker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from tests.test_postback import add_visit
from tracker import store
from tracker.conversions import outbox, worker
from tracker.conversions.outbox import RetryPolicy, claim_due, deliver_due
from tracker.conversions.worker import prune_postback_log, run_worker
from tracker.models import Campaign, OutboxMessage, PostbackLog, TrafficSource, Visit
from tracker.models.types import utcnow

FAST = RetryPolicy(max_attempts=4, base_delay=10, max_delay=100, timeout=2, lease=60)
# Where a test needs every send to succeed at the first try, even on a machine busy enough to
# make a loopback answer take seconds.
PATIENT = RetryPolicy(max_attempts=4, base_delay=10, max_delay=100, timeout=30, lease=120)


class Receiver:
    """A traffic source's postback endpoint on loopback: answers from a script, then 200 OK
    (or, with ``respond``, what it says for each path)."""

    def __init__(
        self,
        script: list[tuple[int, str]] | None = None,
        delay: float = 0,
        respond: Callable[[str], tuple[int, str]] | None = None,
    ) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.respond = respond
        self.hits: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with receiver.lock:
                    receiver.hits.append(self.path)
                    if receiver.respond is not None:
                        status, body = receiver.respond(self.path)
                    else:
                        status, body = receiver.script.pop(0) if receiver.script else (200, "OK")
                if receiver.delay:
                    time.sleep(receiver.delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def queries(self) -> list[dict[str, str]]:
        with self.lock:
            return [{k: v[0] for k, v in parse_qs(urlsplit(p).query).items()} for p in self.hits]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(
        script: list[tuple[int, str]] | None = None,
        delay: float = 0,
        respond: Callable[[str], tuple[int, str]] | None = None,
    ) -> Receiver:
        instance = Receiver(script, delay, respond).__enter__()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.__exit__()


@pytest.fixture
def forwarding_visit(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> Callable[..., Visit]:
    """A visit from a source whose postback URL (and other forward settings) are given."""

    def make(url: str, **source_fields: Any) -> Visit:
        source = make_traffic_source(postback_url=url, **source_fields)
        campaign = make_campaign(traffic_source_id=source.id, name="Summer push")
        return add_visit(db, campaign, external_id="ext-77", country="DE", var1="zone9")

    return make


def messages(db: Session) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.execute(select(OutboxMessage.__table__).order_by(OutboxMessage.id)).mappings()
    return [dict(r) for r in rows]


def run_two_workers(db: Session, limit: int, policy: RetryPolicy = PATIENT) -> None:
    """Two threads, each its own session, deliver until neither finds anything for a while."""
    errors: list[BaseException] = []
    engine = db.get_bind()

    def work() -> None:
        try:
            with Session(engine) as session:
                idle = 0
                while idle < 3:  # the other worker may hold the rows this one waits for
                    done = deliver_due(session, utcnow, policy, limit=limit).total
                    idle = 0 if done else idle + 1
                    time.sleep(0.02 * idle)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


class Clock:
    """A settable now() for the worker."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


TOKENS_URL = (
    "/pb?click={externalid}&payout={payout}&tx={txid}&et={et}&status={status}"
    "&cid={clickid}&camp={campaign.name}&geo={country}&zone={var1}&keep={unknown}"
)


def test_a_conversion_is_forwarded_with_its_tokens(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver()
    visit = forwarding_visit(rx.url + TOKENS_URL)
    client.get(f"/postback?cid={visit.click_id}&payout=3,50&txid=T 1&et=dep")
    [queued] = messages(db)
    assert queued["status"] == "pending"
    report = deliver_due(db, utcnow, FAST)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [sent] = rx.queries()
    assert sent == {
        "click": "ext-77",
        "payout": "3.5",
        "tx": "T 1",
        "et": "dep",
        "status": "approved",
        "cid": visit.click_id,
        "camp": "Summer push",
        "geo": "DE",
        "zone": "zone9",
        "keep": "{unknown}",  # unknown tokens stay as written
    }
    [done] = messages(db)
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("sent", 1, 200)
    assert done["last_response"] == "OK" and done["sent_at"] is not None


def test_a_failing_receiver_is_retried_with_back_off_until_it_recovers(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver([(500, "database down"), (503, "busy")])
    visit = forwarding_visit(rx.url + "/pb?c={externalid}")
    client.get(f"/postback?cid={visit.click_id}")
    clock = Clock()

    assert deliver_due(db, clock, FAST).retrying == 1
    first = messages(db)[0]
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    assert first["last_response"] == "database down" and "500" in first["last_error"]
    wait1 = (first["next_attempt_at"] - clock.now).total_seconds()
    assert 9 <= wait1 <= 11

    assert deliver_due(db, clock, FAST).total == 0  # not due yet
    clock.advance(wait1 + 1)
    assert deliver_due(db, clock, FAST).retrying == 1
    second = messages(db)[0]
    wait2 = (second["next_attempt_at"] - clock.now).total_seconds()
    assert 18 <= wait2 <= 22  # doubled

    clock.advance(wait2 + 1)
    assert deliver_due(db, clock, FAST).sent == 1
    done = messages(db)[0]
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("sent", 3, 200)
    assert len(rx.hits) == 3


def test_gives_up_after_the_last_attempt_and_can_be_retried_by_hand(
    client: FlaskClient,
    db: Session,
    forwarding_visit: Callable[..., Visit],
) -> None:
    visit = forwarding_visit("http://127.0.0.1:9/unreachable?c={clickid}")
    client.get(f"/postback?cid={visit.click_id}")
    clock = Clock()
    for _ in range(FAST.max_attempts):
        deliver_due(db, clock, FAST)
        clock.advance(FAST.max_delay * 2)
    [failed] = messages(db)
    assert (failed["status"], failed["attempts"]) == ("failed", FAST.max_attempts)
    assert failed["last_status_code"] is None and "Error" in failed["last_error"]
    assert deliver_due(db, clock, FAST).total == 0
    assert outbox.retry_now(db, visit.workspace_id, failed["id"], clock())
    db.commit()
    assert deliver_due(db, clock, FAST).retrying == 1


def test_a_200_with_an_error_body_is_a_failure_when_the_source_says_so(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver([(200, "ERROR: unknown goal")])
    visit = forwarding_visit(
        rx.url + "/tag.php?tag={externalid}", postback_success_pattern=r"^\s*OK"
    )
    client.get(f"/postback?cid={visit.click_id}")
    clock = Clock()
    assert deliver_due(db, clock, FAST).retrying == 1
    first = messages(db)[0]
    assert first["last_status_code"] == 200 and "success pattern" in first["last_error"]
    clock.advance(FAST.base_delay * 2)
    assert deliver_due(db, clock, FAST).sent == 1


def test_a_slow_receiver_times_out_and_is_retried(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver(delay=1.5)
    visit = forwarding_visit(rx.url + "/slow")
    client.get(f"/postback?cid={visit.click_id}")
    policy = RetryPolicy(max_attempts=3, base_delay=10, timeout=0.3)
    assert deliver_due(db, utcnow, policy).retrying == 1
    [row] = messages(db)
    assert "timed out" in row["last_error"].lower()


def test_only_the_statuses_the_source_takes_are_forwarded(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver()
    visit = forwarding_visit(
        rx.url + "/pb?s={status}", postback_statuses=["approved", "chargeback"]
    )
    for status in ("pending", "approved", "approved", "chargeback"):
        client.get(f"/postback?cid={visit.click_id}&txid=X&status={status}")
    clock = Clock()
    while deliver_due(db, clock, FAST).total:
        pass
    assert [q["s"] for q in rx.queries()] == ["approved", "chargeback"]


def test_a_conversions_forwards_go_in_order_even_when_the_first_is_retried(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    failed_once: set[str] = set()

    def respond(path: str) -> tuple[int, str]:
        # Every approval fails the first time it arrives; anything else is taken at once.
        if "s=approved" in path and path not in failed_once:
            failed_once.add(path)
            return 500, "try again"
        return 200, "OK"

    rx = receiver(respond=respond)
    visit = forwarding_visit(
        rx.url + "/pb?s={status}&tx={txid}", postback_statuses=["approved", "chargeback"]
    )
    for txid in ("A", "B"):
        for status in ("approved", "chargeback"):
            client.get(f"/postback?cid={visit.click_id}&txid={txid}&status={status}")
    clock = Clock()

    # The chargebacks wait while their approvals are retrying...
    assert deliver_due(db, clock, FAST).retrying == 2
    assert deliver_due(db, clock, FAST).total == 0
    assert sorted((q["tx"], q["s"]) for q in rx.queries()) == [("A", "approved"), ("B", "approved")]
    # ...and go only after them, one row of a conversion per pass.
    clock.advance(FAST.base_delay * 2)
    assert deliver_due(db, clock, FAST).sent == 2
    assert deliver_due(db, clock, FAST).sent == 2
    assert deliver_due(db, clock, FAST).total == 0
    for txid in ("A", "B"):
        sent = [q["s"] for q in rx.queries() if q["tx"] == txid]
        assert sent == ["approved", "approved", "chargeback"]
    assert {m["status"] for m in messages(db)} == {"sent"}


def test_a_failed_forward_no_longer_holds_back_the_next(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver(respond=lambda path: (500, "no") if "s=approved" in path else (200, "OK"))
    visit = forwarding_visit(
        rx.url + "/pb?s={status}", postback_statuses=["approved", "chargeback"]
    )
    for status in ("approved", "chargeback"):
        client.get(f"/postback?cid={visit.click_id}&txid=X&status={status}")
    clock = Clock()
    for _ in range(FAST.max_attempts):
        assert deliver_due(db, clock, FAST).total == 1
        clock.advance(FAST.max_delay * 2)
    assert [m["status"] for m in messages(db)] == ["failed", "pending"]
    assert deliver_due(db, clock, FAST).sent == 1
    assert [q["s"] for q in rx.queries()] == ["approved"] * FAST.max_attempts + ["chargeback"]


def test_two_workers_keep_each_conversions_forwards_in_order(
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver(delay=0.01)
    statuses = ("pending", "approved", "declined")
    visit = forwarding_visit(rx.url + "/pb?s={status}&tx={txid}", postback_statuses=list(statuses))
    for n in range(8):
        for status in statuses:
            client.get(f"/postback?cid={visit.click_id}&txid=T{n}&status={status}")
    assert len(messages(db)) == 8 * len(statuses)
    run_two_workers(db, limit=4)
    assert {m["status"] for m in messages(db)} == {"sent"}
    for n in range(8):
        assert [q["s"] for q in rx.queries() if q["tx"] == f"T{n}"] == list(statuses)


def test_first_conversion_only(
    client: FlaskClient,
    db: Session,
    forwarding_visit: Callable[..., Visit],
) -> None:
    visit = forwarding_visit("http://127.0.0.1:9/pb?tx={txid}", postback_first_only=True)
    for txid in ("A", "B", "C"):
        client.get(f"/postback?cid={visit.click_id}&txid={txid}")
    assert len(messages(db)) == 1
    assert "first conversion only" in (
        db.scalars(select(PostbackLog.reason).order_by(PostbackLog.id.desc())).first() or ""
    )


def test_no_postback_url_no_forward(
    client: FlaskClient, db: Session, forwarding_visit: Callable[..., Visit]
) -> None:
    visit = forwarding_visit("")
    client.get(f"/postback?cid={visit.click_id}")
    assert messages(db) == []


def _queue(db: Session, workspace_id: int, url: str, count: int) -> None:
    now = utcnow()
    db.execute(
        insert(OutboxMessage),
        [
            {
                "workspace_id": workspace_id,
                "url": f"{url}?n={n}",
                "success_pattern": "",
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_response": "",
                "last_error": "",
                "created_at": now,
            }
            for n in range(count)
        ],
    )
    db.commit()


def test_a_claim_is_taken_by_one_worker_and_expires_if_it_dies(
    app: Flask, db: Session, workspace: Any
) -> None:
    _queue(db, workspace.id, "http://127.0.0.1:9/x", 3)
    now = utcnow()
    with Session(db.get_bind()) as first, Session(db.get_bind()) as second:
        assert len(claim_due(first, now, 10, FAST)) == 3
        assert claim_due(second, now, 10, FAST) == []
        # The first worker died mid-send: once the lease runs out another takes the rows.
        later = now + timedelta(seconds=FAST.lease + 1)
        assert len(claim_due(second, later, 10, FAST)) == 3


def test_two_workers_never_send_the_same_message_twice(
    app: Flask, db: Session, workspace: Any, receiver: Callable[..., Receiver]
) -> None:
    rx = receiver()
    _queue(db, workspace.id, rx.url + "/pb", 40)
    run_two_workers(db, limit=3)
    numbers = sorted(int(q["n"]) for q in rx.queries())
    assert numbers == list(range(40))
    assert {m["status"] for m in messages(db)} == {"sent"}


def test_nothing_is_lost_while_the_worker_is_down(
    app: Flask,
    client: FlaskClient,
    db: Session,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    rx = receiver()
    visit = forwarding_visit(rx.url + "/pb?tx={txid}")
    for n in range(5):
        assert client.get(f"/postback?cid={visit.click_id}&txid={n}").status_code == 200
    assert rx.hits == []
    totals = run_worker(app, threading.Event(), policy=FAST, once=True)
    assert totals["outbox"] == 5
    assert sorted(q["tx"] for q in rx.queries()) == ["0", "1", "2", "3", "4"]


def test_the_worker_loop_stops_when_asked(app: Flask) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop), kwargs={"policy": FAST})
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


# --- the postback log's retention -----------------------------------------------------------------


def _log_at(db: Session, when: datetime) -> None:
    db.add(PostbackLog(created_at=when, result="malformed", http_status=400, reason="old"))
    db.commit()


def test_the_worker_checkpoints_the_wal_so_that_requests_need_not(
    app: Flask,
    client: FlaskClient,
    db: Session,
    forwarding_visit: Callable[..., Visit],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = db.get_bind()
    assert isinstance(engine, Engine)
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL to checkpoint by hand")
    with engine.connect() as conn:  # every connection leaves checkpoints alone up to the bound
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == store.WAL_AUTOCHECKPOINT_PAGES
    visit = forwarding_visit("")
    for n in range(20):
        assert client.get(f"/postback?cid={visit.click_id}&txid={n}").status_code == 200
    db.rollback()
    done: list[store.Checkpoint | None] = []

    def spy(engine: Engine) -> store.Checkpoint | None:
        done.append(store.checkpoint_wal(engine))
        return done[-1]

    monkeypatch.setattr(worker, "checkpoint_wal", spy)
    run_worker(app, threading.Event(), policy=FAST, once=True)
    [checkpoint] = done
    assert checkpoint is not None and not checkpoint.busy
    assert checkpoint.wal_pages > 0 and checkpoint.copied_pages == checkpoint.wal_pages


def test_old_postback_log_rows_are_deleted(app: Flask, db: Session) -> None:
    now = utcnow()
    for days in (45, 31, 29, 1):
        _log_at(db, now - timedelta(days=days))
    assert prune_postback_log(app) == 2  # the default keeps 30 days
    db.rollback()
    assert db.scalar(select(func.count()).select_from(PostbackLog)) == 2


@pytest.mark.parametrize("settings_overrides", [{"postback_log_retention_days": 0}])
def test_retention_zero_keeps_everything(app: Flask, db: Session) -> None:
    _log_at(db, utcnow() - timedelta(days=4000))
    assert prune_postback_log(app) == 0
    db.rollback()
    assert db.scalar(select(func.count()).select_from(PostbackLog)) == 1


# --- the command and the server -----------------------------------------------------------------


def _env(database_url: str, tmp_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=database_url,
        TRACKER_INSTANCE_PATH=str(tmp_root / "instance"),
        TRACKER_SECRET_KEY="test-secret-key",
    )
    return env


def test_tracker_worker_once_prints_what_it_did(
    client: FlaskClient,
    db: Session,
    database_url: str,
    tmp_root: Path,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    from tracker.cli import main

    rx = receiver()
    visit = forwarding_visit(rx.url + "/pb")
    client.get(f"/postback?cid={visit.click_id}")
    db.commit()
    result = CliRunner().invoke(main, ["worker", "--once"], env=_env(database_url, tmp_root))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outbox"] == 1
    assert len(rx.hits) == 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_the_worker_and_stops_it(
    client: FlaskClient,
    db: Session,
    database_url: str,
    tmp_root: Path,
    receiver: Callable[..., Receiver],
    forwarding_visit: Callable[..., Visit],
) -> None:
    import urllib.request

    rx = receiver()
    visit = forwarding_visit(rx.url + "/pb?tx={txid}")
    port = _free_port()
    tracker = str(Path(sys.executable).with_name("tracker"))
    process = subprocess.Popen(
        [tracker, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=_env(database_url, tmp_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/postback?cid={visit.click_id}&txid=S1", timeout=5
                )
                assert answer.status == 200
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        while not rx.hits and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [q["tx"] for q in rx.queries()] == ["S1"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "background worker started" in err and "background worker stopped" in err
