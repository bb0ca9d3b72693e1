"""Writing visits: one Core INSERT per visit (its unique flag computed inside the same
statement), one UPDATE per click-through; committed before the visitor is redirected.

On SQLite every writer queues on one lock: the busy timeout makes writers wait, and a writer
still refused ("database is locked") is retried here, so a redirected visit is a stored visit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Table,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from tracker.models.events import Visit

log = logging.getLogger(__name__)

T = TypeVar("T")

UNIQUE_WINDOW = timedelta(hours=24)
MAX_ATTEMPTS = 8

VISIT: Table = Visit.__table__  # type: ignore[assignment]
# Every column the hot path writes, with its length: values are cut to fit rather than refused.
STRING_LIMITS: dict[str, int] = {
    column.name: length
    for column in VISIT.columns
    if (length := getattr(column.type, "length", None))
}
_INSERTED = [c.name for c in VISIT.columns if c.name not in ("id", "is_unique")]


def _build_insert() -> Any:
    """INSERT ... SELECT :values, NOT EXISTS (a visit of this IP + user agent in the campaign
    within 24 h): the unique flag costs no extra round trip and no second statement."""
    seen = exists().where(
        VISIT.c.campaign_id == bindparam("campaign_id"),
        VISIT.c.ip == bindparam("ip"),
        VISIT.c.created_at >= bindparam("unique_since", type_=VISIT.c.created_at.type),
        VISIT.c.user_agent == bindparam("user_agent"),
    )
    columns = [*_INSERTED, "is_unique"]
    values = [bindparam(name, type_=VISIT.c[name].type) for name in _INSERTED]
    return insert(VISIT).from_select(columns, select(*values, ~seen))


_INSERT_VISIT = _build_insert()
_CLICK = (
    update(VISIT)
    .where(VISIT.c.id == bindparam("visit_id"))
    .values(
        clicks=VISIT.c.clicks + 1,
        clicked_at=func.coalesce(
            VISIT.c.clicked_at, bindparam("now", type_=VISIT.c.clicked_at.type)
        ),
        offer_id=bindparam("offer_id"),
    )
)


def fit(values: dict[str, Any]) -> dict[str, Any]:
    """Make every string storable: NUL characters dropped and cut to its column's length
    (PostgreSQL refuses both rather than store them)."""
    for name, value in values.items():
        if isinstance(value, str):
            if "\x00" in value:
                value = value.replace("\x00", "")
            limit = STRING_LIMITS.get(name)
            if limit is not None and len(value) > limit:
                value = value[:limit]
            values[name] = value
    return values


def _is_retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    message = str(exc.orig).lower()
    return (
        "database is locked" in message
        or "database table is locked" in message
        or ("busy" in message and isinstance(exc, OperationalError))
    )


def _with_retries(engine: Engine, work: Callable[[Connection], T]) -> T:
    delay = 0.005
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == MAX_ATTEMPTS or not _is_retryable(exc):
                raise
            log.warning("store busy (attempt %d of %d): %s", attempt, MAX_ATTEMPTS, exc.orig)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")


def insert_visit(engine: Engine, values: dict[str, Any]) -> None:
    """Store one visit (all columns but id and is_unique given in ``values``) and commit."""
    params = fit(values)
    params["unique_since"] = params["created_at"] - UNIQUE_WINDOW
    _with_retries(engine, lambda conn: conn.execute(_INSERT_VISIT, params))


def find_visit(engine: Engine, click_id: str) -> RowMapping | None:
    """The stored visit with this click ID (all its columns), or None."""
    with engine.connect() as conn:
        return conn.execute(select(VISIT).where(VISIT.c.click_id == click_id)).mappings().first()


def record_click(engine: Engine, visit_id: int, offer_id: int | None, now: datetime) -> None:
    """Count a click-through on a visit: clicks + 1, first click time, the offer taken."""
    params = {"visit_id": visit_id, "offer_id": offer_id, "now": now}
    _with_retries(engine, lambda conn: conn.execute(_CLICK, params))


def visit_exists(engine: Engine, click_id: str) -> bool:
    """True when a visit with this click ID is stored."""
    with engine.connect() as conn:
        return (
            conn.execute(select(VISIT.c.id).where(VISIT.c.click_id == click_id)).first() is not None
        )
