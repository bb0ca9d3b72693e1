"""Column types shared by the models: UTC times and money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a Core text() query
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


# Money: exact decimals with six places (payouts like 0.000350 per CPM visit are real).
Money = Numeric(14, 6, asdecimal=True)
# Sums of money in rollups: a 64-day span of one busy campaign may pass Money's 100 million.
MoneySum = Numeric(18, 6, asdecimal=True)
ZERO = Decimal("0")


def utcnow() -> datetime:
    return datetime.now(UTC)
