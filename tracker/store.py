"""The relational store: engine tuning per backend and the setup version counter."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Engine, event, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from tracker.extensions import DbSession
from tracker.models.setup import SetupVersion
from tracker.models.types import utcnow

log = logging.getLogger(__name__)

# SQLite copies the WAL back into the database (a checkpoint, with its fsyncs) inside the commit
# that makes the WAL reach ``wal_autocheckpoint`` pages: by default every 1,000 pages, about every
# hundred postbacks, one request paid for it while holding its web worker. Instead, a thread of
# each `tracker serve` web process (``start_checkpointer``) and the background worker checkpoint
# every second, beside the requests; a commit only checkpoints when the WAL has grown this far,
# which bounds it under any other server (``gunicorn wsgi:app``) or when they cannot keep up.
WAL_AUTOCHECKPOINT_PAGES = 16_000  # about 64 MB of 4 KB pages
# After a checkpoint the WAL file is cut back to this size, so a burst does not keep its disk.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def configure_engine(engine: Engine) -> None:
    """SQLite: WAL (readers never block the writer), NORMAL sync, a busy timeout, foreign keys,
    and checkpoints left to the background worker up to a bound."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()


@dataclass(frozen=True)
class Checkpoint:
    """What one WAL checkpoint did: pages in the WAL, pages copied back, whether it was cut short
    by a writer or reader."""

    wal_pages: int
    copied_pages: int
    busy: bool


def checkpoint_wal(engine: Engine) -> Checkpoint | None:
    """SQLite: copy the WAL back into the database without waiting for readers or writers
    (``PASSIVE``); None on other stores."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        busy, wal_pages, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return Checkpoint(wal_pages=max(wal_pages, 0), copied_pages=max(copied, 0), busy=bool(busy))


CHECKPOINT_EVERY = 1.0  # seconds between two WAL checkpoints beside the requests


def start_checkpointer(engine: Engine, every: float = CHECKPOINT_EVERY) -> threading.Thread | None:
    """SQLite: a daemon thread of this process that checkpoints the WAL every ``every`` seconds
    (sqlite3 lets go of the GIL while it copies, so requests go on); None on other stores."""
    if engine.dialect.name != "sqlite":
        return None

    def run() -> None:
        while True:
            time.sleep(every)
            try:
                checkpoint_wal(engine)
            except Exception:  # a locked or vanished file: the next round tries again
                log.warning("WAL checkpoint failed", exc_info=True)

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    return thread


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


# --- statements run straight on the driver --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DriverForm:
    """A statement as one dialect runs it: its SQL, its parameter names in order with their
    bind processors, and the values of its fixed parameters (literals of the statement)."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: dict[str, Any]


class DriverStatement:
    """A Core statement compiled once per dialect and run straight on the connection's DBAPI
    cursor, inside the connection's transaction.

    For the few statements of a hot path (``/postback``): SQLAlchemy's execution machinery
    (cache lookups, contexts, result objects) costs about as much CPU per statement as SQLite's
    own work. The statement is still built with Core and its values go through the same type
    processors, so what is stored and read is what ``Connection.execute`` would store and read;
    a driver error is raised as SQLAlchemy's (``OperationalError``...), with a dropped
    connection invalidated, so callers handle failures one way.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _DriverForm] = {}
        self._result_processors: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
        self._columns = list(getattr(statement, "selected_columns", ()))

    def _form(self, dialect: Dialect) -> _DriverForm:
        form = self._forms.get(dialect.name)
        if form is None:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            # By their names in the SQL (an anonymous parameter's key is not its name there).
            binds = {name: bind for bind, name in compiled.bind_names.items()}
            names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
            form = _DriverForm(
                sql=compiled.string,
                positional=dialect.positional,
                names=names,
                processors=tuple(
                    binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
                ),
                fixed={
                    name: binds[name].effective_value for name in names if not binds[name].required
                },
            )
            self._forms[dialect.name] = form
        return form

    def _result_processors_for(self, dialect: Dialect, description: Any) -> list[Any]:
        coltypes = tuple(column[1] for column in description)
        key = (dialect.name, coltypes)
        processors = self._result_processors.get(key)
        if processors is None:
            processors = [
                column.type.dialect_impl(dialect).result_processor(dialect, coltype)
                for column, coltype in zip(self._columns, coltypes, strict=True)
            ]
            self._result_processors[key] = processors
        return processors

    def run(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with ``values`` (by bind name); the rows it returns, processed (none for a
        statement without columns, e.g. an insert without ``RETURNING``)."""
        dialect = conn.dialect
        form = self._form(dialect)
        if form.fixed:
            values = {**form.fixed, **values}
        processed = [
            value if process is None else process(value)
            for process, value in zip(
                form.processors, map(values.__getitem__, form.names), strict=True
            )
        ]
        parameters: Any = (
            processed if form.positional else dict(zip(form.names, processed, strict=True))
        )
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(form.sql, parameters)
            if not self._columns or cursor.description is None:
                rows: list[tuple[Any, ...]] = []
            else:
                rows = [tuple(row) for row in cursor.fetchall()]
                processors = self._result_processors_for(dialect, cursor.description)
                if any(processors):  # else the rows are final as the driver made them
                    rows = [
                        tuple(
                            value if p is None else p(value)
                            for p, value in zip(processors, row, strict=True)
                        )
                        for row in rows
                    ]
            cursor.close()
            return rows
        except dialect.loaded_dbapi.Error as exc:
            disconnect = dialect.is_disconnect(exc, dbapi_connection, cursor)
            with contextlib.suppress(Exception):
                cursor.close()
            if disconnect:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                form.sql,
                parameters,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=disconnect,
                dialect=dialect,
            ) from exc
