"""Writing visits: one Core INSERT per visit (its unique flag computed inside the same
statement), one UPDATE per click-through; committed before the visitor is redirected.

On SQLite every writer queues on one lock: the busy timeout makes writers wait, and a writer
still refused ("database is locked") is retried here, so a redirected visit is a stored visit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    RowMapping,
    Table,
    bindparam,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from tracker.models.events import Visit, user_agent_hash

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
# Columns not in a visit's row, bound from another of its values: name -> (source, conversion).
_DERIVED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "user_agent_hash": ("user_agent", user_agent_hash),
}


def _build_insert(dialect_name: str) -> Any:
    """INSERT ... VALUES (:values, NOT EXISTS (a visit of this IP + user agent in the campaign
    within 24 h)): the unique flag costs no extra round trip and no second statement. A click ID
    already stored is skipped (a spooled visit replayed twice is stored once).

    VALUES, not INSERT ... SELECT: SQLite runs an INSERT ... SELECT that reads its own table
    through a temporary table, which doubled the store's time per visit (65 → 33 µs measured
    with the benchmark's visits, batches of 100)."""
    seen = exists().where(
        VISIT.c.campaign_id == bindparam("campaign_id"),
        VISIT.c.ip == bindparam("ip"),
        VISIT.c.user_agent_hash == bindparam("user_agent_hash"),
        VISIT.c.created_at >= bindparam("unique_since", type_=VISIT.c.created_at.type),
        # Read only on a hash match: a repeat visit, or (once in 2^64) a collision.
        VISIT.c.user_agent == bindparam("user_agent"),
    )
    values: dict[str, Any] = {name: bindparam(name, type_=VISIT.c[name].type) for name in _INSERTED}
    values["is_unique"] = ~seen
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return (
            sqlite_insert(VISIT)
            .values(values)
            .inline()
            .on_conflict_do_nothing(index_elements=["click_id"])
        )
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return (
            pg_insert(VISIT)
            .values(values)
            .inline()
            .on_conflict_do_nothing(index_elements=["click_id"])
        )
    return insert(VISIT).values(values).inline()


_CLICK = (
    update(VISIT)
    .where(VISIT.c.id == bindparam("visit_id"))
    .values(
        clicks=VISIT.c.clicks + 1,
        # The latest click's time: report rollups rebuild the hour a late click lands in.
        clicked_at=bindparam("now", type_=VISIT.c.clicked_at.type),
        offer_id=bindparam("offer_id"),
    )
)

# A click-through journalled while its visit was not stored: by click ID, and only when the
# visit's latest click is older, so a click applied again by a replay is counted once.
_CLICK_BY_CLICK_ID = (
    update(VISIT)
    .where(
        VISIT.c.click_id == bindparam("b_click_id"),
        or_(
            VISIT.c.clicked_at.is_(None),
            VISIT.c.clicked_at < bindparam("b_at", type_=VISIT.c.clicked_at.type),
        ),
    )
    .values(
        clicks=VISIT.c.clicks + 1,
        clicked_at=bindparam("b_at", type_=VISIT.c.clicked_at.type),
        offer_id=bindparam("b_offer_id"),
    )
)


# Values that come from the request as sent (headers and query parameters).
_FROM_REQUEST = ("user_agent", "referrer", "external_id", *(f"var{n}" for n in range(1, 11)))
_LIMITED = tuple(STRING_LIMITS.items())


def fit(values: dict[str, Any]) -> dict[str, Any]:
    """Make every string storable: NUL characters dropped and cut to its column's length
    (PostgreSQL refuses both rather than store them)."""
    for name in _FROM_REQUEST:
        value = values.get(name)
        if value and "\x00" in value:
            values[name] = value.replace("\x00", "")
    for name, limit in _LIMITED:
        value = values.get(name)
        if value is not None and len(value) > limit:
            values[name] = value[:limit]
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


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """A UTC time as SQLite stores it ("YYYY-MM-DD HH:MM:SS.ffffff", naive UTC): what
    UTCDateTime and SQLAlchemy's SQLite DATETIME make of it together, at a tenth of the cost."""
    if value is None:
        return None
    zone = value.tzinfo
    if zone is None:
        raise ValueError("naive datetime given for a UTC column")
    if zone is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat(" ")  # "…:SS.ffffff+00:00", without ".ffffff" on a whole second
    return text[:26] if value.microsecond else text[:19] + ".000000"


# A visit's row: every value its INSERT takes, in ROW_COLUMNS' order after the row's format
# number, each in the form the store keeps (times as naive UTC text "YYYY-MM-DD
# HH:MM:SS.ffffff", the cost as exact decimal text). It is built once per visit, journalled as
# it is (a JSON array: the spool line) and turned into the driver's parameters by position.
# The order is part of the spool format: a change of columns is a new ROW_FORMAT (and
# ``writer.decode_visit`` reads the formats before it).
ROW_FORMAT = 2  # format 1, the spool line of earlier versions, was a JSON object by column
# unique_since: the start of the unique flag's 24 h (for its check in the INSERT).
_ROW_COLUMN_NAMES = """
    click_id created_at workspace_id campaign_id traffic_source_id flow_id rule path lander_id
    offer_id clicks clicked_at ip user_agent is_bot device_type brand model os os_version
    browser browser_version country region city isp asn connection_type language referrer
    referrer_domain external_id cost var1 var2 var3 var4 var5 var6 var7 var8 var9 var10
    unique_since
"""
ROW_COLUMNS: tuple[str, ...] = tuple(_ROW_COLUMN_NAMES.split())
ROW_LENGTH = 1 + len(ROW_COLUMNS)
ROW_INDEX = {name: index for index, name in enumerate(ROW_COLUMNS, start=1)}
CLICK_ID_AT = ROW_INDEX["click_id"]
_TIME_COLUMNS = ("created_at", "clicked_at", "unique_since")
_CREATED_AT, _CLICKED_AT, _UNIQUE_SINCE = (ROW_INDEX[name] for name in _TIME_COLUMNS)
_COST_AT = ROW_INDEX["cost"]
_row_values = itemgetter(*ROW_COLUMNS)


def visit_row(values: dict[str, Any]) -> list[Any]:
    """A visit's row (see ROW_COLUMNS) from its values by column, which are made storable in
    place (``fit``) and given ``unique_since``."""
    fit(values)
    created = values["created_at"]
    values["unique_since"] = since = created - UNIQUE_WINDOW
    row = [ROW_FORMAT, *_row_values(values)]
    row[_CREATED_AT] = created_text = _sqlite_utc_text(created)
    clicked = row[_CLICKED_AT]
    if clicked is not None:
        row[_CLICKED_AT] = created_text if clicked is created else _sqlite_utc_text(clicked)
    row[_UNIQUE_SINCE] = _sqlite_utc_text(since)
    cost = row[_COST_AT]
    if cost is not None:
        row[_COST_AT] = str(cost)
    return row


def _parameter_from_row(name: str, bind_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a row's value of ``name`` becomes the driver's parameter (None: as it is)."""
    if name in _TIME_COLUMNS:
        if dialect.name == "sqlite":
            return None  # the row's text is SQLite's own form (``_sqlite_utc_text``)
        # Naive UTC, what UTCDateTime binds: only its underlying type's conversion is left.
        bind_type = getattr(bind_type, "impl_instance", bind_type)
        convert: Callable[[Any], Any] = datetime.fromisoformat
    elif name == "cost":
        convert = Decimal
    else:
        return bind_type.dialect_impl(dialect).bind_processor(dialect)
    processor = bind_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return lambda value: None if value is None else convert(value)
    process = processor
    return lambda value: process(None if value is None else convert(value))


class CompiledInsert:
    """The visit INSERT compiled once for a dialect, with each parameter's place in a visit's
    row and its conversion.

    Executing it with driver-ready parameters skips SQLAlchemy's per-call compile-cache lookup
    and parameter processing, about a third of the store's time (measured with
    bench/clicks.py); the statement, its types and the transaction are still SQLAlchemy's.
    """

    def __init__(self, dialect: Dialect) -> None:
        compiled = _build_insert(dialect.name).compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        names = list(compiled.positiontup or []) if self.positional else list(compiled.binds)
        self.names = names
        self._pick = itemgetter(
            *(ROW_INDEX[_DERIVED[name][0] if name in _DERIVED else name] for name in names)
        )
        converters: dict[str, Callable[[Any], Any]] = {}
        for name in dict.fromkeys(names):
            if name in _DERIVED:
                converters[name] = _DERIVED[name][1]
            elif converter := _parameter_from_row(name, compiled.binds[name].type, dialect):
                converters[name] = converter
        # By position in the parameters (a name may occur twice in a positional statement).
        self._at = [
            (index, converters[name]) for index, name in enumerate(names) if name in converters
        ]

    def parameters(self, row: Sequence[Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for one visit's row (``visit_row``)."""
        values = list(self._pick(row))
        for index, converter in self._at:
            values[index] = converter(values[index])
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))


_compiled: dict[str, CompiledInsert] = {}


def compiled_insert(dialect: Dialect) -> CompiledInsert:
    """The visit INSERT for this dialect (compiled once per process)."""
    found = _compiled.get(dialect.name)
    if found is None:
        found = _compiled[dialect.name] = CompiledInsert(dialect)
    return found


def insert_visits(engine: Engine, rows: list[list[Any]]) -> None:
    """Store visits (their rows, see ``visit_row``) in one transaction."""
    statement = compiled_insert(engine.dialect)
    driver_rows = [statement.parameters(row) for row in rows]

    def execute(conn: Connection) -> None:
        # Driver-ready parameters: SQLAlchemy still wraps errors and spots lost connections.
        conn.exec_driver_sql(
            statement.sql, driver_rows[0] if len(driver_rows) == 1 else driver_rows
        )

    _with_retries(engine, execute)


def insert_visit(engine: Engine, values: dict[str, Any]) -> None:
    """Store one visit now and commit (the write-behind writer's fallback)."""
    insert_visits(engine, [visit_row(values)])


def find_visit(engine: Engine, click_id: str) -> RowMapping | None:
    """The stored visit with this click ID (all its columns), or None."""
    with engine.connect() as conn:
        return conn.execute(select(VISIT).where(VISIT.c.click_id == click_id)).mappings().first()


def record_click(engine: Engine, visit_id: int, offer_id: int | None, now: datetime) -> None:
    """Count a click-through on a visit: clicks + 1, first click time, the offer taken."""
    params = {"visit_id": visit_id, "offer_id": offer_id, "now": now}
    _with_retries(engine, lambda conn: conn.execute(_CLICK, params))


def apply_clicks(engine: Engine, clicks: list[dict[str, Any]]) -> None:
    """Count journalled click-throughs (``click_id``, ``offer_id``, ``clicked_at``) on their
    stored visits, in one transaction; applying one twice counts it once."""
    rows = [
        {"b_click_id": c["click_id"], "b_offer_id": c["offer_id"], "b_at": c["clicked_at"]}
        for c in clicks
    ]
    _with_retries(engine, lambda conn: conn.execute(_CLICK_BY_CLICK_ID, rows))
