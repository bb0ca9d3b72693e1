"""Report rollups: visits summed per hour, per UTC day and per span of days for the common
dimensions, a state row for the worker, and cost adjustments (the per-visit costs a manual cost
update replaced).

Each rollup table holds every grain (``grain`` = 3600, 86400, or a span of 2 to 64 days in
seconds; ``bucket`` = epoch second / grain) so a 30-day report reads a few whole spans, whole
days around them, and only its edges by the hour. Conversions are rolled up as rows of their own
(no visits) by the hour and the day, so a late postback rebuilds those alone; spans hold visit
rows only (see ``tracker.reports.rollups``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import Base
from tracker.models.events import BigId, Conversion, Visit
from tracker.models.types import Money, MoneySum, UTCDateTime, utcnow


class RollupColumns:
    """What every rollup row has: where and when, and the additive sums."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    grain: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[int] = mapped_column(BigInteger)
    is_bot: Mapped[bool] = mapped_column(Boolean)
    traffic_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("traffic_source.id", ondelete="SET NULL")
    )
    visits: Mapped[int] = mapped_column(Integer)
    unique_visits: Mapped[int] = mapped_column(Integer)
    clicks: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(MoneySum)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    revenue: Mapped[Decimal] = mapped_column(MoneySum, default=Decimal("0"))
    conversion_cost: Mapped[Decimal] = mapped_column(MoneySum, default=Decimal("0"))


def _bucket_indexes(table: str) -> tuple[Index, Index]:
    """A rollup's rows by time, and its conversion rows (no visits) alone by time: late
    postbacks rebuild those, and a report reads those of the days its spans cover (spans hold
    visit rows only, see ``tracker.reports.rollups``)."""
    conversion_rows = text("visits = 0")
    return (
        Index(f"ix_{table}_bucket", "workspace_id", "grain", "bucket"),
        Index(
            f"ix_{table}_conversion_rows",
            "workspace_id",
            "grain",
            "bucket",
            sqlite_where=conversion_rows,
            postgresql_where=conversion_rows,
        ),
    )


class CampaignRollupColumns(RollupColumns):
    """A rollup that keeps each campaign apart."""

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))


class EntityRollup(CampaignRollupColumns, Base):
    """Campaign, source, offer, lander, flow: the dashboard, list pages, most reports."""

    __tablename__ = "rollup_entity"
    __table_args__ = _bucket_indexes("rollup_entity")

    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"))
    lander_id: Mapped[int | None] = mapped_column(ForeignKey("lander.id", ondelete="SET NULL"))
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flow.id", ondelete="SET NULL"))


class GeoRollup(CampaignRollupColumns, Base):
    """The entities by country, device type and OS."""

    __tablename__ = "rollup_geo"
    __table_args__ = _bucket_indexes("rollup_geo")

    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"))
    lander_id: Mapped[int | None] = mapped_column(ForeignKey("lander.id", ondelete="SET NULL"))
    country: Mapped[str] = mapped_column(String(2))
    device_type: Mapped[str] = mapped_column(String(16))
    os: Mapped[str] = mapped_column(String(64))


class ZoneKey(Base):
    """A number for each (traffic source, var1, device type) the zone rollups hold. A report by
    source, zone and device groups their rows by this one integer and joins the three values
    after grouping: sorting 188,000 text-keyed rows into 55,000 groups was most of the zone
    report's time (bench/RESULTS.md). Keys are only added, never changed or deleted; a missing
    traffic source is 0 here. Reports take the source itself from the rollup rows, so a source
    deleted outside the tracker (it archives them) shows as none, as in raw visits."""

    __tablename__ = "rollup_zone_key"
    __table_args__ = (UniqueConstraint("traffic_source_id", "var1", "device_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    traffic_source_id: Mapped[int] = mapped_column(Integer)
    var1: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(16))


class ZoneKeyColumn:
    """The zone key of a zone rollup row (see ``ZoneKey``)."""

    zone_key_id: Mapped[int] = mapped_column(ForeignKey("rollup_zone_key.id"))


class ZoneRollup(ZoneKeyColumn, CampaignRollupColumns, Base):
    """Campaign and source by var1 (the zone or placement ID most sources send) and device."""

    __tablename__ = "rollup_zone"
    __table_args__ = _bucket_indexes("rollup_zone")

    var1: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(16))


class SourceZoneRollup(ZoneKeyColumn, RollupColumns, Base):
    """Source by var1 and device, the campaigns merged: a source's zones are shared by its
    campaigns, so a zone report across campaigns (source → zone → device) reads about a third
    fewer rows here than in ``rollup_zone`` (bench/RESULTS.md)."""

    __tablename__ = "rollup_source_zone"
    __table_args__ = _bucket_indexes("rollup_source_zone")

    var1: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(16))


class RollupState(Base):
    """One row: how far the rollups go. Hours before ``sealed_until`` are rolled up; hours
    before ``finalized_until`` also hold conversions (their raw visits may be pruned)."""

    __tablename__ = "rollup_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sealed_until: Mapped[int] = mapped_column(BigInteger, default=0)  # epoch second, hour-aligned
    finalized_until: Mapped[int] = mapped_column(BigInteger, default=0)  # epoch second, day-aligned
    # Clicks and conversions recorded after this moment on sealed hours make them dirty.
    clicks_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CostAdjustment(Base):
    """A visit's cost before a manual cost update replaced it: undo restores it with one
    set-based UPDATE (a JSON blob per update would not scale to millions of visits)."""

    __tablename__ = "cost_adjustment"

    cost_update_id: Mapped[int] = mapped_column(
        ForeignKey("cost_update.id", ondelete="CASCADE"), primary_key=True
    )
    visit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("visit.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    previous_cost: Mapped[Decimal] = mapped_column(Money)


# Late clicks on sealed hours are found through this index (the rollups must count them).
Index("ix_visit_clicked_at", Visit.clicked_at)
# Recent hours' conversions by the visit's time, for the raw part of a report.
Index("ix_conversion_visit_at", Conversion.workspace_id, Conversion.visit_at)
# Postbacks and status changes since the last refresh, on sealed hours: rebuilt.
Index("ix_conversion_updated_at", Conversion.updated_at)
