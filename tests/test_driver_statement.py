"""Statements run straight on the driver (``tracker.store.DriverStatement``): the same values
stored and read as through SQLAlchemy, and driver errors raised as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import Connection, Integer, bindparam, literal, select, text
from sqlalchemy.exc import DBAPIError

from tracker.conversions.services import insert_text, with_retries
from tracker.extensions import db
from tracker.models import Conversion, PostbackLog
from tracker.store import DriverStatement

LOG = PostbackLog.__table__
COLUMNS = ("created_at", "ip", "method", "endpoint", "raw_query", "raw_body", "click_id")
COLUMNS += ("result", "http_status", "reason")
WHEN = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)


def test_rows_are_stored_and_read_as_core_stores_and_reads_them(app: Flask) -> None:
    with db.engine.begin() as conn:
        values = {"created_at": WHEN, "ip": "::1", "method": "GET", "endpoint": "postback"}
        values |= {"raw_query": "cid=x", "raw_body": "", "click_id": "x"}
        values |= {"result": "recorded", "http_status": 200}
        DriverStatement(insert_text(LOG, COLUMNS)).run(conn, {**values, "reason": "first"})
        conn.execute(insert_text(LOG, COLUMNS), {**values, "reason": "second"})
    query = select(LOG.c.created_at, LOG.c.ip, LOG.c.reason).order_by(LOG.c.id)
    with db.engine.connect() as conn:
        through_core = [tuple(row) for row in conn.execute(query)]
        through_driver = DriverStatement(query).run(conn, {})
    assert through_core == through_driver
    assert [row[:2] for row in through_driver] == [(WHEN, "::1"), (WHEN, "::1")]
    assert [row[2] for row in through_driver] == ["first", "second"]


def test_decimals_and_fixed_parameters(app: Flask) -> None:
    query = select(
        literal(Decimal("2.400000"), Conversion.payout.type), bindparam("n", type_=Integer())
    )
    with db.engine.connect() as conn:
        assert DriverStatement(query).run(conn, {"n": 7}) == [(Decimal("2.400000"), 7)]


def test_a_driver_error_is_raised_as_sqlalchemys(app: Flask) -> None:
    broken = DriverStatement(text("SELECT nothing FROM no_such_table").columns())
    with db.engine.connect() as conn, pytest.raises(DBAPIError) as raised:
        broken.run(conn, {})
    assert "no_such_table" in str(raised.value)
    assert not raised.value.connection_invalidated


def test_a_dropped_connection_is_invalidated_and_the_work_runs_again(
    app: Flask, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("drops a PostgreSQL backend (an SQLite connection is a file)")
    engine = db.engine
    one = DriverStatement(select(literal(1)))
    failures: list[tuple[bool, bool]] = []

    def work(conn: Connection) -> list[tuple[object, ...]]:
        if not failures:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with engine.connect() as other:
                # With a timeout, so the backend is gone before this connection is used again.
                other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            try:
                one.run(conn, {})
            except DBAPIError as exc:
                failures.append((exc.connection_invalidated, conn.invalidated))
                raise
        return one.run(conn, {})

    assert with_retries(engine, work, lambda _seconds: None) == [(1,)]
    # Told as SQLAlchemy tells it: the pool drops the connection and the work runs again.
    assert failures == [(True, True)]
