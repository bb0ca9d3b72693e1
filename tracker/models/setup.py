"""What a buyer sets up: traffic sources, affiliate networks, offers, landers, flows, campaigns.

Every setup object belongs to one workspace. Archiving hides an object from pickers and lists
without breaking the ads, visits and reports that still point at it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import Base
from tracker.models.types import Money, UTCDateTime, utcnow


def _enum(kind: type[enum.Enum], length: int = 16) -> Enum:
    # Stored as plain strings (no native PostgreSQL enum): adding a value needs no migration dance.
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class CostModel(enum.StrEnum):
    CPC = "cpc"
    CPM = "cpm"
    CPA = "cpa"
    REVSHARE = "revshare"
    AUTO = "auto"
    NONE = "none"


class RedirectMode(enum.StrEnum):
    HTTP_302 = "302"
    META = "meta"
    DOUBLE_META = "double_meta"


class SetupMixin:
    """Columns every setup object has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrafficSource(SetupMixin, Base):
    """Where visitors come from, and how its campaign URL carries click ID, cost and variables."""

    __tablename__ = "traffic_source"

    preset: Mapped[str | None] = mapped_column(String(40))
    external_id_param: Mapped[str] = mapped_column(String(100), default="")
    external_id_placeholder: Mapped[str] = mapped_column(String(200), default="")
    cost_param: Mapped[str] = mapped_column(String(100), default="")
    cost_placeholder: Mapped[str] = mapped_column(String(200), default="")
    # [{"name", "param", "placeholder"}], at most ten; position = var number.
    variables: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Called when a conversion is recorded; tokens like {externalid} and {payout} are filled in.
    postback_url: Mapped[str] = mapped_column(Text, default="")
    # Which conversion statuses are forwarded, and whether only a visit's first conversion is.
    postback_statuses: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["approved"])
    postback_first_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # A regular expression the answer body must match to count as success (empty: any 2xx).
    postback_success_pattern: Mapped[str] = mapped_column(String(200), default="")


class AffiliateNetwork(SetupMixin, Base):
    """Who pays for conversions, and how its postbacks are checked and read."""

    __tablename__ = "affiliate_network"

    preset: Mapped[str | None] = mapped_column(String(40))
    postback_secret: Mapped[str | None] = mapped_column(String(200))
    allowed_ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    accept_duplicates: Mapped[bool] = mapped_column(Boolean, default=False)
    # The network's own status values, as sent, to ours: {"1": "approved", "3": "declined"}.
    status_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # The network's own parameter names to ours: {"sum": "payout", "transaction_id": "txid"}.
    param_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class Offer(SetupMixin, Base):
    """A page that pays on conversion; its URL carries {clickid} back to the network."""

    __tablename__ = "offer"

    url: Mapped[str] = mapped_column(Text)
    affiliate_network_id: Mapped[int | None] = mapped_column(
        ForeignKey("affiliate_network.id", ondelete="SET NULL"), index=True
    )
    payout: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))


class Lander(SetupMixin, Base):
    """A pre-sell page; its call to action links to /click (or /click/<n> for n offers)."""

    __tablename__ = "lander"

    url: Mapped[str] = mapped_column(Text)
    offer_count: Mapped[int] = mapped_column(Integer, default=1)


class Flow(SetupMixin, Base):
    """Reusable routing: rules checked top-down, each with weighted paths, then default paths.

    Rules and paths are one validated JSON document: a flow is edited and versioned as a whole,
    and the hot path compiles it into a snapshot rather than reading it row by row.
    """

    __tablename__ = "flow"

    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    default_paths: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Campaign(SetupMixin, Base):
    """What a buyer puts in an ad: a key in the URL, a source, a cost model and a destination."""

    __tablename__ = "campaign"

    key: Mapped[str] = mapped_column(String(32), unique=True)
    traffic_source_id: Mapped[int] = mapped_column(
        ForeignKey("traffic_source.id", ondelete="RESTRICT"), index=True
    )
    cost_model: Mapped[CostModel] = mapped_column(_enum(CostModel), default=CostModel.NONE)
    cost_value: Mapped[Decimal | None] = mapped_column(Money)
    # Destination: a flow, or one path of its own ({"weight", "landers", "offers", ...}).
    flow_id: Mapped[int | None] = mapped_column(
        ForeignKey("flow.id", ondelete="RESTRICT"), index=True
    )
    path: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    redirect_mode: Mapped[RedirectMode] = mapped_column(
        _enum(RedirectMode), default=RedirectMode.HTTP_302
    )
    # Ask Chromium browsers for high-entropy client hints before the first response
    # (Critical-CH): exact Android model and OS version, for one extra round trip.
    critical_client_hints: Mapped[bool] = mapped_column(Boolean, default=False)


class SetupVersion(Base):
    """One row: a counter bumped on every setup change, so each process knows when to
    rebuild its cached campaign snapshots with a single cheap read."""

    __tablename__ = "setup_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
