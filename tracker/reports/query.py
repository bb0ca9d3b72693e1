"""Reports: group-by levels, filters, a date range in a time zone, bots, sort → aggregate SQL.

``run_report`` is the one entry point (UI, API, CSV, dashboard, list pages). It sums the visit
side (visits, unique, clicks, visit costs) and the conversion side (conversions, revenue, costs
of the cpa and revshare models, counted on the visit's time) per group, in two aggregate
queries that read only the columns they group by, then merges them and derives every metric
from ``metrics``. Hourly rollups (see ``rollups``) answer the visit side of sealed hours when
they hold every dimension asked for; raw visits answer the rest.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    FromClause,
    Result,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    select,
    text,
    true,
)

from tracker.conversions.params import NOT_COUNTED_STATUSES
from tracker.extensions import DbSession
from tracker.models import Campaign, Conversion, Offer, Visit
from tracker.numbers import MAX_ID, is_whole_number
from tracker.reports import collector, rollups
from tracker.reports.dimensions import (
    DIMENSION_BY_NAME,
    WEEKDAY_NAMES,
    Dimension,
    dimension_expression,
    epoch_expression,
)
from tracker.reports.metrics import METRIC_NAMES, Metrics, Sums, metric_of
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


class ReportRow:
    """One group: its dimension values (entities as name and id) and every metric (derived
    when first asked for: a page shows its first rows of a report that may have thousands).
    Slots, not a dataclass with a cached property: a zone report builds and frees 55,000."""

    __slots__ = ("_metrics", "sums", "values")

    def __init__(self, values: dict[str, Any], sums: Sums) -> None:
        self.values = values
        self.sums = sums
        self._metrics: Metrics | None = None

    @property
    def metrics(self) -> Metrics:
        if self._metrics is None:
            self._metrics = Metrics.from_sums(self.sums)
        return self._metrics

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
            literal(0).label("conversions"),
            literal(0).label("revenue"),
            rollups.money_sum(visit.c.cost).label("cost"),
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
            literal(0).label("visits"),
            literal(0).label("unique_visits"),
            literal(0).label("clicks"),
            func.sum(case((counts, 1), else_=0)).label("conversions"),
            rollups.money_sum(case((pays, conversion.c.payout), else_=0)).label("revenue"),
            rollups.money_sum(conversion_cost).label("cost"),
        )
        .select_from(scope.from_clause(from_))
        .where(and_(*conditions))
    )
    return stmt.group_by(*dims) if dims else stmt


ZERO_MONEY = Decimal("0.000000")


Key = tuple[Any, ...]


def _plain_rows(result: Result[Any]) -> Sequence[Sequence[Any]]:
    """Every row as the driver's own tuple, without SQLAlchemy's ``Row`` objects and result
    processing (fetching a zone report's 55,000 groups on SQLite: 281 → 224 ms). The values read
    here (ids, numbers, text, sums as int, float or Decimal) need no conversion."""
    cursor_result = cast(CursorResult[Any], result)
    try:
        rows: Sequence[Sequence[Any]] = cursor_result.cursor.fetchall()
    finally:
        cursor_result.close()
    return rows


def _add_sums(groups: dict[Key, Sums], result: Result[Any], levels: int) -> None:
    """Add each row to its group's sums. A row is its ``levels`` group values, then the sums in
    ``Sums`` order: visits, unique visits, clicks, conversions, revenue, cost, money in whole
    millionths (``rollups.money_sum``; every select of a report has that shape). One loop over
    the driver's tuples, no call per row: a zone report has tens of thousands of groups.
    Groups share their sums of money often (costs are whole numbers of a bid): each is turned
    into Decimal once (a zone report: 3,600 distinct costs in 55,000 groups, 65 → 39 ms)."""
    as_decimal: dict[int | None, Decimal] = {0: ZERO_MONEY, None: ZERO_MONEY}
    rows = _plain_rows(result)
    if not levels:  # an aggregate without GROUP BY has its row even over no rows: NULL sums
        rows = [tuple(value or 0 for value in row) for row in rows]
    for row in rows:
        key = tuple(row[:levels])
        visits, unique_visits, clicks, conversions, revenue, cost = row[levels:]
        money = as_decimal.get(revenue)
        if money is None:
            money = as_decimal[revenue] = Decimal(revenue).scaleb(-6)
        revenue = money
        money = as_decimal.get(cost)
        if money is None:
            money = as_decimal[cost] = Decimal(cost).scaleb(-6)
        cost = money
        sums = groups.get(key)
        if sums is None:
            groups[key] = Sums(visits, unique_visits, clicks, conversions, revenue, cost)
        else:  # a group of another select (rollups, then the raw rest), or of another row
            sums.visits += visits
            sums.unique_visits += unique_visits
            sums.clicks += clicks
            sums.conversions += conversions
            sums.revenue += revenue
            sums.cost += cost


def conversion_side(query: ReportQuery) -> bool:
    """True when the report groups or filters by a dimension only conversions have."""
    names = set(query.group_by) | {f.dimension for f in query.filters}
    return any(DIMENSION_BY_NAME[name].conversion_side for name in names)


def aggregate(session: DbSession, query: ReportQuery) -> tuple[dict[Key, Sums], list[str]]:
    """Base sums per group key (the grouped values, in level order) and the tables used."""
    resolved = _resolve_names(session, query)
    groups: dict[Key, Sums] = {}
    levels = len(query.group_by)
    sources: list[str] = []
    period = query.period
    dialect = session.get_bind().dialect.name
    if conversion_side(query):
        stmt = _raw_conversion_select(session, query, resolved, period.start, period.end)
        _add_sums(groups, session.execute(stmt), levels)
        return groups, ["raw_conversions"]
    plan = rollups.plan(session, query)
    raw_from = period.start
    if plan is not None:

        def make_scope(table: FromClause, epoch: ColumnElement[Any]) -> _Scope:
            scope = _Scope(query, table, dialect, epoch)
            if _needs_offer_join(query):
                scope.offer = Offer.__table__.alias("report_offer")
            return scope

        for stmt in plan.selects(session, query, resolved, _filter_conditions, make_scope):
            _add_sums(groups, session.execute(stmt), levels)
        sources.append(f"rollup_{plan.spec.name}")
        raw_from = plan.raw_from
    if raw_from < period.end:
        for stmt in (
            _raw_visit_select(session, query, resolved, raw_from, period.end),
            _raw_conversion_select(session, query, resolved, raw_from, period.end),
        ):
            _add_sums(groups, session.execute(stmt), levels)
        sources.append("raw")
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
    if base and column not in DIMENSION_BY_NAME:
        rows.sort(key=attrgetter(f"sums.{column}"), reverse=descending)  # sums are never null
        return

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


def _top_keys(groups: dict[Key, Sums], sort: str, limit: int) -> list[Key]:
    """The keys of the first ``limit`` groups by a metric, in the order a full sort gives
    (``heapq`` keeps ties in their order, as the stable sort does; nulls last)."""
    metric = sort.lstrip("-")
    valued = [(metric_of(sums, metric), key) for key, sums in groups.items()]
    present = [pair for pair in valued if pair[0] is not None]
    pick = heapq.nlargest if sort.startswith("-") else heapq.nsmallest
    top = [key for _, key in pick(limit, present, key=itemgetter(0))]
    if len(top) < limit:
        top += [key for value, key in valued if value is None][: limit - len(top)]
    return top


def _build_rows(
    query: ReportQuery,
    keys: Iterable[Key],
    groups: dict[Key, Sums],
    names: dict[str, dict[int, str]],
) -> list[ReportRow]:
    """A row per key: entities as name and id, other values as shown (tens of thousands of
    rows for a zone report: each level's way to its value is worked out once, not per row)."""
    # Per level: its position, name, an entity's id key and names, a value's conversion (none
    # for text, shown as stored).
    levels: list[tuple[int, str, str | None, dict[int, str], Dimension | None]] = []
    for position, level in enumerate(query.group_by):
        dimension = DIMENSION_BY_NAME[level]
        if dimension.kind == "entity":
            levels.append((position, level, dimension.id_key, names[level], None))
        else:
            levels.append(
                (position, level, None, {}, None if dimension.kind == "text" else dimension)
            )
    rows: list[ReportRow] = []
    for key in keys:
        values: dict[str, Any] = {}
        for position, name, id_key, found, convert in levels:
            raw = key[position]
            if id_key is not None:
                values[name] = found.get(raw) if raw is not None else None
                values[id_key] = raw
            else:
                values[name] = raw if convert is None else _display_value(convert, raw)
        rows.append(ReportRow(values, groups[key]))
    return rows


def run_report(session: DbSession, query: ReportQuery) -> Report:
    """Run a report: one row per group with every metric, totals over all rows.

    A limited report sorted by a metric builds only the rows it returns (the page shows
    1,000 of a zone report's tens of thousands of groups); names are looked up for those."""
    with collector.paused():
        return _run_report(session, query)


def _run_report(session: DbSession, query: ReportQuery) -> Report:
    if session.get_bind().dialect.name == "postgresql":
        # A zone report's hash aggregate spills to disk at the default 4 MB (bench/RESULTS.md).
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    groups, sources = aggregate(session, query)
    totals = Metrics.from_sums(Sums.total(groups.values()))
    sort = _effective_sort(query)
    keys: Iterable[Key] = groups
    if query.limit is not None and query.limit < len(groups) and sort.lstrip("-") in METRIC_NAMES:
        keys = _top_keys(groups, sort, query.limit)
    rows = _build_rows(query, keys, groups, _names(session, query, keys))
    _sort_rows(rows, sort)
    if query.limit is not None:
        rows = rows[: query.limit]
    return Report(query, rows, totals, len(groups), sources)


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
