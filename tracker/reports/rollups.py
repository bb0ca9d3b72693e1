"""Hourly, daily and multi-day rollups: what makes a 30-day report read thousands of rows, not
millions.

Measured on SQLite with 1 M visits (bench/RESULTS.md): a 30-day report straight from the visit
table takes 2.5-7 s; from these tables, tens to hundreds of milliseconds. So:

- ``refresh_rollups`` (the worker, or a report that finds them stale) rolls up every hour that
  ended more than ``SEAL_DELAY`` ago, each UTC day once all its hours are sealed, and each
  span (2, 4, ... 64 UTC days, ``SPAN_GRAINS``) once all its days are, from its two halves.
  Clicks that land later on a sealed hour are found through ``visit.clicked_at`` and their
  buckets rebuilt; manual cost updates rebuild theirs at once (``rebuild_range``). Rollups and
  raw visits thus never disagree: a report reads sealed hours from rollups and the rest from visits.
- Conversions are rolled up with their visit's hour and day too (as rows of their own,
  ``visits`` = 0; spans hold none: a report reads the conversion rows of their days); a postback
  or status change on a sealed hour is found through ``conversion.updated_at`` and that hour's
  and day's conversion rows rebuilt. A report refreshes stale rollups before it reads, so a
  late postback shows at once. ``prune_raw_visits`` deletes old raw visits (and, by cascade,
  their conversions): their totals stay in the rollups.
- ``plan`` picks the smallest rollup holding every dimension a report groups or filters by;
  rarer dimensions are read from raw visits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)

from tracker.conversions.params import NOT_COUNTED_STATUSES
from tracker.extensions import DbSession
from tracker.models import Campaign, Conversion, CostModel, Visit
from tracker.models.rollups import (
    EntityRollup,
    GeoRollup,
    RollupColumns,
    RollupState,
    SourceZoneRollup,
    ZoneKey,
    ZoneRollup,
)
from tracker.models.types import utcnow
from tracker.reports.dimensions import DIMENSION_BY_NAME, epoch_expression
from tracker.reports.periods import (
    EPOCH,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    epoch_seconds,
)

# An hour is rolled up once it ended this long ago: clicks come seconds to minutes after visits.
SEAL_DELAY = timedelta(hours=1)
# A report refreshes the rollups itself when the last refresh is older than this.
STALE_AFTER = timedelta(seconds=2)
# Spans of 2, 4, 8, 16, 32 and 64 UTC days, aligned on the epoch, are summed from their halves
# (two days, or two spans half as long), not from raw visits: cheap to rebuild, and right after
# raw visits were pruned. Any range of whole days is the longest spans that fit, then at most
# two of each shorter span and two days (a 30-day report: at most eight buckets). They replaced
# weeks, which left up to twelve single days around three or four weeks: the 1 M benchmark's
# zone report read 192,000 rollup rows, with spans 139,000 (bench/RESULTS.md).
# Spans hold visit rows only. Conversions come late, days after their visits, and each late
# postback would rebuild up to six spans (on the 1 M store, 100-350 ms a day, where its week
# took 26); a report reads the few conversion rows of the spans' days instead (an index of
# their own, ``ix_<rollup>_conversion_rows``).
SPAN_GRAINS = tuple(SECONDS_PER_DAY * 2**n for n in range(1, 7))
GRAINS = (SECONDS_PER_HOUR, SECONDS_PER_DAY, *SPAN_GRAINS)
SUM_COLUMNS = (
    "visits",
    "unique_visits",
    "clicks",
    "cost",
    "conversions",
    "revenue",
    "conversion_cost",
)

# What a report reads of a rollup per group, in ``Sums`` order (cost: of visits and conversions;
# money in whole millionths, see ``money_sum``).
REPORT_SUMS = ("visits", "unique_visits", "clicks", "conversions", "revenue", "cost")


@dataclass(frozen=True)
class RollupSpec:
    """One rollup table and the visit columns it groups by (besides time and bots)."""

    name: str
    model: type[RollupColumns]
    columns: tuple[str, ...]
    # Rows carry a ``ZoneKey`` for their (traffic source, var1, device type).
    zone_keyed: bool = False

    @property
    def table(self) -> Any:
        return self.model.__table__  # type: ignore[attr-defined]

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """Its grouping columns as the table stores them: the spec's, then the zone key."""
        return (*self.columns, "zone_key_id") if self.zone_keyed else self.columns


# Smallest first: a report uses the first one that holds all its dimensions.
SPECS: tuple[RollupSpec, ...] = (
    RollupSpec(
        "entity",
        EntityRollup,
        ("campaign_id", "traffic_source_id", "offer_id", "lander_id", "flow_id"),
    ),
    RollupSpec(
        "geo",
        GeoRollup,
        (
            "campaign_id",
            "traffic_source_id",
            "offer_id",
            "lander_id",
            "country",
            "device_type",
            "os",
        ),
    ),
    # Zones across campaigns (the zone report without a campaign level or filter).
    RollupSpec(
        "source_zone",
        SourceZoneRollup,
        ("traffic_source_id", "var1", "device_type"),
        zone_keyed=True,
    ),
    RollupSpec(
        "zone",
        ZoneRollup,
        ("campaign_id", "traffic_source_id", "var1", "device_type"),
        zone_keyed=True,
    ),
)


def _moment(epoch: int) -> datetime:
    return EPOCH + timedelta(seconds=epoch)


def _floor(epoch: int, grain: int) -> int:
    return epoch - epoch % grain


# --- money ------------------------------------------------------------------------------------


MICROS = 1_000_000
MONEY_COLUMNS = frozenset({"cost", "revenue", "conversion_cost"})


def _stored_money_sum(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """SUM of money to store in a rollup row. PostgreSQL's numeric sum is exact. SQLite's is a
    float sum, off by millionths past a billion (thirty days of 99,999,999.999999 end in
    ...971): it adds whole millionths and stores the float nearest to their exact sum, which a
    report reads back exactly (``money_sum``)."""
    if dialect == "sqlite":
        return money_sum(column) / float(MICROS)
    return func.sum(column)


def money_sum(column: ColumnElement[Any]) -> ColumnElement[int]:
    """SUM of money as whole millionths, a BIGINT: exact for any sum on either store. A float
    sum is not (SQLite keeps money as floats; thirty of 99,999,999.999999 add up to ...971),
    and PostgreSQL's numeric SUM is slow: on the 10 M zone report's statement numeric took
    596 ms, whole millionths 503, floats 431 (bench/RESULTS.md)."""
    return cast(func.sum(cast(func.round(column * MICROS), BigInteger)), BigInteger)


# --- building buckets ------------------------------------------------------------------------


def _zone_key_match(visit: Any) -> ColumnElement[bool]:
    key = ZoneKey.__table__
    return and_(
        key.c.traffic_source_id == func.coalesce(visit.c.traffic_source_id, 0),
        key.c.var1 == visit.c.var1,
        key.c.device_type == visit.c.device_type,
    )


def _visit_keys(spec: RollupSpec, grain: int, dialect: str) -> list[ColumnElement[Any]]:
    """What a build from visits groups by: workspace, bucket, bot, the spec's columns and, for a
    zone-keyed spec, the key (one per (source, var1, device), so the groups stay the same)."""
    visit = Visit.__table__
    bucket = (epoch_expression(visit.c.created_at, dialect) // grain).label("bucket")
    keys: list[ColumnElement[Any]] = [
        visit.c.workspace_id,
        bucket,
        visit.c.is_bot,
        *(visit.c[c] for c in spec.columns),
    ]
    if spec.zone_keyed:
        keys.append(ZoneKey.__table__.c.id)
    return keys


def _with_zone_key(spec: RollupSpec, from_: FromClause) -> FromClause:
    if not spec.zone_keyed:
        return from_
    return from_.join(ZoneKey.__table__, _zone_key_match(Visit.__table__))


def _add_zone_keys(session: DbSession, lo: int, hi: int, workspace_id: int | None) -> None:
    """Number each (source, var1, device type) of the visits in [lo, hi) not numbered yet.
    Builds run one at a time (``_lock_state``), so no two add the same key."""
    visit = Visit.__table__
    key = ZoneKey.__table__
    new = (
        select(func.coalesce(visit.c.traffic_source_id, 0), visit.c.var1, visit.c.device_type)
        .where(
            visit.c.created_at >= _moment(lo),
            visit.c.created_at < _moment(hi),
            ~select(key.c.id).where(_zone_key_match(visit)).exists(),
        )
        .distinct()
    )
    if workspace_id is not None:
        new = new.where(visit.c.workspace_id == workspace_id)
    session.execute(insert(ZoneKey).from_select(["traffic_source_id", "var1", "device_type"], new))


def _visit_side(spec: RollupSpec, grain: int, dialect: str) -> Select[Any]:
    visit = Visit.__table__
    keys = _visit_keys(spec, grain, dialect)
    return (
        select(
            *keys,
            func.count(),
            func.sum(case((visit.c.is_unique == true(), 1), else_=0)),
            func.sum(visit.c.clicks),
            _stored_money_sum(visit.c.cost, dialect),
            literal(0),
            literal(0),
            literal(0),
        )
        .select_from(_with_zone_key(spec, visit))
        .group_by(*keys)
    )


def _in_bucket_order(grain: int, stmt: Select[Any]) -> Select[Any]:
    # A backfill of many hours writes each hour's rows together: a report reading a few hours
    # then reads a few pages, not one page per row.
    rows = stmt.subquery()
    return select(literal(grain), *rows.c).order_by(rows.c.bucket)


def _insert_rows(session: DbSession, spec: RollupSpec, grain: int, stmt: Select[Any]) -> None:
    """Insert a build's rows (workspace, bucket, bot, the spec's columns, the sums) at ``grain``,
    in bucket order."""
    table = spec.table
    columns = ["workspace_id", "bucket", "is_bot", *spec.stored_columns, *SUM_COLUMNS]
    session.execute(
        insert(table).from_select(
            [table.c.grain, *(table.c[c] for c in columns)], _in_bucket_order(grain, stmt)
        )
    )


def _build_visits(
    session: DbSession, spec: RollupSpec, grain: int, lo: int, hi: int, workspace_id: int | None
) -> None:
    """Roll up raw visits of [lo, hi) (epoch seconds, grain-aligned) into ``spec``'s table."""
    visit = Visit.__table__
    dialect = session.get_bind().dialect.name
    stmt = _visit_side(spec, grain, dialect).where(
        visit.c.created_at >= _moment(lo), visit.c.created_at < _moment(hi)
    )
    if workspace_id is not None:
        stmt = stmt.where(visit.c.workspace_id == workspace_id)
    _insert_rows(session, spec, grain, stmt)


def _build_conversions(
    session: DbSession, spec: RollupSpec, grain: int, lo: int, hi: int, workspace_id: int | None
) -> None:
    """Add the conversions of visits in [lo, hi) to ``spec``'s table, as rows of their own."""
    visit = Visit.__table__
    conversion = Conversion.__table__
    dialect = session.get_bind().dialect.name
    keys = _visit_keys(spec, grain, dialect)
    counts, pays, conversion_cost = conversion_measures()
    stmt = (
        select(
            *keys,
            literal(0),
            literal(0),
            literal(0),
            literal(0),
            func.sum(case((counts, 1), else_=0)),
            _stored_money_sum(case((pays, conversion.c.payout), else_=0), dialect),
            _stored_money_sum(conversion_cost, dialect),
        )
        .select_from(
            _with_zone_key(
                spec,
                conversion.join(visit, visit.c.id == conversion.c.visit_id).join(
                    Campaign.__table__, Campaign.__table__.c.id == conversion.c.campaign_id
                ),
            )
        )
        .where(
            conversion.c.status.not_in(sorted(NOT_COUNTED_STATUSES)),
            visit.c.created_at >= _moment(lo),
            visit.c.created_at < _moment(hi),
        )
        .group_by(*keys)
    )
    if workspace_id is not None:
        stmt = stmt.where(conversion.c.workspace_id == workspace_id)
    _insert_rows(session, spec, grain, stmt)


def _build_spans(
    session: DbSession, spec: RollupSpec, grain: int, lo: int, hi: int, workspace_id: int | None
) -> None:
    """Sum each span of ``grain`` in [lo, hi) (aligned) from its two halves: the visit rows of
    its two days, or its two spans of half the length, built before it (a span of 64 days
    reads about 110,000 rows of the 1 M store's zone rollup, not 640,000 day rows). Spans hold
    visit rows only (see ``SPAN_GRAINS``)."""
    table = spec.table
    dialect = session.get_bind().dialect.name
    half = grain // 2
    span = (table.c.bucket // 2).label("bucket")
    keys = [table.c.workspace_id, span, table.c.is_bot, *(table.c[c] for c in spec.stored_columns)]
    sums = [
        _stored_money_sum(table.c[c], dialect) if c in MONEY_COLUMNS else func.sum(table.c[c])
        for c in SUM_COLUMNS
    ]
    stmt = (
        select(*keys, *sums)
        .where(
            table.c.grain == half,
            table.c.bucket >= lo // half,
            table.c.bucket < hi // half,
            table.c.visits > 0,  # a day's conversion rows stay out
        )
        .group_by(*keys)
    )
    if workspace_id is not None:
        stmt = stmt.where(table.c.workspace_id == workspace_id)
    _insert_rows(session, spec, grain, stmt)


def conversion_measures() -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[Any]]:
    """Whether a conversion counts, whether it pays, and what it costs by its campaign's model
    (cpa: the cost value per counted conversion; revshare: that percentage of its payout)."""
    conversion = Conversion.__table__
    campaign = Campaign.__table__
    counts = _flag("counts_as_conversion")
    pays = _flag("counts_in_revenue")
    cost_value = func.coalesce(campaign.c.cost_value, 0)
    cost = case(
        (and_(campaign.c.cost_model == CostModel.CPA.value, counts), cost_value),
        (
            and_(campaign.c.cost_model == CostModel.REVSHARE.value, pays),
            func.round(conversion.c.payout * cost_value / 100, 6),  # money has six places
        ),
        else_=0,
    )
    return counts, pays, cost


def _flag(name: str) -> ColumnElement[bool]:
    # Conversion types (which events count, which pay) came after the first reports; without
    # the flags every conversion that is not declined counts and pays.
    column = Conversion.__table__.c.get(name)
    return column == true() if column is not None else true()


def _delete_buckets(
    session: DbSession,
    spec: RollupSpec,
    grain: int,
    lo: int,
    hi: int,
    workspace_id: int | None,
    conversions_only: bool = False,
) -> None:
    table = spec.table
    stmt = delete(table).where(
        table.c.grain == grain, table.c.bucket >= lo // grain, table.c.bucket < hi // grain
    )
    if workspace_id is not None:
        stmt = stmt.where(table.c.workspace_id == workspace_id)
    if conversions_only:  # a visit row always counts at least one visit
        stmt = stmt.where(table.c.visits == 0)
    session.execute(stmt)


def _build(
    session: DbSession,
    grain: int,
    lo: int,
    hi: int,
    workspace_id: int | None,
    conversions_only: bool = False,
) -> None:
    """Roll up [lo, hi) at ``grain`` into every rollup, whose buckets there hold nothing of what
    is built: hours and days from raw visits and conversions, spans from their halves."""
    if grain <= SECONDS_PER_DAY and not conversions_only:
        _add_zone_keys(session, lo, hi, workspace_id)
    for spec in SPECS:
        if grain > SECONDS_PER_DAY:
            if not conversions_only:  # spans hold no conversion rows
                _build_spans(session, spec, grain, lo, hi, workspace_id)
            continue
        if not conversions_only:
            _build_visits(session, spec, grain, lo, hi, workspace_id)
        _build_conversions(session, spec, grain, lo, hi, workspace_id)


def _rebuild(
    session: DbSession,
    grain: int,
    lo: int,
    hi: int,
    workspace_id: int | None,
    conversions_only: bool = False,
) -> None:
    """Empty the buckets of [lo, hi) at ``grain`` (their conversion rows alone, or all), then
    build them again."""
    for spec in SPECS:
        _delete_buckets(session, spec, grain, lo, hi, workspace_id, conversions_only)
    _build(session, grain, lo, hi, workspace_id, conversions_only)


# --- state and refresh ---------------------------------------------------------------------------


def _lock_state(session: DbSession, now: datetime) -> RollupState:
    """The state row, locked for this transaction: an UPDATE first, so concurrent refreshers
    queue (PostgreSQL row lock, SQLite's writer lock) and each then reads the other's result."""
    result = session.execute(
        update(RollupState).where(RollupState.id == 1).values(refreshed_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(RollupState(id=1, sealed_until=0, finalized_until=0, refreshed_at=now))
        session.flush()
    state = session.get(RollupState, 1, populate_existing=True)
    assert state is not None
    return state


def read_state(session: DbSession) -> RollupState | None:
    return session.get(RollupState, 1)


@dataclass
class RefreshOutcome:
    sealed_hours: int
    rebuilt_hours: int
    sealed_until: datetime

    def __str__(self) -> str:
        return (
            f"sealed {self.sealed_hours} new hours, rebuilt {self.rebuilt_hours}; "
            f"rolled up until {self.sealed_until.isoformat()}"
        )


def refresh_rollups(session: DbSession, now: datetime | None = None) -> RefreshOutcome:
    """Roll up the hours sealed since the last run, and the UTC days and spans they complete,
    and rebuild those that got late clicks. Only flushes; the caller commits."""
    now = now or utcnow()
    state = _lock_state(session, now)
    target = _floor(epoch_seconds(now - SEAL_DELAY), SECONDS_PER_HOUR)
    sealed = state.sealed_until
    if sealed == 0:
        first = session.scalar(select(func.min(Visit.created_at)))
        sealed = _floor(epoch_seconds(first), SECONDS_PER_HOUR) if first else target
        state.sealed_until = sealed
    new_hours = 0
    # Late changes first, on the hours sealed before this run (the new ones are built fresh).
    rebuilt = _rebuild_late_changes(session, state, sealed)
    if target > sealed:
        _build(session, SECONDS_PER_HOUR, sealed, target, None)
        new_hours = (target - sealed) // SECONDS_PER_HOUR
        # Days completed by this step (each day whose last hour is now sealed), then the spans
        # completed by it, each from its (now complete) halves, shortest first.
        for grain in GRAINS[1:]:
            lo = _floor(sealed, grain)
            hi = _floor(target, grain)  # buckets before this one are complete
            if hi > lo:
                _rebuild(session, grain, lo, hi, None)
    state.sealed_until = max(target, sealed)
    state.clicks_checked_at = now
    session.flush()
    return RefreshOutcome(new_hours, rebuilt, _moment(state.sealed_until))


def _rebuild_late_changes(session: DbSession, state: RollupState, sealed: int) -> int:
    """Rebuild sealed hours whose visits got a click, or whose conversions were recorded or
    changed, since the last check; returns how many (workspace, hour) pairs."""
    if state.clicks_checked_at is None or sealed <= state.finalized_until:
        return 0
    # A margin for transactions that started before the last check and committed after it.
    since = state.clicks_checked_at - timedelta(seconds=30)
    visit = Visit.__table__
    conversion = Conversion.__table__
    dialect = session.get_bind().dialect.name
    hour = epoch_expression(visit.c.created_at, dialect) // SECONDS_PER_HOUR
    sealed_visits = and_(
        visit.c.created_at < _moment(sealed),
        visit.c.created_at >= _moment(state.finalized_until),
    )
    clicked = set(
        session.execute(
            select(visit.c.workspace_id, hour)
            .where(visit.c.clicked_at >= since, sealed_visits)
            .distinct()
        ).tuples()
    )
    converted = (
        set(
            session.execute(
                select(visit.c.workspace_id, hour)
                .select_from(conversion.join(visit, visit.c.id == conversion.c.visit_id))
                .where(conversion.c.updated_at >= since, sealed_visits)
                .distinct()
            ).tuples()
        )
        - clicked
    )
    # Each changed hour, then each day and span holding one, once (several late postbacks of a
    # day are common): whole where a visit changed, its conversion rows alone otherwise (spans
    # have none); days before spans, shortest first, as each is summed from its halves.
    # Complete days and spans only, as refresh builds.
    whole = {(int(w), int(h) * SECONDS_PER_HOUR) for w, h in clicked}
    changed = {(int(w), int(h) * SECONDS_PER_HOUR) for w, h in converted}
    for grain in GRAINS:
        complete_until = sealed if grain == SECONDS_PER_HOUR else _floor(sealed, grain)
        whole_buckets = {(w, _floor(at, grain)) for w, at in whole}
        changed_buckets = {(w, _floor(at, grain)) for w, at in changed} - whole_buckets
        if grain > SECONDS_PER_DAY:
            changed_buckets = set()  # spans hold no conversion rows
        for buckets, conversions_only in ((whole_buckets, False), (changed_buckets, True)):
            for workspace_id, lo in sorted(buckets):
                if lo + grain <= complete_until:
                    _rebuild(session, grain, lo, lo + grain, workspace_id, conversions_only)
    return len(clicked) + len(converted)


def _rebuild_hours(
    session: DbSession,
    workspace_id: int,
    lo: int,
    hi: int,
    sealed: int,
    conversions_only: bool = False,
) -> None:
    """Rebuild one workspace's sealed buckets touching [lo, hi): its hours, their days and
    their spans (complete ones only, as the days)."""
    lo = _floor(lo, SECONDS_PER_HOUR)
    hi = min(-(-hi // SECONDS_PER_HOUR) * SECONDS_PER_HOUR, sealed)
    if hi <= lo:
        return
    _rebuild(session, SECONDS_PER_HOUR, lo, hi, workspace_id, conversions_only)
    for grain in GRAINS[1:]:  # days, then the spans, each summed from its halves
        grain_lo = _floor(lo, grain)
        grain_hi = min(-(-hi // grain) * grain, _floor(sealed, grain))
        if grain_hi > grain_lo:
            _rebuild(session, grain, grain_lo, grain_hi, workspace_id, conversions_only)


def rebuild_range(session: DbSession, workspace_id: int, start: datetime, end: datetime) -> None:
    """After visits of [start, end) changed (a manual cost update): rebuild their sealed buckets
    now, so reports reflect it at once."""
    state = _lock_state(session, utcnow())
    _rebuild_hours(
        session, workspace_id, epoch_seconds(start), epoch_seconds(end), state.sealed_until
    )
    session.flush()


def refresh_if_stale(session: DbSession, now: datetime | None = None) -> None:
    """Refresh the rollups unless a refresh ran within ``STALE_AFTER`` (the worker normally
    keeps them fresh; this keeps reports right when it is not running)."""
    now = now or utcnow()
    state = read_state(session)
    if state is not None and now - state.refreshed_at < STALE_AFTER:
        return
    refresh_rollups(session, now)


def prune_raw_visits(session: DbSession, retention_days: int, now: datetime | None = None) -> int:
    """Delete raw visits (and their conversions) older than ``retention_days`` whole UTC days;
    their totals, conversions included, stay in the rollups. 0 days: keep everything."""
    if retention_days <= 0:
        return 0
    now = now or utcnow()
    refresh_rollups(session, now)
    state = _lock_state(session, now)
    cutoff = _floor(epoch_seconds(now) - retention_days * SECONDS_PER_DAY, SECONDS_PER_DAY)
    cutoff = min(cutoff, _floor(state.sealed_until, SECONDS_PER_DAY))
    if cutoff <= state.finalized_until:
        return 0
    # Every hour before the cutoff is sealed, conversions included: the visits may go.
    result = session.execute(delete(Visit).where(Visit.created_at < _moment(cutoff)))
    state.finalized_until = cutoff
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- planning ---------------------------------------------------------------------------------


FilterConditions = Callable[[DbSession, Any, dict[str, list[int]]], list[ColumnElement[bool]]]


@dataclass
class RollupPlan:
    """Read ``spec`` for [start, raw_from) — whole spans and whole UTC days where the report
    has no time dimension, the rest by the hour — and raw visits and conversions from
    ``raw_from`` on."""

    spec: RollupSpec
    parts: list[tuple[int, int, int]]  # (grain, lo, hi) epoch seconds
    raw_from: datetime

    def selects(
        self,
        session: DbSession,
        query: Any,
        resolved: dict[str, list[int]],
        filter_conditions: FilterConditions,
        make_scope: Callable[[FromClause, ColumnElement[Any]], Any],
    ) -> list[Select[Any]]:
        """One aggregate over the rollup rows of every part, grouped like the report: the store
        groups a zone report's spans, days and hours together (139,000 rows into 55,000 groups
        at 1 M visits) faster than Python merges their groups."""
        rows = self._rows(query)
        scope = make_scope(rows, rows.c.bucket * rows.c.grain)
        conditions = filter_conditions(session, scope, resolved)
        # In ``REPORT_SUMS`` order. A row's cost is its visits' or its conversions' (never
        # both): one sum of the two.
        sums = [
            *(func.sum(rows.c[c]).label(c) for c in REPORT_SUMS[:4]),
            money_sum(rows.c.revenue).label("revenue"),
            money_sum(rows.c.cost + rows.c.conversion_cost).label("cost"),
        ]
        if self._by_zone_keys(query):
            return [self._by_zone_key(query, rows, scope, conditions, sums)]
        dims = [scope.expression(DIMENSION_BY_NAME[n]) for n in query.group_by]
        stmt = select(*dims, *sums).select_from(scope.from_clause(rows)).where(*conditions)
        return [stmt.group_by(*dims) if dims else stmt]

    def _by_zone_keys(self, query: Any) -> bool:
        return self.spec.zone_keyed and set(query.group_by) >= ZONE_KEY_LEVELS

    def _rows(self, query: Any) -> FromClause:
        """The rollup rows of every part, with the columns the report reads: one select per
        part, each a range of the (workspace, grain, bucket) index, in one UNION ALL. As one
        OR of the ranges, SQLite without statistics (no ANALYZE has run) read every row of the
        workspace instead: 320 against 160 ms for the 1 M benchmark's zone report."""
        table = self.spec.table
        names: list[str] = []
        grouped_by_key: frozenset[str] = frozenset()
        if self._by_zone_keys(query):  # the key stands for the source, var1 and device type
            names = ["zone_key_id", "traffic_source_id"]
            grouped_by_key = ZONE_KEYED_LEVELS
        names += sorted(columns_needed(query, grouped_by_key))
        columns = [table.c[n] for n in dict.fromkeys(["grain", "bucket", *names, *SUM_COLUMNS])]
        common = [table.c.workspace_id == query.workspace_id]
        if not query.include_bots:
            common.append(table.c.is_bot == false())

        def part(grain: int, lo: int, hi: int, *more: ColumnElement[bool]) -> Select[Any]:
            return select(*columns).where(
                *common,
                table.c.grain == grain,
                table.c.bucket >= lo // grain,
                table.c.bucket < hi // grain,
                *more,
            )

        parts = [part(grain, lo, hi) for grain, lo, hi in self.parts]
        # Spans hold visit rows only: the conversion rows of their days.
        spans = [(lo, hi) for grain, lo, hi in self.parts if grain > SECONDS_PER_DAY]
        parts += [part(SECONDS_PER_DAY, lo, hi, table.c.visits == 0) for lo, hi in _joined(spans)]
        return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rollup_rows")

    def _by_zone_key(
        self,
        query: Any,
        rows: FromClause,
        scope: Any,
        conditions: list[ColumnElement[bool]],
        sums: Sequence[ColumnElement[Any]],
    ) -> Select[Any]:
        """The report grouped by zone key (and its other levels), the key's var1 and device
        type joined after grouping; the traffic source is the rows' own (see ``ZoneKey``).
        A report without a source level gets a row per source, which the caller adds up."""
        others = [n for n in query.group_by if n not in ZONE_KEYED_LEVELS]
        group = [scope.expression(DIMENSION_BY_NAME[n]) for n in others]
        group.append(rows.c.zone_key_id.label("zone_key_id"))
        # Without a source level the key still keeps sources apart; their rows are added up.
        by_source = "traffic_source" in query.group_by
        source = [func.min(rows.c.traffic_source_id).label("traffic_source")] if by_source else []
        grouped = (
            select(*group, *source, *sums)
            .select_from(scope.from_clause(rows))
            .where(*conditions)
            .group_by(*group)
            .subquery("grouped")
        )
        key = ZoneKey.__table__
        levels = {name: grouped.c[name] for name in others}
        if by_source:
            levels["traffic_source"] = grouped.c.traffic_source
        levels.update(var1=key.c.var1, device_type=key.c.device_type)
        return select(
            *(levels[n] for n in query.group_by), *(grouped.c[c] for c in REPORT_SUMS)
        ).select_from(grouped.join(key, key.c.id == grouped.c.zone_key_id))


# A report grouping by var1 and device type reads a zone-keyed rollup by its key, which also
# stands for the traffic source.
ZONE_KEY_LEVELS = frozenset({"var1", "device_type"})
ZONE_KEYED_LEVELS = ZONE_KEY_LEVELS | {"traffic_source"}


def columns_needed(query: Any, grouped_elsewhere: frozenset[str] = frozenset()) -> set[str]:
    """The rollup columns the report's levels and filters read, but those of the levels in
    ``grouped_elsewhere`` (the zone key's)."""
    names = (set(query.group_by) - grouped_elsewhere) | {f.dimension for f in query.filters}
    needed: set[str] = set()
    for name in names:
        needed.update(DIMENSION_BY_NAME[name].columns_needed)
    return needed


def _joined(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges, those that touch or overlap joined into one."""
    joined: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if joined and lo <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(hi, joined[-1][1]))
        else:
            joined.append((lo, hi))
    return joined


def _cover(lo: int, hi: int, grains: Sequence[int]) -> list[tuple[int, int, int]]:
    """[lo, hi) as (grain, lo, hi) parts: whole buckets of the first (coarsest) grain that fits
    inside, the rest on either side by the finer ones; the last grain divides ``lo`` and ``hi``."""
    grain, finer = grains[0], grains[1:]
    inner_lo = -(-lo // grain) * grain
    inner_hi = _floor(hi, grain)
    if not finer:
        return [(grain, lo, hi)] if hi > lo else []
    if inner_hi <= inner_lo:
        return _cover(lo, hi, finer)
    return [(grain, inner_lo, inner_hi), *_cover(lo, inner_lo, finer), *_cover(inner_hi, hi, finer)]


def plan(session: DbSession, query: Any) -> RollupPlan | None:
    """How the rollups can answer the visit side of ``query``, or None (raw visits only)."""
    period = query.period
    if not period.whole_hours:
        return None
    needed = columns_needed(query)
    spec = next((s for s in SPECS if needed <= set(s.columns)), None)
    if spec is None:
        return None
    state = read_state(session)
    if state is None or state.sealed_until == 0:
        return None
    start, end = period.start_epoch, period.end_epoch
    stop = min(end, state.sealed_until)
    if stop <= start:
        return None
    has_time = any(DIMENSION_BY_NAME[n].kind == "time" for n in query.group_by) or any(
        DIMENSION_BY_NAME[f.dimension].kind == "time" for f in query.filters
    )
    # The longest whole spans, shorter ones and whole UTC days around them, hours at the edges
    # (every whole day or span before ``stop`` is sealed, so rolled up); a time dimension needs
    # the hours.
    grains = (SECONDS_PER_HOUR,) if has_time else tuple(reversed(GRAINS))
    parts = _cover(start, stop, grains)
    return RollupPlan(spec, parts, _moment(stop))


def when_finalized(session: DbSession) -> datetime:
    """Visits before this moment may be pruned: their conversions live in the rollups."""
    state = read_state(session)
    return _moment(state.finalized_until if state else 0)


__all__ = [
    "SPECS",
    "RefreshOutcome",
    "RollupPlan",
    "plan",
    "prune_raw_visits",
    "rebuild_range",
    "refresh_if_stale",
    "refresh_rollups",
    "when_finalized",
]
