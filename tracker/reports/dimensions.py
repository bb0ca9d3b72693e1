"""The contract's report dimensions and how each becomes SQL.

A dimension is read from the visit row (or from a rollup row, whose columns have the visit's
names). Entity dimensions group by id; their names are looked up after the aggregate, so the
big query joins nothing it does not need. Time dimensions are computed from the row's local
epoch second (see ``periods``), so they need no time zone support in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import BigInteger, ColumnElement, FromClause, cast, func

from tracker.models import (
    AffiliateNetwork,
    Campaign,
    ConversionType,
    Flow,
    Lander,
    Offer,
    TrafficSource,
)
from tracker.models.events import VAR_COUNT
from tracker.reports.periods import SECONDS_PER_DAY, SECONDS_PER_HOUR

DimensionKind = Literal["entity", "text", "number", "time"]


@dataclass(frozen=True)
class Dimension:
    """One way to split a report."""

    name: str
    label: str
    kind: DimensionKind
    # The visit column it reads (rollup tables use the same names); None for derived ones.
    column: str | None = None
    model: type[Any] | None = None
    # Read from the conversion, not the visit: visits, clicks and visit costs cannot be split
    # by it, so a report grouped or filtered by it has conversion figures alone.
    conversion_side: bool = False

    @property
    def id_key(self) -> str:
        """The row key and filter name of an entity's id: ``campaign_id``."""
        return f"{self.name}_id"

    @property
    def columns_needed(self) -> tuple[str, ...]:
        """The visit columns this dimension reads (what a rollup must keep to answer it)."""
        if self.name == "affiliate_network":
            return ("offer_id",)
        if self.conversion_side:
            return ("conversion_type_id",)  # no rollup holds it
        if self.kind == "time":
            return ()
        assert self.column is not None
        return (self.column,)


def _entity(name: str, label: str, model: type[Any], column: str | None = None) -> Dimension:
    return Dimension(name, label, "entity", column or f"{name}_id", model)


def _text(name: str, label: str) -> Dimension:
    return Dimension(name, label, "text", name)


DIMENSIONS: tuple[Dimension, ...] = (
    _entity("campaign", "Campaign", Campaign),
    _entity("traffic_source", "Traffic source", TrafficSource),
    Dimension("affiliate_network", "Affiliate network", "entity", None, AffiliateNetwork),
    _entity("offer", "Offer", Offer),
    _entity("lander", "Lander", Lander),
    _entity("flow", "Flow", Flow),
    _text("rule", "Rule"),
    _text("path", "Path"),
    _text("country", "Country"),
    _text("region", "Region"),
    _text("city", "City"),
    _text("isp", "ISP"),
    Dimension("asn", "ASN", "number", "asn"),
    _text("connection_type", "Connection type"),
    _text("device_type", "Device type"),
    _text("brand", "Brand"),
    _text("model", "Model"),
    _text("os", "OS"),
    _text("os_version", "OS version"),
    _text("browser", "Browser"),
    _text("browser_version", "Browser version"),
    _text("language", "Language"),
    _text("referrer_domain", "Referrer domain"),
    *(_text(f"var{n}", f"Var {n}") for n in range(1, VAR_COUNT + 1)),
    Dimension(
        "conversion_type", "Conversion type", "entity", "conversion_type_id", ConversionType, True
    ),
    Dimension("day", "Day", "time"),
    Dimension("hour", "Hour", "time"),
    Dimension("hour_of_day", "Hour of day", "time"),
    Dimension("day_of_week", "Day of week", "time"),
)
DIMENSION_BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}
ENTITY_DIMENSIONS = tuple(d for d in DIMENSIONS if d.kind == "entity")
TIME_DIMENSIONS = tuple(d for d in DIMENSIONS if d.kind == "time")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _int_div(value: ColumnElement[Any], divisor: int) -> ColumnElement[int]:
    # Both stores divide integers by integers exactly this way (truncating; values are positive).
    return cast(value, BigInteger) // divisor


# Local epoch second → the time dimension's value: day and hour numbers since 1970 (turned into
# labels afterwards), 0-23, and ISO weekday 1 (Monday) to 7 (1970-01-01 was a Thursday).
TIME_EXPRESSIONS: dict[str, Callable[[ColumnElement[Any]], ColumnElement[Any]]] = {
    "day": lambda local: _int_div(local, SECONDS_PER_DAY),
    "hour": lambda local: _int_div(local, SECONDS_PER_HOUR),
    "hour_of_day": lambda local: _int_div(local, SECONDS_PER_HOUR) % 24,
    "day_of_week": lambda local: (_int_div(local, SECONDS_PER_DAY) + 3) % 7 + 1,
}


def dimension_expression(
    dimension: Dimension,
    source: FromClause,
    offer_table: FromClause | None,
    local_seconds: Callable[[], ColumnElement[Any]],
    conversion_table: FromClause | None = None,
) -> ColumnElement[Any]:
    """The SQL value a dimension groups by, read from ``source`` (visit or rollup), or from the
    conversion for a conversion-side dimension."""
    if dimension.conversion_side:
        assert conversion_table is not None and dimension.column is not None
        return conversion_table.c[dimension.column].label(dimension.name)
    if dimension.kind == "time":
        return TIME_EXPRESSIONS[dimension.name](local_seconds()).label(dimension.name)
    if dimension.name == "affiliate_network":
        assert offer_table is not None
        return offer_table.c.affiliate_network_id.label(dimension.name)
    assert dimension.column is not None
    column = source.c[dimension.column]
    return column.label(dimension.name)


def epoch_expression(created_at: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    """Whole UTC epoch seconds of a stored (naive UTC) timestamp, on either store."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", created_at), BigInteger)
    return cast(func.floor(func.extract("epoch", created_at)), BigInteger)
