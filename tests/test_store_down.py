"""The hot path while the store is down, in one process: the gate's back-off (a dead store is not
asked on every request), cached campaigns redirecting and uncached ones answered 503 at once,
clicks on visits still in the spool, the spool's fsyncs and its bound, /healthz.

The store is made to fail by patching the functions that reach it; tests/test_faults.py breaks
a real one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.test_tracking_writer import IPHONE, stored_click_ids, visit_values
from tracker.extensions import db as store
from tracker.models import Campaign, Visit
from tracker.tracking import recorder, service, snapshot, writer
from tracker.tracking.outage import StoreGate
from tracker.tracking.service import TrackingState
from tracker.tracking.views import tracking_state
from tracker.tracking.writer import encode_click, encode_visit, replay_spools


def refused(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("SELECT", {}, Exception("connection refused"))


class Store:
    """Switches the hot path's store functions between working and refusing, and counts how
    often each was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.up = True
        self.asked: dict[str, int] = {}
        for module, name in (
            (recorder, "insert_visits"),
            (recorder, "find_visit"),
            (recorder, "record_click"),
            (recorder, "apply_clicks"),
            (snapshot, "read_setup_version"),
        ):
            monkeypatch.setattr(module, name, self._guard(name, getattr(module, name)))
        monkeypatch.setattr(
            service, "is_unique_visit", self._guard("unique", service.is_unique_visit)
        )

    def reads(self) -> int:
        """How often the request's side asked the store (the writer thread aside)."""
        return sum(
            self.asked.get(name, 0) for name in ("find_visit", "read_setup_version", "unique")
        )

    def _guard(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.asked[name] = self.asked.get(name, 0) + 1
            if not self.up:
                refused()
            return real(*args, **kwargs)

        return call


CLOCK = [1000.0]  # the snapshot cache's and the gate's time in these tests


@pytest.fixture
def state(app: Flask, tmp_path: Path) -> Iterator[TrackingState]:
    tracking = tracking_state(app)
    tracking.write_behind = True
    tracking.spool_dir = tmp_path / "spool"  # this test's files alone
    tracking.snapshots.clock = lambda: CLOCK[0]
    tracking.snapshots.gate.clock = lambda: CLOCK[0]
    yield tracking
    tracking.close_writer()
    tracking.snapshots.gate.succeeded()
    tracking.snapshots.clear()


def advance(state: TrackingState, seconds: float) -> None:
    CLOCK[0] += seconds


def visit(client: FlaskClient, key: str) -> Any:
    return client.get(f"/c/{key}", headers={"User-Agent": IPHONE})


def test_the_gate_backs_off_and_lets_one_caller_probe() -> None:
    clock = [0.0]
    gate = StoreGate(first_pause=0.5, longest_pause=2.0, clock=lambda: clock[0])
    assert gate.may_try() and not gate.down
    gate.failed("refused")
    assert gate.down and not gate.may_try()  # within the pause: nobody asks the store
    clock[0] = 0.5
    assert gate.may_try()  # one prober...
    assert not gate.may_try()  # ...at a time
    gate.failed("refused")
    clock[0] = 1.4
    assert not gate.may_try()  # the pause doubled: 1.0 s after the second failure
    clock[0] = 1.5
    assert gate.may_try()
    for _ in range(5):
        gate.failed("refused")
    clock[0] += 1.9
    assert not gate.may_try()  # at most longest_pause between probes
    clock[0] += 0.1
    assert gate.may_try()
    gate.succeeded()
    assert not gate.down and gate.may_try() and gate.may_try()


def test_one_log_line_when_the_store_goes_down_and_one_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = StoreGate()
    with caplog.at_level(logging.WARNING, logger="tracker.tracking.outage"):
        for _ in range(10):
            gate.failed(OperationalError("SELECT", {}, Exception("connection refused")))
        gate.succeeded()
        gate.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("store unreachable") and "connection refused" in messages[0]
    assert messages[1].startswith("store reachable again") and "10 failed" in messages[1]


def test_a_cached_campaign_redirects_without_asking_a_dead_store_each_time(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    fake = Store(monkeypatch)
    assert visit(client, campaign.key).status_code == 302
    fake.up = False
    advance(state, 5)  # time for the version check
    asked = fake.reads()
    for _ in range(50):
        assert visit(client, campaign.key).status_code == 302
        advance(state, 0.02)  # a second in all: more than the version check's interval
    assert fake.reads() - asked == 1  # the failed version check, then the back-off
    assert state.gate.down
    fake.up = True
    advance(state, 10)  # past the back-off: the next visit probes and finds the store back
    assert visit(client, campaign.key).status_code == 302
    assert not state.gate.down
    assert state.flush(timeout=15)
    assert len(stored_click_ids(db)) == 52


def test_a_campaign_not_cached_answers_503_at_once_while_the_store_is_down(
    client: FlaskClient,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached, other = make_campaign(), make_campaign()
    fake = Store(monkeypatch)
    assert visit(client, cached.key).status_code == 302
    fake.up = False
    advance(state, 5)
    assert visit(client, cached.key).status_code == 302  # marks the store down
    monkeypatch.setattr(snapshot, "load_snapshot", refused)
    for _ in range(3):
        response = visit(client, other.key)
        assert response.status_code == 503
        assert response.headers["Retry-After"] and "try again" in response.text
    # The first visit's check and load, and the failed check: none by the 503 answers.
    assert fake.asked.get("read_setup_version", 0) == 3


def test_a_click_on_a_visit_still_in_the_spool_reaches_the_offer_and_counts_once(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    lander_offer_campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Store(monkeypatch)
    assert visit(client, lander_offer_campaign.key).status_code == 302
    assert state.flush()
    fake.up = False
    advance(state, 5)
    landed = visit(client, lander_offer_campaign.key)
    assert landed.status_code == 302
    click_id = landed.headers["Location"].rsplit("cid=", 1)[1]
    for slot in ("", "/1"):
        offer = client.get(f"/click{slot}?cid={click_id}")
        assert offer.status_code == 302
        assert offer.headers["Location"] == f"https://offer.example/?cid={click_id}"
    journal = b"".join(p.read_bytes() for p in state.spool_dir.glob("visits-*.jsonl"))
    assert journal.count(b'"kind":"click"') == 2  # the clicks are journalled too
    fake.up = True
    assert state.flush(timeout=15)
    db.rollback()
    row = db.execute(select(Visit).where(Visit.click_id == click_id)).scalar_one()
    assert row.clicks == 2 and row.clicked_at is not None


def test_a_click_on_a_stored_visit_while_the_store_is_down_is_503_not_500(
    client: FlaskClient,
    state: TrackingState,
    lander_offer_campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Store(monkeypatch)
    landed = visit(client, lander_offer_campaign.key)
    assert state.flush()
    fake.up = False
    click_id = landed.headers["Location"].rsplit("cid=", 1)[1]
    assert client.get(f"/click?cid={click_id}").status_code == 503
    # With the campaign's key as a hint, the visitor still reaches an offer.
    hinted = client.get(f"/click?cid={click_id}&campaign={lander_offer_campaign.key}")
    assert hinted.status_code == 302 and hinted.headers["Location"].startswith("https://offer.")


def test_a_click_whose_update_fails_is_journalled_and_applied_later(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    lander_offer_campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landed = visit(client, lander_offer_campaign.key)
    assert state.flush()
    click_id = landed.headers["Location"].rsplit("cid=", 1)[1]
    real_apply = recorder.apply_clicks
    attempts = {"n": 0}

    def apply_after_a_failure(engine: Any, clicks: list[dict[str, Any]]) -> None:
        attempts["n"] += 1
        if attempts["n"] == 1:
            refused()
        real_apply(engine, clicks)

    monkeypatch.setattr(recorder, "record_click", refused)
    monkeypatch.setattr(recorder, "apply_clicks", apply_after_a_failure)
    assert client.get(f"/click?cid={click_id}").status_code == 302
    assert state.flush(timeout=15)
    db.rollback()
    assert db.scalar(select(Visit.clicks).where(Visit.click_id == click_id)) == 1


def test_replaying_a_journal_of_visits_and_clicks_twice_counts_each_once(
    db: Session, state: TrackingState, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    first, second = visit_values(campaign), visit_values(campaign)
    at = datetime.now(UTC)
    lines = [
        encode_visit(recorder.visit_row(dict(first))),
        encode_visit(recorder.visit_row(dict(second))),
        encode_click(first["click_id"], None, at),
        encode_click(first["click_id"], None, at + timedelta(seconds=1)),
        encode_click(second["click_id"], None, at),
    ]
    state.spool_dir.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):  # a crash after the store took it and before the file was removed
        (state.spool_dir / f"visits-999999-{attempt}.jsonl").write_bytes(b"".join(lines))
        assert replay_spools(store.engine, state.spool_dir) == 5
    db.rollback()
    clicks = dict(db.execute(select(Visit.click_id, Visit.clicks)).tuples().all())
    assert clicks == {first["click_id"]: 2, second["click_id"]: 1}


def test_spool_files_are_replayed_oldest_first_whatever_their_process_id(
    db: Session, state: TrackingState, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    older, newer = visit_values(campaign), visit_values(campaign)
    state.spool_dir.mkdir(parents=True, exist_ok=True)
    (state.spool_dir / "visits-9-2000.jsonl").write_bytes(
        encode_visit(recorder.visit_row(dict(older)))
    )
    (state.spool_dir / "visits-10-3000.jsonl").write_bytes(
        encode_visit(recorder.visit_row(dict(newer)))
    )
    assert replay_spools(store.engine, state.spool_dir) == 2
    assert stored_click_ids(db) == [older["click_id"], newer["click_id"]]


def test_the_journal_is_fsynced_in_batches_while_the_store_fails_and_not_otherwise(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    monkeypatch.setattr(writer.VisitWriter, "_watch", lambda self: None)  # looked at by hand
    syncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(writer.os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd)))
    fake = Store(monkeypatch)
    for _ in range(20):
        assert visit(client, campaign.key).status_code == 302
    assert state.flush()
    assert state.writer is not None
    state.writer._watch_once()  # nothing waits on the store: no fsync
    assert syncs == []
    fake.up = False
    for _ in range(200):
        assert visit(client, campaign.key).status_code == 302
    state.writer._waiting_since -= writer.FSYNC_EVERY  # as if FSYNC_EVERY passed
    state.writer._watch_once()
    state.writer._watch_once()  # nothing new written since: no second fsync
    assert len(syncs) == 1  # one fsync for the 200 visits
    fake.up = True
    assert state.flush(timeout=15)
    assert len(stored_click_ids(db)) == 220


def test_past_the_spool_bound_visits_still_redirect_and_one_line_says_so(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign = make_campaign()
    monkeypatch.setattr(writer.VisitWriter, "_watch", lambda self: None)  # looked at by hand
    fake = Store(monkeypatch)
    assert visit(client, campaign.key).status_code == 302
    assert state.flush()
    spooled = state.visit_writer(store.engine)
    spooled.max_bytes = 2048  # a few visits' worth
    fake.up = False
    with caplog.at_level(logging.WARNING, logger="tracker.tracking.writer"):
        for _ in range(10):
            assert visit(client, campaign.key).status_code == 302
        spooled._waiting_since -= writer.FSYNC_EVERY
        spooled._watch_once()
        assert spooled.full
        journal_size = sum(p.stat().st_size for p in state.spool_dir.glob("visits-*.jsonl"))
        for _ in range(10):
            assert visit(client, campaign.key).status_code == 302
        spooled._watch_once()
        assert spooled.unjournalled == 10 and spooled.dropped == 0
        spooled.max_bytes = 2**40  # room again, but visits in memory lack their journal line:
        spooled._watch_once()  # journalling waits until they are stored
        assert spooled.full
        assert sum(p.stat().st_size for p in state.spool_dir.glob("visits-*.jsonl")) == (
            journal_size
        )
        fake.up = True
        assert state.flush(timeout=15)
        spooled._watch_once()
    assert not spooled.full
    full_lines = [r.getMessage() for r in caplog.records if r.name == writer.__name__]
    assert len(full_lines) == 2 and "TRACKER_SPOOL_MAX_MB" in full_lines[0], full_lines
    assert "10 visits were kept in memory only and 0 dropped" in full_lines[1]
    assert len(stored_click_ids(db)) == 21


def test_a_full_disk_keeps_redirecting_and_storing_with_one_log_line(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign = make_campaign()
    assert visit(client, campaign.key).status_code == 302
    assert state.flush() and state.writer is not None
    spooled = state.writer
    assert spooled._fd is not None
    disk_full = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    os.dup2(disk_full, spooled._fd)
    os.close(disk_full)
    with caplog.at_level(logging.ERROR, logger=writer.__name__):
        for _ in range(5):
            assert visit(client, campaign.key).status_code == 302
    assert spooled.full and spooled.unjournalled == 5
    assert state.flush(timeout=15)
    assert len(stored_click_ids(db)) == 6
    unwritable = [r for r in caplog.records if "spool unwritable" in r.getMessage()]
    assert len(unwritable) == 1 and "No space left" in unwritable[0].getMessage()


def test_healthz_tells_a_store_down_from_a_store_up(
    client: FlaskClient,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    fake = Store(monkeypatch)
    assert visit(client, campaign.key).status_code == 302
    assert state.flush()
    fake.up = False
    advance(state, 5)
    assert visit(client, campaign.key).status_code == 302
    monkeypatch.setattr("tracker.health.is_reachable", lambda session: False)
    body = client.get("/healthz").json
    assert body["status"] == "degraded" and body["store"] == "unreachable"
    assert body["spool"]["backlog"] == 1 and body["spool"]["bytes"] > 0
    fake.up = True
    monkeypatch.setattr("tracker.health.is_reachable", lambda session: True)
    assert state.flush(timeout=15)
    body = client.get("/healthz").json
    assert body == {
        "status": "ok",
        "store": "ok",
        "spool": {"bytes": 0, "backlog": 0, "full": False},
    }


def test_a_postback_the_store_cannot_take_is_503_and_logged(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tracker.conversions import views

    monkeypatch.setattr(views, "with_retries", refused)
    with caplog.at_level(logging.ERROR):
        response = client.get("/postback?cid=01j0000000000000000000000a&payout=4.20&txid=T1")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.headers["X-Conversion-Result"] == "unavailable"
    (line,) = [r.getMessage() for r in caplog.records if "postback not recorded" in r.getMessage()]
    assert "cid=01j0000000000000000000000a&payout=4.20&txid=T1" in line


def test_spool_max_mb_is_a_setting(tmp_path: Path) -> None:
    from tracker.config import ConfigError, Settings

    assert Settings.from_env(environ={"TRACKER_SPOOL_MAX_MB": "64"}).spool_max_mb == 64
    with pytest.raises(ConfigError, match="TRACKER_SPOOL_MAX_MB"):
        Settings.from_env(environ={"TRACKER_SPOOL_MAX_MB": "0"})
