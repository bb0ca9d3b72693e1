"""The audit trail of setup changes, written automatically at flush time.

Services stay unaware of it: whatever changes a campaign, flow, offer, cost... through the
session is logged with the acting user that the request's edge put in ``session.info``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from tracker.extensions import Base, DbSession
from tracker.models.audit import AuditEntry
from tracker.models.types import utcnow

AUDITED_TABLES = frozenset(
    {
        "traffic_source",
        "affiliate_network",
        "offer",
        "lander",
        "flow",
        "campaign",
        "cost_update",
        "conversion_type",
    }
)
# Bookkeeping columns that change on every write and say nothing by themselves.
IGNORED_COLUMNS = frozenset({"updated_at", "created_at"})
ACTOR_KEY = "audit_actor"


def set_actor(session: DbSession, user_id: int | None, email: str) -> None:
    """Name who is acting for the rest of this session's work (a request, a command)."""
    session.info[ACTOR_KEY] = (user_id, email)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _audited(objects: Iterable[Any]) -> list[Any]:
    return [o for o in objects if getattr(o, "__tablename__", None) in AUDITED_TABLES]


def _all_columns(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    return {
        attr.key: [None, _plain(attr.value)]
        for attr in state.attrs
        if attr.key in state.mapper.columns and attr.key not in IGNORED_COLUMNS
    }


def _changed_columns(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    changes: dict[str, Any] = {}
    for attr in state.attrs:
        if attr.key not in state.mapper.columns or attr.key in IGNORED_COLUMNS:
            continue
        history = attr.history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            changes[attr.key] = [_plain(before), _plain(after)]
    return changes


def _update_action(changes: dict[str, Any]) -> str:
    if "archived_at" in changes:
        before, after = changes["archived_at"]
        if before is None and after is not None:
            return "archive"
        if before is not None and after is None:
            return "restore"
    return "update"


def _entry(
    obj: Any, action: str, changes: dict[str, Any], actor: tuple[int | None, str]
) -> dict[str, Any]:
    return {
        "created_at": utcnow(),
        "workspace_id": getattr(obj, "workspace_id", None),
        "actor_id": actor[0],
        "actor_email": actor[1],
        "entity": obj.__tablename__,
        "entity_id": obj.id,
        "entity_name": str(getattr(obj, "name", "") or "")[:200],
        "action": action,
        "changes": changes,
    }


def _record(session: Session, _flush: UOWTransaction) -> None:
    actor: tuple[int | None, str] = session.info.get(ACTOR_KEY, (None, "system"))
    rows = [_entry(o, "create", _all_columns(o), actor) for o in _audited(session.new)]
    for obj in _audited(session.dirty):
        changes = _changed_columns(obj)
        if changes:
            rows.append(_entry(obj, _update_action(changes), changes, actor))
    rows += [
        _entry(o, "delete", {k: [v[1], None] for k, v in _all_columns(o).items()}, actor)
        for o in _audited(session.deleted)
    ]
    if rows:
        session.connection().execute(insert(AuditEntry), rows)


def _keep_old_value(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    return value


def init_audit() -> None:
    """Listen to every session's flushes (once per process).

    Audited columns get active history: setting an attribute that a commit expired loads its
    old value first, so the log has the real "before" (one extra read, on setup writes only).
    """
    if event.contains(Session, "after_flush", _record):
        return
    event.listen(Session, "after_flush", _record)
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) not in AUDITED_TABLES:
            continue
        for column_attr in mapper.column_attrs:
            if column_attr.key not in IGNORED_COLUMNS:
                event.listen(
                    getattr(mapper.class_, column_attr.key),
                    "set",
                    _keep_old_value,
                    active_history=True,
                    retval=True,
                )
