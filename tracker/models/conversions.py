"""Buyer-defined conversion types: which ``et`` values a postback may carry, and whether they
count as conversions and as revenue in reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import Base
from tracker.models.types import UTCDateTime, utcnow


class ConversionType(Base):
    """A custom event type (``install``, ``deposit``): the ``et`` values that mean it, and
    whether its conversions count in "conversions" and in revenue."""

    __tablename__ = "conversion_type"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # The postback ``et`` values that mean this type, as sent (compared case-insensitively).
    et_values: Mapped[list[str]] = mapped_column(JSON, default=list)
    counts_as_conversion: Mapped[bool] = mapped_column(Boolean, default=True)
    counts_in_revenue: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
