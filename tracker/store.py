"""The relational store: engine tuning per backend and the setup version counter."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import Engine, event, select, text, update

from tracker.extensions import DbSession
from tracker.models.setup import SetupVersion
from tracker.models.types import utcnow


def configure_engine(engine: Engine) -> None:
    """SQLite: WAL (readers never block the writer), NORMAL sync, a busy timeout, foreign keys."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def is_reachable(session: DbSession) -> bool:
    """True when the store answers a trivial query."""
    try:
        session.execute(text("SELECT 1"))
        return True
    except Exception:
        with contextlib.suppress(Exception):  # the connection may be as dead as the store
            session.rollback()
        return False


def bump_setup_version(session: DbSession) -> None:
    """Tell every process that setup changed: their campaign snapshots are stale."""
    result = session.execute(
        update(SetupVersion)
        .where(SetupVersion.id == 1)
        .values(version=SetupVersion.version + 1, changed_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(SetupVersion(id=1, version=1, changed_at=utcnow()))
        session.flush()


def current_setup_version(session: DbSession) -> int:
    """The setup version counter (0 before any setup change)."""
    return session.scalar(select(SetupVersion.version).where(SetupVersion.id == 1)) or 0
