"""The audit log: who changed which setup object, when, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import Base
from tracker.models.events import BigId
from tracker.models.types import UTCDateTime, utcnow


class AuditEntry(Base):
    """One change of one setup object (written by tracker.audit, never by hand)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),
        Index("ix_audit_log_entity", "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # Kept as text too: the log must still say who it was after the account is deleted.
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    entity: Mapped[str] = mapped_column(String(40))  # table name: campaign, offer, ...
    entity_id: Mapped[int] = mapped_column(Integer)
    entity_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(16))  # create, update, archive, restore, delete
    # {"column": [before, after]} for the columns that changed (all of them on create/delete).
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
