"""The visit write-behind: journal (spool file) first, store right after; nothing redirected is
lost when the store fails, the process stops, or it dies (its spool file is replayed once)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker.extensions import db as store
from tracker.models import Campaign, Visit
from tracker.models.events import user_agent_hash
from tracker.models.types import UTCDateTime
from tracker.tracking import recorder
from tracker.tracking import writer as writer_module
from tracker.tracking.clickid import new_click_id
from tracker.tracking.service import TrackingState, await_visit
from tracker.tracking.views import tracking_state
from tracker.tracking.writer import encode_visit, replay_spools

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"


@pytest.fixture
def state(app: Flask) -> Iterator[TrackingState]:
    tracking = tracking_state(app)
    tracking.write_behind = True
    yield tracking
    tracking.close_writer()


def stored_click_ids(db: Session) -> list[str]:
    db.rollback()
    return list(db.scalars(select(Visit.click_id).order_by(Visit.id)))


def spool_files(state: TrackingState) -> list[Path]:
    return sorted(state.spool_dir.glob("visits-*.jsonl"))


def visit_values(campaign: Campaign, click_id: str | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        column.name: column.default.arg
        if column.default and not callable(column.default.arg)
        else None
        for column in Visit.__table__.columns
    }
    values.pop("id")
    values.pop("is_unique")
    values.pop("user_agent_hash")
    values.update(
        click_id=click_id or new_click_id(),
        created_at=now,
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        traffic_source_id=campaign.traffic_source_id,
        clicks=0,
        ip="81.2.69.160",
        user_agent=IPHONE,
        is_bot=False,
        cost=Decimal("0.001"),
    )
    for name in list(values):
        if values[name] is None and name not in (
            "flow_id",
            "rule",
            "path",
            "lander_id",
            "offer_id",
            "clicked_at",
            "asn",
            "traffic_source_id",
        ):
            values[name] = ""
    return values


def test_a_visit_is_journalled_then_stored_and_the_journal_starts_over(
    client: FlaskClient, db: Session, state: TrackingState, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    response = client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    assert response.status_code == 302
    assert state.flush()
    cookie = client.get_cookie("cid")
    assert cookie is not None and stored_click_ids(db) == [cookie.value]
    (journal,) = spool_files(state)
    assert journal.stat().st_size == 0  # all stored: nothing left to replay
    state.close_writer()
    assert spool_files(state) == []  # a clean stop leaves no file behind


def test_a_flush_does_not_wait_out_the_batch_window(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer waits a moment for more visits to share a transaction; whoever needs a visit
    stored now (a flush, a click on this process's own fresh visit) does not wait for it."""
    monkeypatch.setattr(writer_module, "BATCH_WINDOW", 60.0)
    campaign = make_campaign()
    for _ in range(3):
        assert client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE}).status_code == 302
        assert state.flush(timeout=10)  # well before the 60 s window ends
    assert len(stored_click_ids(db)) == 3
    client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    assert client.get("/click").status_code == 302  # its own visit: flushed, then clicked
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Visit).where(Visit.clicks == 2)) == 1


def test_a_failing_store_keeps_visits_until_it_answers_again(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    real_insert = recorder.insert_visits
    failures = {"left": 2}

    def flaky(engine: Any, rows: list[dict[str, Any]]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("the store is down"))
        real_insert(engine, rows)

    monkeypatch.setattr(recorder, "insert_visits", flaky)
    for _ in range(3):
        assert client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE}).status_code == 302
    (journal,) = spool_files(state)
    assert journal.read_bytes().count(b"\n") >= 1  # journalled while the store is down
    assert state.flush(timeout=10)
    assert len(stored_click_ids(db)) == 3 and failures["left"] == 0


def test_orphaned_spool_files_are_replayed_once(
    app: Flask, db: Session, state: TrackingState, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    already = visit_values(campaign)
    recorder.insert_visit(store.engine, dict(already))
    lost = [visit_values(campaign) for _ in range(3)]
    state.spool_dir.mkdir(parents=True, exist_ok=True)
    orphan = state.spool_dir / "visits-999999-1.jsonl"  # its process died: no lock held
    lines = b"".join(encode_visit(recorder.visit_row(dict(v))) for v in [*lost, already])
    unreadable = recorder.visit_row(visit_values(campaign))
    unreadable[recorder.ROW_INDEX["cost"]] = "not a number"
    lines += encode_visit(unreadable)  # skipped: it could never be stored
    torn = b'[2,"01jffmzq5k0000000000000000","2026-11-29 08:'  # the crash cut the last line
    orphan.write_bytes(lines + torn)
    assert replay_spools(store.engine, state.spool_dir) == 4
    assert not orphan.exists()
    stored = stored_click_ids(db)
    assert sorted(stored) == sorted([already["click_id"], *(v["click_id"] for v in lost)])
    db.rollback()
    replayed = db.execute(select(Visit).where(Visit.click_id == lost[0]["click_id"])).scalar_one()
    assert replayed.cost == Decimal("0.001") and replayed.created_at == lost[0]["created_at"]


# A spool line as the previous version wrote it (a JSON object by column, ISO 8601 times with
# their offset), taken from a spool file of that version; the IDs are the test's.
EARLIER_FORMAT_LINE = (
    '{{"click_id":"{click_id}","created_at":"2026-11-29T08:39:19.864646+00:00",'
    '"workspace_id":{workspace},"campaign_id":{campaign},"traffic_source_id":{source},'
    '"flow_id":null,"rule":null,"path":null,"lander_id":null,"offer_id":null,"clicks":0,'
    '"clicked_at":null,"ip":"{ip}","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like '
    'Mac OS X) AppleWebKit/605.1.15","is_bot":false,"device_type":"mobile","brand":"Apple",'
    '"model":"iPhone","os":"iOS","os_version":"17.4","browser":"Mobile Safari",'
    '"browser_version":"","country":"GB","region":"ENG","city":"London","isp":"Andrews & Arnold'
    ' Ltd","asn":null,"connection_type":"","language":"en","referrer":"","referrer_domain":"",'
    '"external_id":"sub-1","cost":"0.0021","var1":"7","var2":"","var3":"","var4":"","var5":"",'
    '"var6":"","var7":"","var8":"","var9":"","var10":"",'
    '"unique_since":"2026-11-28T08:39:19.864646+00:00"}}\n'
)


def test_a_spool_file_of_the_earlier_format_is_replayed_after_an_upgrade(
    db: Session, state: TrackingState, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    ids = {
        "workspace": campaign.workspace_id,
        "campaign": campaign.id,
        "source": campaign.traffic_source_id,
    }
    earlier = [
        EARLIER_FORMAT_LINE.format(click_id=new_click_id(), ip=ip, **ids).encode()
        for ip in ("81.2.69.160", "81.2.69.160", "2001:db8::1")
    ]
    # The same visit in today's format (its own click ID and IP), for a field-by-field look.
    values = json.loads(
        EARLIER_FORMAT_LINE.format(click_id=new_click_id(), ip="81.2.69.192", **ids)
    )
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["cost"] = Decimal(values["cost"])
    current = encode_visit(recorder.visit_row(values))
    state.spool_dir.mkdir(parents=True, exist_ok=True)
    (state.spool_dir / "visits-999999-1.jsonl").write_bytes(b"".join(earlier))  # before upgrade
    (state.spool_dir / "visits-999999-2.jsonl").write_bytes(current)  # after it
    assert replay_spools(store.engine, state.spool_dir) == 4
    db.rollback()
    rows = [dict(r) for r in db.execute(select(Visit.__table__).order_by(Visit.id)).mappings()]
    assert [r["click_id"] for r in rows] == [json.loads(line)["click_id"] for line in earlier] + [
        values["click_id"]
    ]
    assert [r["is_unique"] for r in rows] == [True, False, True, True]  # the same IP twice
    mine = {"id", "click_id", "ip", "is_unique"}
    expected = {k: v for k, v in rows[3].items() if k not in mine}
    for row in rows[:3]:
        assert {k: v for k, v in row.items() if k not in mine} == expected
    assert expected["created_at"] == datetime(2026, 11, 29, 8, 39, 19, 864646, tzinfo=UTC)
    assert expected["cost"] == Decimal("0.0021") and expected["var1"] == "7"
    assert expected["isp"] == "Andrews & Arnold Ltd" and expected["clicked_at"] is None


def test_a_visit_row_holds_every_column_its_insert_writes() -> None:
    written = {c.name for c in Visit.__table__.columns} - {"id", "is_unique"}
    derived = {"user_agent_hash"}  # bound from the row's user agent, not kept in the row
    assert set(recorder.ROW_COLUMNS) == (written - derived) | {"unique_since"}
    assert len(recorder.ROW_COLUMNS) == len(set(recorder.ROW_COLUMNS))
    times = {c.name for c in Visit.__table__.columns if isinstance(c.type, UTCDateTime)}
    assert times | {"unique_since"} == {"created_at", "clicked_at", "unique_since"}


def test_a_live_process_spool_file_is_never_replayed(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    release = threading.Event()
    real_insert = recorder.insert_visits

    def held(engine: Any, rows: list[dict[str, Any]]) -> None:
        release.wait(10)
        real_insert(engine, rows)

    monkeypatch.setattr(recorder, "insert_visits", held)
    client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    assert replay_spools(store.engine, state.spool_dir) == 0  # locked by its writer
    release.set()
    assert state.flush()
    assert len(stored_click_ids(db)) == 1


def test_a_click_right_after_the_visit_waits_for_the_write_behind(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = make_campaign()
    real_insert = recorder.insert_visits

    def slow(engine: Any, rows: list[dict[str, Any]]) -> None:
        time.sleep(0.2)
        real_insert(engine, rows)

    monkeypatch.setattr(recorder, "insert_visits", slow)
    client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    click = client.get("/click")
    assert click.status_code == 302
    db.rollback()
    assert db.scalar(select(Visit.clicks)) == 2  # direct to offer: 1, then the click-through


def test_await_visit_waits_for_a_fresh_visit_of_another_process_only() -> None:
    fresh = new_click_id()
    arrived: list[str] = []
    timer = threading.Timer(0.1, lambda: arrived.append(fresh))
    timer.start()
    assert await_visit(None, fresh, lambda: arrived[0] if arrived else None) == fresh
    old = new_click_id(now_ns=time.time_ns() - 5_000_000_000)
    calls = []
    assert await_visit(None, old, lambda: calls.append(1)) is None
    assert len(calls) == 1  # an old unknown click ID is not waited for
    assert await_visit(None, "not-one-of-ours-123", lambda: None) is None


def test_cached_campaigns_keep_redirecting_while_the_store_is_down(
    client: FlaskClient,
    db: Session,
    state: TrackingState,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.tracking import snapshot

    clock = [100.0]
    state.snapshots.clock = lambda: clock[0]
    campaign = make_campaign()
    assert client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE}).status_code == 302
    assert state.flush()
    store_down = {"yes": True}
    real_insert = recorder.insert_visits

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    def insert_when_up(engine: Any, rows: list[dict[str, Any]]) -> None:
        if store_down["yes"]:
            down()
        real_insert(engine, rows)

    monkeypatch.setattr(snapshot, "read_setup_version", down)
    monkeypatch.setattr(recorder, "insert_visits", insert_when_up)
    clock[0] += 5  # time to check the setup version: the store does not answer
    response = client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    assert response.status_code == 302 and response.headers["Location"].startswith("https://")
    assert not state.flush(timeout=0.3)  # journalled, not yet stored
    store_down["yes"] = False
    assert state.flush(timeout=15)
    assert len(stored_click_ids(db)) == 2


def test_a_stored_visit_carries_its_user_agent_hash(
    db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    recorder.insert_visit(store.engine, visit_values(campaign))  # the hot path's statement
    db.add(Visit(**{**visit_values(campaign), "user_agent": "Other agent"}))  # the ORM's
    db.commit()
    stored = db.execute(select(Visit.user_agent, Visit.user_agent_hash).order_by(Visit.id)).all()
    assert [(agent, user_agent_hash(agent)) for agent, _ in stored] == stored
    assert user_agent_hash(IPHONE) != user_agent_hash("Other agent")
    assert user_agent_hash(IPHONE) == -7266529512239379198  # the stored format


def test_the_unique_check_seeks_by_ip_and_user_agent(
    db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    """However many visits share an IP (a mobile carrier's NAT), the visit INSERT's unique
    check reads the index by IP and user agent hash, not every visit of that IP."""
    statement = recorder.compiled_insert(store.engine.dialect)
    parameters = statement.parameters(recorder.visit_row(visit_values(make_campaign())))
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, parameters)
            details = [row[-1] for row in plan]
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a test table is tiny
            plan = conn.exec_driver_sql("EXPLAIN " + statement.sql, parameters)
            details = [row[0] for row in plan]
    text = "\n".join(details)
    assert "ix_visit_unique_key" in text, text
    seeks = [line for line in details if "user_agent_hash" in line]
    assert seeks and "ip" in seeks[0] and "campaign_id" in seeks[0], text


def test_the_migration_hashes_the_user_agents_of_the_last_day(
    app: Flask, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    from datetime import timedelta

    from flask_migrate import downgrade, upgrade

    campaign = make_campaign()
    now = datetime.now(UTC)
    for age, agent in ((timedelta(hours=1), IPHONE), (timedelta(hours=30), "Old agent")):
        values = visit_values(campaign)
        db.add(Visit(**{**values, "created_at": now - age, "user_agent": agent}))
    db.commit()
    repeat, older = visit_values(campaign), {**visit_values(campaign), "user_agent": "Old agent"}
    db.close()
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision="f3a9d6e1b720")  # before user_agent_hash
    upgrade(directory=directory)
    hashes = dict(db.execute(select(Visit.user_agent, Visit.user_agent_hash)).tuples().all())
    assert hashes == {IPHONE: user_agent_hash(IPHONE), "Old agent": None}
    # The next visit of that IP and user agent is a repeat; an older one no longer counts.
    recorder.insert_visit(store.engine, repeat)
    recorder.insert_visit(store.engine, older)
    db.rollback()
    flags = db.execute(select(Visit.is_unique).order_by(Visit.id.desc()).limit(2)).scalars()
    assert list(flags) == [True, False]
