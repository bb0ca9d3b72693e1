"""What happens: visits (with their click-through), conversions, cost updates, the postback
log and the outbox of postbacks to forward. Times are UTC; money is Decimal."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import Base
from tracker.models.types import Money, UTCDateTime, utcnow

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

VAR_COUNT = 10


def user_agent_hash(user_agent: str) -> int:
    """A visit's ``user_agent_hash``: 64 bits of BLAKE2b of its user agent, signed (a BIGINT).

    Part of the stored format: the unique-visit check looks visits up by it, so a change here
    needs a migration that recomputes the column for the last 24 hours."""
    digest = hashlib.blake2b(user_agent.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _user_agent_hash_default(context: Any) -> int:
    return user_agent_hash(context.get_current_parameters().get("user_agent") or "")


class Visit(Base):
    """One hit of a campaign URL, with everything known about the visitor.

    Written on the hot path through SQLAlchemy Core (one INSERT); the click-through on a lander
    updates it in place, so reports read one table.
    """

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_campaign_created", "campaign_id", "created_at"),
        Index("ix_visit_workspace_created", "workspace_id", "created_at"),
        # The unique-visit check: a visit of this IP and user agent in the campaign within 24 h
        # is one index seek, however many visits share the IP (a mobile carrier's NAT).
        Index("ix_visit_unique_key", "campaign_id", "ip", "user_agent_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    click_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    traffic_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("traffic_source.id", ondelete="SET NULL")
    )
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flow.id", ondelete="SET NULL"))
    rule: Mapped[str | None] = mapped_column(String(200))  # name of the rule that matched
    path: Mapped[str | None] = mapped_column(String(200))  # name or number of the path taken
    lander_id: Mapped[int | None] = mapped_column(ForeignKey("lander.id", ondelete="SET NULL"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"))
    # Click-through: a direct-to-offer visit counts one click when redirected.
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    # Derived from user_agent on every insert (see user_agent_hash); NULL only on visits older
    # than the column, which the 24 h unique-visit check no longer reads.
    user_agent_hash: Mapped[int | None] = mapped_column(
        BigInteger, default=_user_agent_hash_default
    )
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=True)
    device_type: Mapped[str] = mapped_column(String(16), default="")
    brand: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    os: Mapped[str] = mapped_column(String(64), default="")
    os_version: Mapped[str] = mapped_column(String(32), default="")
    browser: Mapped[str] = mapped_column(String(64), default="")
    browser_version: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    isp: Mapped[str] = mapped_column(String(200), default="")
    asn: Mapped[int | None] = mapped_column(Integer)
    connection_type: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    referrer: Mapped[str] = mapped_column(Text, default="")
    referrer_domain: Mapped[str] = mapped_column(String(255), default="")
    external_id: Mapped[str] = mapped_column(String(255), default="")
    cost: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    var1: Mapped[str] = mapped_column(String(255), default="")
    var2: Mapped[str] = mapped_column(String(255), default="")
    var3: Mapped[str] = mapped_column(String(255), default="")
    var4: Mapped[str] = mapped_column(String(255), default="")
    var5: Mapped[str] = mapped_column(String(255), default="")
    var6: Mapped[str] = mapped_column(String(255), default="")
    var7: Mapped[str] = mapped_column(String(255), default="")
    var8: Mapped[str] = mapped_column(String(255), default="")
    var9: Mapped[str] = mapped_column(String(255), default="")
    var10: Mapped[str] = mapped_column(String(255), default="")


class Conversion(Base):
    """A network's report that a visit converted. Counted on the visit's time (cohort view)."""

    __tablename__ = "conversion"
    __table_args__ = (
        # No index on (click_id, txid, et): a visit's conversions are found by visit_id (a click
        # ID is one visit), and every index is one more page written by each postback's commit.
        Index("ix_conversion_campaign_visit_at", "campaign_id", "visit_at"),
        Index("ix_conversion_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # click_id|txid|et, or a unique value where the network accepts duplicates: two identical
    # postbacks racing in two workers cannot both insert.
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    click_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"))
    affiliate_network_id: Mapped[int | None] = mapped_column(
        ForeignKey("affiliate_network.id", ondelete="SET NULL")
    )
    txid: Mapped[str] = mapped_column(String(255), default="")
    et: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="approved")
    payout: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    param1: Mapped[str] = mapped_column(String(255), default="")
    param2: Mapped[str] = mapped_column(String(255), default="")
    param3: Mapped[str] = mapped_column(String(255), default="")
    param4: Mapped[str] = mapped_column(String(255), default="")
    param5: Mapped[str] = mapped_column(String(255), default="")
    visit_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The buyer's type for this ``et`` (conversion_type.id), resolved when recorded; the two
    # flags copy the type's (kept in step when the type changes), so reports filter without a
    # join. No type: both true. No foreign key: adding one to this table on SQLite means
    # rebuilding it, which would null the postback log's links; the type's services keep it
    # right (deleting a type clears it here).
    conversion_type_id: Mapped[int | None] = mapped_column(Integer)
    counts_as_conversion: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    counts_in_revenue: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # How it arrived: postback, pixel, script, upload.
    source: Mapped[str] = mapped_column(String(16), default="postback", server_default="postback")


class CostUpdate(Base):
    """A buyer's manual cost: a total spread evenly over the matching visits, undoable."""

    __tablename__ = "cost_update"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    variable: Mapped[str | None] = mapped_column(String(8))  # "var3", or none for all visits
    variable_value: Mapped[str | None] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    amount: Mapped[Decimal] = mapped_column(Money)
    visits_affected: Mapped[int] = mapped_column(Integer, default=0)
    # Per-visit costs before the update ({visit_id: "cost"}), so an undo restores them exactly.
    previous_costs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostbackLog(Base):
    """Every postback or pixel call, accepted or refused, with its reason."""

    __tablename__ = "postback_log"
    # Few indexes: every postback writes a row, and each index is one more page per commit.
    # Retention deletes the oldest rows in id order (ids grow with time), needing none.
    __table_args__ = (Index("ix_postback_log_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(45), default="")
    method: Mapped[str] = mapped_column(String(8), default="GET")
    endpoint: Mapped[str] = mapped_column(String(32), default="postback")
    raw_query: Mapped[str] = mapped_column(Text, default="")
    raw_body: Mapped[str] = mapped_column(Text, default="")
    click_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    # recorded, duplicate, updated, unknown_click, forbidden, malformed, unavailable
    result: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(SmallInteger)
    # Human-readable notes: why refused, which values were ignored as unreplaced macros.
    reason: Mapped[str] = mapped_column(Text, default="")
    conversion_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversion.id", ondelete="SET NULL")
    )


class OutboxMessage(Base):
    """A postback to forward to a traffic source, sent by the worker with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    conversion_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversion.id", ondelete="SET NULL"), index=True
    )
    traffic_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("traffic_source.id", ondelete="SET NULL")
    )
    url: Mapped[str] = mapped_column(Text)
    success_pattern: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_response: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
