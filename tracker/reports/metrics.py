"""The glossary: every metric the tracker shows (UI, API, CSV), computed in one place.

A report query sums six base figures per row (``Sums``); every other metric is derived from them
here, so a ratio means the same thing on every page. A ratio whose denominator is zero is
``None`` (shown as ``—``, ``null`` in JSON, an empty CSV cell), never 0 and never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

ZERO = Decimal("0")
HUNDRED = Decimal("100")
# Money keeps the store's six places; ratios and percentages are shown with fewer.
MONEY_PLACES = Decimal("0.000001")
RATIO_PLACES = Decimal("0.0001")

MetricKind = Literal["count", "money", "percent"]


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name (as in the API and CSV), its column label and how it is shown."""

    name: str
    label: str
    kind: MetricKind
    definition: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("visits", "Visits", "count", "hits of a campaign URL"),
    MetricSpec("unique_visits", "Unique", "count", "first visit of an IP + user agent in 24 h"),
    MetricSpec("clicks", "Clicks", "count", "lander click-throughs (direct visits count one)"),
    MetricSpec("conversions", "Conv.", "count", "conversions not declined"),
    MetricSpec("revenue", "Revenue", "money", "sum of the counted conversions' payouts"),
    MetricSpec("cost", "Cost", "money", "visit costs by cost model plus manual cost updates"),
    MetricSpec("profit", "Profit", "money", "revenue - cost"),
    MetricSpec("roi", "ROI", "percent", "profit / cost * 100"),
    MetricSpec("ctr", "CTR", "percent", "clicks / visits * 100"),
    MetricSpec("cr", "CR", "percent", "conversions / clicks * 100"),
    MetricSpec("cv", "CV", "percent", "conversions / visits * 100"),
    MetricSpec("epv", "EPV", "money", "revenue / visits"),
    MetricSpec("epc", "EPC", "money", "revenue / clicks"),
    MetricSpec("ap", "AP", "money", "revenue / conversions"),
    MetricSpec("cpv", "CPV", "money", "cost / visits"),
    MetricSpec("cpc", "CPC", "money", "cost / clicks"),
    MetricSpec("cpa", "CPA", "money", "cost / conversions"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
METRIC_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


# Not frozen: a 3-level zone report makes tens of thousands of these, and a frozen dataclass
# is built three times slower (every field set through ``object.__setattr__``).
@dataclass(slots=True)
class Sums:
    """The six additive figures a report sums; everything else derives from them."""

    visits: int = 0
    unique_visits: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = ZERO
    cost: Decimal = ZERO

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.visits + other.visits,
            self.unique_visits + other.unique_visits,
            self.clicks + other.clicks,
            self.conversions + other.conversions,
            self.revenue + other.revenue,
            self.cost + other.cost,
        )

    @staticmethod
    def total(items: Iterable[Sums]) -> Sums:
        visits = unique_visits = clicks = conversions = 0
        revenue = cost = ZERO
        for item in items:  # column by column: no intermediate Sums per item
            visits += item.visits
            unique_visits += item.unique_visits
            clicks += item.clicks
            conversions += item.conversions
            revenue += item.revenue
            cost += item.cost
        return Sums(visits, unique_visits, clicks, conversions, revenue, cost)


def _ratio(numerator: Decimal | int, denominator: Decimal | int, scale: int = 1) -> Decimal | None:
    if not denominator:
        return None
    return Decimal(numerator) * scale / Decimal(denominator)


# Every ratio: numerator, denominator (base sums, or profit) and scale (100: a percentage).
RATIOS: dict[str, tuple[str, str, int]] = {
    "roi": ("profit", "cost", 100),
    "ctr": ("clicks", "visits", 100),
    "cr": ("conversions", "clicks", 100),
    "cv": ("conversions", "visits", 100),
    "epv": ("revenue", "visits", 1),
    "epc": ("revenue", "clicks", 1),
    "ap": ("revenue", "conversions", 1),
    "cpv": ("cost", "visits", 1),
    "cpc": ("cost", "clicks", 1),
    "cpa": ("cost", "conversions", 1),
}


def metric_of(s: Sums, name: str) -> int | Decimal | None:
    """One metric of a row: sorting thousands of groups by one column need not derive all."""
    if name == "profit":
        return s.revenue - s.cost
    if name in RATIOS:
        numerator, denominator, scale = RATIOS[name]
        num, den = metric_of(s, numerator), metric_of(s, denominator)
        assert num is not None and den is not None
        return _ratio(num, den, scale)
    value: int | Decimal = getattr(s, name)
    return value


@dataclass(frozen=True)
class Metrics:
    """Every metric of the glossary for one report row (or the totals)."""

    visits: int
    unique_visits: int
    clicks: int
    conversions: int
    revenue: Decimal
    cost: Decimal
    profit: Decimal
    roi: Decimal | None
    ctr: Decimal | None
    cr: Decimal | None
    cv: Decimal | None
    epv: Decimal | None
    epc: Decimal | None
    ap: Decimal | None
    cpv: Decimal | None
    cpc: Decimal | None
    cpa: Decimal | None

    @classmethod
    def from_sums(cls, s: Sums) -> Metrics:
        """Derive every metric from the base sums (the one place the formulas live)."""
        return cls(
            visits=s.visits,
            unique_visits=s.unique_visits,
            clicks=s.clicks,
            conversions=s.conversions,
            revenue=s.revenue,
            cost=s.cost,
            profit=s.revenue - s.cost,
            **{name: metric_of(s, name) for name in RATIOS},  # type: ignore[arg-type]
        )

    def as_dict(self) -> dict[str, int | Decimal | None]:
        """The metrics by name, exact (Decimal money, Decimal or None ratios)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def as_json(self) -> dict[str, Any]:
        """The metrics as JSON numbers: money rounded to 6 places, percentages to 4; null ratios."""
        return {name: json_number(name, value) for name, value in self.as_dict().items()}


def json_number(metric: str, value: int | Decimal | None) -> int | float | None:
    """One metric as a JSON number with the precision its kind deserves."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    places = MONEY_PLACES if METRIC_BY_NAME[metric].kind == "money" else RATIO_PLACES
    return float(value.quantize(places))


def text_value(metric: str, value: int | Decimal | None) -> str:
    """One metric as CSV text: exact digits (money to 6 places, percentages to 4); empty = null."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    places = MONEY_PLACES if METRIC_BY_NAME[metric].kind == "money" else RATIO_PLACES
    return format(value.quantize(places).normalize(), "f")
