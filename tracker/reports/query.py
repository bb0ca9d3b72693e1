"""Reports: group-by levels, filters, a date range in a time zone, bots, sort → aggregate SQL.

``run_report`` is the one entry point (UI, API, CSV, dashboard, list pages). It sums the visit
side (visits, unique, clicks, visit costs) and the conversion side (conversions, revenue, costs
of the cpa and revshare models, counted on the visit's time) per group, in two aggregate
queries that read only the columns they group by, then merges them and derives every metric
from ``metrics``. Hourly rollups (see ``rollups``) answer the visit side of sealed hours when
they hold every dimension asked for; raw visits answer the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    null,
    select,
    text,
    true,
    type_coerce,
    union_all,
)

from tracker.conversions.params import NOT_COUNTED_STATUSES
from tracker.extensions import DbSession
from tracker.models import Campaign, Conversion, Offer, Visit
from tracker.models.types import Money
from tracker.numbers import MAX_ID, is_whole_number
from tracker.reports import rollups
from tracker.reports.dimensions import (
    DIMENSION_BY_NAME,
    WEEKDAY_NAMES,
    Dimension,
    dimension_expression,
    epoch_expression,
)
from tracker.reports.metrics import METRIC_NAMES, Metrics, Sums
from tracker.reports.periods import (
    Period,
    day_label,
    day_number,
    hour_label,
    hour_number,
    make_period,
)

SUM_FIELDS = frozenset(f.name for f in fields(Sums))
MAX_LEVELS = 3
MAX_DAYS = 1100
MAX_LIMIT = 100_000
# PostgreSQL's memory for one report's sorts and hash aggregates (its default is 4 MB).
REPORT_WORK_MEM = "64MB"
ZERO = Decimal("0")

# Query parameters a report understands besides the dimension filters.
CONTROL_PARAMS = frozenset(
    {
        "group_by",
        "from",
        "to",
        "tz",
        "include_bots",
        "sort",
        "limit",
        "workspace_id",
        "totals",
        "chart",
    }
)


class ReportError(ValueError):
    """A report parameter is wrong; ``param`` names it (answered as 400 naming the field)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Filter:
    """``dimension`` equals one of ``values``; ``by_id`` for ``<entity>_id=<id>`` filters.
    An empty value matches an empty text, or a missing entity/number (``lander_id=``)."""

    dimension: str
    values: tuple[str, ...]
    by_id: bool = False

    @property
    def param(self) -> str:
        return f"{self.dimension}_id" if self.by_id else self.dimension


@dataclass(frozen=True)
class ReportQuery:
    """What to report: levels, period, filters, bots, order and size."""

    workspace_id: int
    group_by: tuple[str, ...]
    period: Period
    filters: tuple[Filter, ...] = ()
    include_bots: bool = False
    sort: str | None = None
    limit: int | None = None

    @property
    def timezone(self) -> str:
        return self.period.zone.key


@dataclass
class ReportRow:
    """One group: its dimension values (entities as name and id) and every metric (derived
    when first asked for: a page shows its first rows of a report that may have thousands)."""

    values: dict[str, Any]
    sums: Sums

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics.from_sums(self.sums)

    def as_json(self) -> dict[str, Any]:
        return {**self.values, **self.metrics.as_json()}

    def as_dict(self) -> dict[str, Any]:
        """Dimension values and exact metrics (Decimal), by column name."""
        return {**self.values, **self.metrics.as_dict()}


@dataclass
class Report:
    query: ReportQuery
    rows: list[ReportRow]
    totals: Metrics
    total_rows: int
    # Which tables answered ("raw", "rollup"), for the benchmark and the curious.
    sources: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        """Row keys in display order: each level (entities: name then id), then the metrics."""
        result: list[str] = []
        for name in self.query.group_by:
            result.append(name)
            if DIMENSION_BY_NAME[name].kind == "entity":
                result.append(DIMENSION_BY_NAME[name].id_key)
        return result + list(METRIC_NAMES)


# --- parsing ------------------------------------------------------------------------------------


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ReportError(name, "give it once")
    return values[0]


def _parse_day(raw: str, param: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ReportError(param, f"not a date (YYYY-MM-DD): {raw!r}") from exc


def parse_zone(raw: str, param: str = "tz") -> ZoneInfo:
    """An IANA time zone, refused with the parameter's name when unknown."""
    try:
        if not raw or raw.startswith(("/", ".")) or ".." in raw:
            raise ValueError(raw)
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(param, f"unknown time zone: {raw!r}") from exc


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(zone)).astimezone(zone).date()


def parse_report_args(
    args: Mapping[str, Sequence[str]],
    workspace_id: int,
    default_tz: str,
    *,
    now: datetime | None = None,
    allow_no_levels: bool = False,
) -> ReportQuery:
    """A report query from query-string values (name → list of values); ``ReportError``
    names the first bad parameter. Missing ``from``/``to``: the last 7 days in ``tz``."""
    zone = parse_zone(_one(args, "tz") or default_tz)
    raw_levels = _one(args, "group_by") or ""
    levels = tuple(part.strip() for part in raw_levels.split(",") if part.strip())
    if not levels and not allow_no_levels:
        raise ReportError("group_by", "name one to three dimensions, e.g. group_by=campaign")
    if len(levels) > MAX_LEVELS:
        raise ReportError("group_by", f"at most {MAX_LEVELS} levels")
    for level in levels:
        if level not in DIMENSION_BY_NAME:
            raise ReportError("group_by", f"unknown dimension {level!r}")
    if len(set(levels)) != len(levels):
        raise ReportError("group_by", "a dimension is repeated")

    raw_to = _one(args, "to")
    raw_from = _one(args, "from")
    date_to = _parse_day(raw_to, "to") if raw_to else today_in(zone, now)
    date_from = _parse_day(raw_from, "from") if raw_from else date_to - timedelta(days=6)
    if date_from > date_to:
        raise ReportError("from", "must be on or before `to`")
    if (date_to - date_from).days >= MAX_DAYS:
        raise ReportError("from", f"a report spans at most {MAX_DAYS} days")
    try:
        period = make_period(date_from, date_to, zone)
    except (OverflowError, ValueError) as exc:
        raise ReportError("from", "dates out of range") from exc

    include_bots = _parse_flag(_one(args, "include_bots"), "include_bots")
    sort = _one(args, "sort")
    if sort:
        valid = set(METRIC_NAMES) | set(levels)
        valid |= {
            DIMENSION_BY_NAME[n].id_key for n in levels if DIMENSION_BY_NAME[n].kind == "entity"
        }
        if sort.lstrip("-") not in valid:
            raise ReportError("sort", f"sort by a metric or a grouped dimension, not {sort!r}")
    limit = None
    raw_limit = _one(args, "limit")
    if raw_limit:
        if not is_whole_number(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ReportError("limit", f"a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)

    filters = []
    for name, values in args.items():
        if name in CONTROL_PARAMS:
            continue
        dimension_name, by_id = name, False
        if name.endswith("_id") and name[:-3] in DIMENSION_BY_NAME:
            dimension_name, by_id = name[:-3], True
        dimension = DIMENSION_BY_NAME.get(dimension_name)
        if dimension is None or (by_id and dimension.kind != "entity"):
            raise ReportError(name, "unknown parameter (not a dimension or a report option)")
        filters.append(Filter(dimension_name, tuple(values), by_id))
        _check_filter_values(dimension, filters[-1])
    return ReportQuery(
        workspace_id=workspace_id,
        group_by=levels,
        period=period,
        filters=tuple(filters),
        include_bots=include_bots,
        sort=sort or None,
        limit=limit,
    )


def _parse_flag(raw: str | None, param: str) -> bool:
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ReportError(param, "use 1 or 0")


def _check_filter_values(dimension: Dimension, flt: Filter) -> None:
    for value in flt.values:
        _filter_value(dimension, flt, value)


def _filter_value(dimension: Dimension, flt: Filter, raw: str) -> Any:
    """A filter value in the type the SQL expression compares with (None: missing)."""
    if "\x00" in raw:  # no stored value has one, and PostgreSQL refuses to compare with it
        raise ReportError(flt.param, "a NUL character is not allowed")
    value = raw.strip()
    if flt.by_id or dimension.kind == "number":
        if value == "":
            return None
        if not is_whole_number(value) or int(value) > MAX_ID:
            raise ReportError(flt.param, f"not a whole number: {raw!r}")
        return int(value)
    if dimension.kind == "time":
        try:
            if dimension.name == "day":
                return day_number(date.fromisoformat(value))
            if dimension.name == "hour":
                return hour_number(datetime.strptime(value, "%Y-%m-%d %H:%M"))
            if dimension.name == "hour_of_day":
                number = int(value)
                if not 0 <= number <= 23:
                    raise ValueError(value)
                return number
            number = (
                int(value) if is_whole_number(value) else WEEKDAY_NAMES.index(value.title()) + 1
            )
            if not 1 <= number <= 7:
                raise ValueError(value)
            return number
        except ValueError as exc:
            formats = {
                "day": "YYYY-MM-DD",
                "hour": "YYYY-MM-DD HH:00",
                "hour_of_day": "0 to 23",
                "day_of_week": "1 (Monday) to 7, or a day's name",
            }
            raise ReportError(flt.param, f"expected {formats[dimension.name]}: {raw!r}") from exc
    return raw  # text: as sent (an empty value matches an empty text)


# --- the SQL ------------------------------------------------------------------------------------


@dataclass
class _Scope:
    """One query's context: the source table, its time, and the joins it needs."""

    query: ReportQuery
    source: FromClause
    dialect: str
    epoch: ColumnElement[Any]  # UTC epoch second of the row
    offer: FromClause | None = None
    conversion: FromClause | None = None  # set where conversion-side dimensions can be read

    def local_seconds(self) -> ColumnElement[Any]:
        offsets = self.query.period.offsets
        if len(offsets) == 1:
            return self.epoch + offsets[0][1]
        whens = [
            (self.epoch < start, literal(offsets[i][1])) for i, (start, _) in enumerate(offsets[1:])
        ]
        return self.epoch + case(*whens, else_=literal(offsets[-1][1]))

    def expression(self, dimension: Dimension) -> ColumnElement[Any]:
        return dimension_expression(
            dimension, self.source, self.offer, self.local_seconds, self.conversion
        )

    def from_clause(self, from_: FromClause) -> FromClause:
        """``from_`` joined to the offer (for the affiliate network) when the report needs it."""
        if self.offer is None:
            return from_
        return from_.outerjoin(self.offer, self.offer.c.id == self.source.c.offer_id)


def _needs_offer_join(query: ReportQuery) -> bool:
    return "affiliate_network" in query.group_by or any(
        f.dimension == "affiliate_network" for f in query.filters
    )


def _entity_ids_by_name(
    session: DbSession, query: ReportQuery, dimension: Dimension, names: Iterable[str]
) -> list[int]:
    assert dimension.model is not None
    model = dimension.model
    return list(
        session.scalars(
            select(model.id).where(
                model.workspace_id == query.workspace_id, model.name.in_(list(names))
            )
        )
    )


def _filter_conditions(
    session: DbSession, scope: _Scope, resolved: dict[str, list[int]]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for flt in scope.query.filters:
        dimension = DIMENSION_BY_NAME[flt.dimension]
        expression = scope.expression(dimension)
        if dimension.kind == "entity" and not flt.by_id:
            ids = resolved[flt.dimension]
            conditions.append(expression.in_(ids) if ids else false())
            continue
        values = [_filter_value(dimension, flt, raw) for raw in flt.values]
        present = [v for v in values if v is not None]
        parts: list[ColumnElement[bool]] = []
        if present:
            parts.append(expression.in_(present))
        if len(present) < len(values):
            parts.append(expression.is_(None))
        conditions.append(parts[0] if len(parts) == 1 else parts[0] | parts[1])
    return conditions


def _resolve_names(session: DbSession, query: ReportQuery) -> dict[str, list[int]]:
    resolved: dict[str, list[int]] = {}
    for flt in query.filters:
        dimension = DIMENSION_BY_NAME[flt.dimension]
        if dimension.kind == "entity" and not flt.by_id:
            resolved[flt.dimension] = _entity_ids_by_name(session, query, dimension, flt.values)
    return resolved


def _raw_scope(query: ReportQuery, dialect: str, source: FromClause) -> _Scope:
    scope = _Scope(query, source, dialect, epoch_expression(source.c.created_at, dialect))
    if _needs_offer_join(query):
        scope.offer = Offer.__table__.alias("report_offer")
    return scope


def _raw_visit_select(
    session: DbSession,
    query: ReportQuery,
    resolved: dict[str, list[int]],
    start: datetime,
    end: datetime,
) -> Select[Any]:
    visit = Visit.__table__
    scope = _raw_scope(query, session.get_bind().dialect.name, visit)
    dims = [scope.expression(DIMENSION_BY_NAME[n]) for n in query.group_by]
    conditions = [
        visit.c.workspace_id == query.workspace_id,
        visit.c.created_at >= start,
        visit.c.created_at < end,
        *_filter_conditions(session, scope, resolved),
    ]
    if not query.include_bots:
        conditions.append(visit.c.is_bot == false())
    stmt = (
        select(
            *dims,
            func.count().label("visits"),
            func.sum(case((visit.c.is_unique == true(), 1), else_=0)).label("unique_visits"),
            func.sum(visit.c.clicks).label("clicks"),
            rollups.money_sum(session, visit.c.cost).label("cost"),
        )
        .select_from(scope.from_clause(visit))
        .where(and_(*conditions))
    )
    return stmt.group_by(*dims) if dims else stmt


def _raw_conversion_select(
    session: DbSession,
    query: ReportQuery,
    resolved: dict[str, list[int]],
    start: datetime,
    end: datetime,
) -> Select[Any]:
    visit = Visit.__table__
    conversion = Conversion.__table__
    campaign = Campaign.__table__
    scope = _raw_scope(query, session.get_bind().dialect.name, visit)
    scope.conversion = conversion
    dims = [scope.expression(DIMENSION_BY_NAME[n]) for n in query.group_by]
    counts, pays, conversion_cost = rollups.conversion_measures()
    conditions = [
        conversion.c.workspace_id == query.workspace_id,
        conversion.c.status.not_in(sorted(NOT_COUNTED_STATUSES)),
        # The visit's time (cohort view); conversion.visit_at is it, and indexed.
        conversion.c.visit_at >= start,
        conversion.c.visit_at < end,
        *_filter_conditions(session, scope, resolved),
    ]
    if not query.include_bots:
        conditions.append(visit.c.is_bot == false())
    from_ = conversion.join(visit, visit.c.id == conversion.c.visit_id).join(
        campaign, campaign.c.id == conversion.c.campaign_id
    )
    stmt = (
        select(
            *dims,
            func.sum(case((counts, 1), else_=0)).label("conversions"),
            rollups.money_sum(
                session, type_coerce(case((pays, conversion.c.payout), else_=0), Money)
            ).label("revenue"),
            rollups.money_sum(session, type_coerce(conversion_cost, Money)).label(
                "conversion_cost"
            ),
        )
        .select_from(scope.from_clause(from_))
        .where(and_(*conditions))
    )
    return stmt.group_by(*dims) if dims else stmt


def _money(value: Any) -> Decimal:
    """A group's money sum as Decimal with the store's six places (SQLite sums are floats)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(f"{value:.6f}")
    return Decimal(value or 0)


Key = tuple[Any, ...]


def _measures(stmt: Select[Any], levels: int) -> Select[Any]:
    """A partial aggregate with the columns every part shares: ``d0``..``dN`` (the grouped
    values), then ``SUM_COLUMNS`` in order (0 where the part has none)."""
    columns = list(stmt.selected_columns)
    by_name = {column.key: column for column in columns[levels:]}
    return stmt.with_only_columns(
        *(column.label(f"d{i}") for i, column in enumerate(columns[:levels])),
        *(
            by_name[name].label(name) if name in by_name else literal_column("0").label(name)
            for name in rollups.SUM_COLUMNS
        ),
        maintain_column_froms=True,
    )


def _parts(session: DbSession, query: ReportQuery) -> tuple[list[Select[Any]], list[str]]:
    """The partial aggregates that together cover the period (rollups by day and by hour, raw
    visits and conversions after them), and the tables they read."""
    resolved = _resolve_names(session, query)
    levels = len(query.group_by)
    period = query.period
    dialect = session.get_bind().dialect.name
    if conversion_side(query):
        stmt = _raw_conversion_select(session, query, resolved, period.start, period.end)
        return [_measures(stmt, levels)], ["raw_conversions"]
    parts: list[Select[Any]] = []
    sources: list[str] = []
    plan = rollups.plan(session, query)
    raw_from = period.start
    if plan is not None:

        def make_scope(table: FromClause, epoch: ColumnElement[Any]) -> _Scope:
            scope = _Scope(query, table, dialect, epoch)
            if _needs_offer_join(query):
                scope.offer = Offer.__table__.alias("report_offer")
            return scope

        for stmt in plan.selects(session, query, resolved, _filter_conditions, make_scope):
            parts.append(_measures(stmt, levels))
        sources.append(f"rollup_{plan.spec.name}")
        raw_from = plan.raw_from
    if raw_from < period.end:
        parts.append(
            _measures(_raw_visit_select(session, query, resolved, raw_from, period.end), levels)
        )
        parts.append(
            _measures(
                _raw_conversion_select(session, query, resolved, raw_from, period.end), levels
            )
        )
        sources.append("raw")
    return parts, sources


def _grouped(session: DbSession, query: ReportQuery) -> tuple[Select[Any], list[str]]:
    """One statement: the parts merged and summed per group in the store (a zone report has
    tens of thousands of groups: merging them in Python took as long as the SQL). Columns:
    ``d0``..``dN``, then visits, unique_visits, clicks, conversions, revenue, cost."""
    parts, sources = _parts(session, query)
    levels = len(query.group_by)
    assert parts, "a period is never empty: the rollups or raw visits cover it"
    merged = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("parts")
    dims = [merged.c[f"d{i}"] for i in range(levels)]
    cost = rollups.money_sum(session, merged.c.cost) + rollups.money_sum(
        session, merged.c.conversion_cost
    )
    stmt = select(
        *dims,
        func.sum(merged.c.visits).label("visits"),
        func.sum(merged.c.unique_visits).label("unique_visits"),
        func.sum(merged.c.clicks).label("clicks"),
        func.sum(merged.c.conversions).label("conversions"),
        rollups.money_sum(session, merged.c.revenue).label("revenue"),
        cost.label("cost"),
    )
    return (stmt.group_by(*dims) if dims else stmt), sources


def _sums(row: Sequence[Any], at: int) -> Sums:
    return Sums(
        int(row[at] or 0),
        int(row[at + 1] or 0),
        int(row[at + 2] or 0),
        int(row[at + 3] or 0),
        _money(row[at + 4]),
        _money(row[at + 5]),
    )


def conversion_side(query: ReportQuery) -> bool:
    """True when the report groups or filters by a dimension only conversions have."""
    names = set(query.group_by) | {f.dimension for f in query.filters}
    return any(DIMENSION_BY_NAME[name].conversion_side for name in names)


def aggregate(session: DbSession, query: ReportQuery) -> tuple[dict[Key, Sums], list[str]]:
    """Base sums per group key (the grouped values, in level order) and the tables used."""
    stmt, sources = _grouped(session, query)
    levels = len(query.group_by)
    groups = {tuple(row[:levels]): _sums(row, levels) for row in session.execute(stmt)}
    return groups, sources


def _names(
    session: DbSession, query: ReportQuery, groups: Iterable[Key]
) -> dict[str, dict[int, str]]:
    keys = list(groups)
    names: dict[str, dict[int, str]] = {}
    for position, level in enumerate(query.group_by):
        dimension = DIMENSION_BY_NAME[level]
        if dimension.kind != "entity":
            continue
        assert dimension.model is not None
        model = dimension.model
        ids = {key[position] for key in keys if key[position] is not None}
        found: dict[int, str] = {}
        id_list = sorted(ids)
        for chunk in range(0, len(id_list), 500):
            found.update(
                session.execute(
                    select(model.id, model.name).where(
                        model.workspace_id == query.workspace_id,
                        model.id.in_(id_list[chunk : chunk + 500]),
                    )
                )
                .tuples()
                .all()
            )
        names[level] = found
    return names


def _display_value(dimension: Dimension, value: Any) -> Any:
    if value is None:
        return None
    if dimension.name == "day":
        return day_label(int(value))
    if dimension.name == "hour":
        return hour_label(int(value))
    if dimension.kind == "time" or dimension.kind == "number":
        return int(value)
    return value


def _effective_sort(query: ReportQuery) -> str:
    if query.sort is not None:
        return query.sort
    first = DIMENSION_BY_NAME[query.group_by[0]] if query.group_by else None
    return first.name if first is not None and first.kind == "time" else "-visits"


def _sort_rows(rows: list[ReportRow], sort: str) -> None:
    descending = sort.startswith("-")
    column = sort.lstrip("-")
    base = column in SUM_FIELDS  # sort by a sum without deriving every row's ratios

    def value_of(row: ReportRow) -> Any:
        if column in row.values:
            value = row.values[column]
            return value.lower() if isinstance(value, str) else value
        return getattr(row.sums if base else row.metrics, column)

    keyed = [(value_of(row), row) for row in rows]
    present = [pair for pair in keyed if pair[0] is not None]
    missing = [row for value, row in keyed if value is None]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    rows[:] = [row for _, row in present] + missing  # nulls last whichever way


# A metric as SQL over a grouped row's sums, for ORDER BY: (numerator, denominator, scale).
_RATIOS: dict[str, tuple[str, str, int]] = {
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


def _metric_sql(grouped: FromClause, metric: str) -> ColumnElement[Any]:
    """``metrics.Metrics.from_sums`` for one metric, in SQL (null over a zero denominator)."""

    def base(name: str) -> ColumnElement[Any]:
        if name == "profit":
            return grouped.c.revenue - grouped.c.cost
        return grouped.c[name]

    if metric in _RATIOS:
        numerator, denominator, scale = _RATIOS[metric]
        # * 1.0: SQLite divides integers as integers.
        value = base(numerator) * literal_column(f"{scale}.0") / base(denominator)
        return case((base(denominator) == 0, null()), else_=value)
    return base(metric)


def run_report(session: DbSession, query: ReportQuery) -> Report:
    """Run a report: one row per group with every metric, totals over all rows.

    Sorting by a metric, and the limit, happen in the store along with the totals (window
    sums over every group), so a limited report builds only the rows it returns; a sort by a
    grouped dimension's text or name is done here, where names and case rules are known."""
    if session.get_bind().dialect.name == "postgresql":
        # The zone report's hash aggregate spills to disk at the default 4 MB (bench/RESULTS.md).
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    stmt, sources = _grouped(session, query)
    levels = len(query.group_by)
    grouped = stmt.subquery("grouped")
    sums = ("visits", "unique_visits", "clicks", "conversions", "revenue", "cost")
    final = select(
        grouped,
        func.count().over().label("total_rows"),
        *(func.sum(grouped.c[name]).over().label(f"total_{name}") for name in sums),
    )
    sort = _effective_sort(query)
    column = sort.lstrip("-")
    in_store = column in METRIC_NAMES
    if in_store:
        value = _metric_sql(grouped, column)
        final = final.order_by(
            case((value.is_(None), 1), else_=0),
            value.desc() if sort.startswith("-") else value.asc(),
            *(grouped.c[f"d{i}"] for i in range(levels)),  # ties: always the same order
        )
        if query.limit is not None:
            final = final.limit(query.limit)
    result = session.execute(final).all()
    at = levels + len(sums)
    if result:
        total_rows = int(result[0][at])
        totals = Metrics.from_sums(_sums(result[0], at + 1))
    else:
        total_rows, totals = 0, Metrics.from_sums(Sums())
    names = _names(session, query, (tuple(row[:levels]) for row in result))
    dimensions = [DIMENSION_BY_NAME[level] for level in query.group_by]
    rows: list[ReportRow] = []
    for row in result:
        values: dict[str, Any] = {}
        for position, dimension in enumerate(dimensions):
            raw = row[position]
            if dimension.kind == "entity":
                values[dimension.name] = names[dimension.name].get(raw) if raw is not None else None
                values[dimension.id_key] = raw
            else:
                values[dimension.name] = _display_value(dimension, raw)
        rows.append(ReportRow(values, _sums(row, levels)))
    if not in_store:
        _sort_rows(rows, sort)
        if query.limit is not None:
            rows = rows[: query.limit]
    return Report(query, rows, totals, total_rows, sources)


def report_totals(
    session: DbSession, workspace_id: int, date_from: date, date_to: date, tz: str
) -> Metrics:
    """Totals of a workspace over local days (the dashboard's tiles)."""
    query = ReportQuery(workspace_id, (), make_period(date_from, date_to, ZoneInfo(tz)))
    return run_report(session, query).totals


ENTITY_LEVELS = {"campaign", "traffic_source", "affiliate_network", "offer", "lander", "flow"}


def metrics_by_entity(
    session: DbSession,
    workspace_id: int,
    entity: str,
    ids: Iterable[int] | None,
    date_from: date,
    date_to: date,
    tz: str,
    *,
    include_bots: bool = False,
) -> dict[int, Metrics]:
    """Every metric per entity id (``campaign``, ``traffic_source``, ``offer``, ``lander``,
    ``affiliate_network``, ``flow``) over inclusive local days; ids without data get none."""
    if entity not in ENTITY_LEVELS:
        raise ValueError(f"not an entity dimension: {entity!r}")
    id_list = None if ids is None else [str(i) for i in ids]
    filters: tuple[Filter, ...] = ()
    if id_list is not None:
        if not id_list:
            return {}
        filters = (Filter(entity, tuple(id_list), by_id=True),)
    query = ReportQuery(
        workspace_id,
        (entity,),
        make_period(date_from, date_to, ZoneInfo(tz)),
        filters,
        include_bots=include_bots,
    )
    groups, _ = aggregate(session, query)
    return {key[0]: Metrics.from_sums(sums) for key, sums in groups.items() if key[0] is not None}
