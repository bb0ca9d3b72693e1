"""Recording conversions: find the visit, check the network's secret and IPs, de-duplicate,
update a status, queue the forward to the traffic source, and log every postback.

De-duplication is the store's: ``conversion.dedupe_key`` is unique (click ID | txid | et), the
insert is ``ON CONFLICT DO NOTHING``, and a status change is an ``UPDATE ... WHERE status = old``,
so two identical postbacks racing in two processes count once and forward once.

On SQLite, every read comes before the first write of the request: the write transaction starts
at that first write, so it queues on the busy timeout instead of failing on a stale snapshot.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement, TextClause

from tracker.conversions.event_types import TypeFlags, resolve_type
from tracker.conversions.params import (
    APPROVED,
    NOT_COUNTED_STATUSES,
    PENDING,
    MalformedPostback,
    PostbackParams,
    clean_text,
    read_click_id,
    read_postback,
)
from tracker.models.events import Conversion, OutboxMessage, PostbackLog, Visit
from tracker.models.setup import (
    AffiliateNetwork,
    Campaign,
    Lander,
    Offer,
    SetupVersion,
    TrafficSource,
)
from tracker.models.types import utcnow
from tracker.store import DriverStatement
from tracker.tracking.tokens import render, visit_token_values

log = logging.getLogger(__name__)

T = TypeVar("T")

CONVERSION: Table = Conversion.__table__  # type: ignore[assignment]
POSTBACK_LOG: Table = PostbackLog.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]

# Postback log results.
RECORDED = "recorded"
DUPLICATE = "duplicate"
UPDATED = "updated"
UNKNOWN_CLICK = "unknown_click"
FORBIDDEN = "forbidden"
MALFORMED = "malformed"
UNAVAILABLE = "unavailable"
RESULTS = (RECORDED, UPDATED, DUPLICATE, UNKNOWN_CLICK, FORBIDDEN, MALFORMED, UNAVAILABLE)
ACCEPTED_RESULTS = frozenset({RECORDED, UPDATED, DUPLICATE})

# How a conversion arrived (Conversion.source, PostbackLog.endpoint).
POSTBACK = "postback"
PIXEL = "pixel"
SCRIPT = "script"
UPLOAD = "upload"

_LOGGED_COLUMNS = (
    "created_at",
    "workspace_id",
    "ip",
    "method",
    "endpoint",
    "raw_query",
    "raw_body",
    "click_id",
    "result",
    "http_status",
    "reason",
    "conversion_id",
)


def insert_text(table: Table, names: Sequence[str], tail: str = "") -> TextClause:
    """``INSERT INTO table (names) VALUES (:names) tail`` as typed text: the same SQL on every
    store (no implicit ``RETURNING`` of the key, which PostgreSQL's compiler would add)."""
    return text(
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join(f':{name}' for name in names)}) {tail}".rstrip()
    ).bindparams(*(bindparam(name, type_=table.c[name].type) for name in names))


_INSERT_LOG = DriverStatement(insert_text(POSTBACK_LOG, _LOGGED_COLUMNS))
RAW_LOG_MAX = 8192  # characters of a query or body kept in the log
_LOG_LIMITS = {"ip": 45, "method": 8, "endpoint": 32, "click_id": 64, "result": 16}


# --- what reports count -------------------------------------------------------------------------


def counted_conversion() -> ColumnElement[bool]:
    """SQL: this conversion counts in "conversions" (its type counts, and not declined)."""
    return and_(
        Conversion.counts_as_conversion.is_(True),
        Conversion.status.not_in(sorted(NOT_COUNTED_STATUSES)),
    )


def counted_revenue() -> ColumnElement[Decimal]:
    """SQL: this conversion's payout where it counts in revenue, else 0 (``SUM`` it)."""
    return case(
        (
            and_(
                Conversion.counts_in_revenue.is_(True),
                Conversion.status.not_in(sorted(NOT_COUNTED_STATUSES)),
            ),
            Conversion.payout,
        ),
        else_=Decimal("0"),
    )


# --- the request and its answer ------------------------------------------------------------------


@dataclass(frozen=True)
class PostbackRequest:
    """A postback, pixel or script call as received (plain values, no Flask)."""

    endpoint: str  # postback, pixel, script
    method: str
    ip: str
    raw_query: str
    raw_body: str
    values: Mapping[str, str]
    received_at: datetime
    default_currency: str
    cookie_click_id: str | None = None
    # Set when the request could not be read at all (bad JSON, body too large).
    problem: str | None = None
    problem_status: int = 400


@dataclass(frozen=True)
class PostbackOutcome:
    """What a postback did: its log result, the HTTP status to answer, why."""

    result: str
    http_status: int
    reason: str = ""
    click_id: str = ""
    conversion_id: int | None = None
    workspace_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.result in ACCEPTED_RESULTS


# --- the visit a postback is about --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferSetup:
    """What a conversion needs of an offer and its affiliate network."""

    payout: Decimal | None = None
    currency: str | None = None
    network_id: int | None = None
    postback_secret: str | None = None
    allowed_ips: tuple[str, ...] = ()
    accept_duplicates: bool = False
    status_map: Mapping[str, str] = field(default_factory=dict)
    param_map: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceSetup:
    """What forwarding a conversion needs of a traffic source."""

    forward_url: str = ""
    forward_statuses: tuple[str, ...] = ()
    forward_first_only: bool = False
    forward_success_pattern: str = ""


NO_OFFER = OfferSetup()
NO_SOURCE = SourceSetup()

_OFFER_SETUP = (
    select(
        Offer.payout,
        Offer.currency,
        AffiliateNetwork.id,
        AffiliateNetwork.postback_secret,
        AffiliateNetwork.allowed_ips,
        AffiliateNetwork.accept_duplicates,
        AffiliateNetwork.status_map,
        AffiliateNetwork.param_map,
    )
    .select_from(Offer)
    .outerjoin(AffiliateNetwork, AffiliateNetwork.id == Offer.affiliate_network_id)
    .where(Offer.id == bindparam("offer_id"))
)
_SOURCE_SETUP = select(
    TrafficSource.postback_url,
    TrafficSource.postback_statuses,
    TrafficSource.postback_first_only,
    TrafficSource.postback_success_pattern,
).where(TrafficSource.id == bindparam("source_id"))


def _offer_setup(conn: Connection, offer_id: int) -> OfferSetup:
    row = conn.execute(_OFFER_SETUP, {"offer_id": offer_id}).first()
    if row is None:
        return NO_OFFER
    return OfferSetup(
        payout=row[0],
        currency=row[1],
        network_id=row[2],
        postback_secret=row[3],
        allowed_ips=tuple(row[4] or ()),
        accept_duplicates=bool(row[5]),
        status_map=dict(row[6] or {}),
        param_map=dict(row[7] or {}),
    )


def _source_setup(conn: Connection, source_id: int) -> SourceSetup:
    row = conn.execute(_SOURCE_SETUP, {"source_id": source_id}).first()
    if row is None:
        return NO_SOURCE
    return SourceSetup(
        forward_url=row[0] or "",
        forward_statuses=tuple(row[1] or ()),
        forward_first_only=bool(row[2]),
        forward_success_pattern=row[3] or "",
    )


class SetupCache:
    """Offers (with their network) and traffic sources as postbacks read them, kept in the
    process for one setup version: a postback then reads the visit row alone.

    The version is read by the visit lookup itself (same statement), so a postback never uses
    settings older than the setup its own transaction sees: a changed secret or allowed IP
    list applies to the next postback, as with the join it replaces. Every setup change bumps
    the version (``tracker.store.bump_setup_version``)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.offers: dict[int, OfferSetup] = {}
        self.sources: dict[int, SourceSetup] = {}

    def offer(self, conn: Connection, offer_id: int | None) -> OfferSetup:
        """The offer's settings (with its network's), read from the store once per version."""
        return _remembered(self.offers, conn, offer_id, _offer_setup, NO_OFFER)

    def source(self, conn: Connection, source_id: int | None) -> SourceSetup:
        """The traffic source's forwarding settings, read from the store once per version."""
        return _remembered(self.sources, conn, source_id, _source_setup, NO_SOURCE)


def _remembered(
    known: dict[int, T],
    conn: Connection,
    ident: int | None,
    load: Callable[[Connection, int], T],
    absent: T,
) -> T:
    if ident is None:
        return absent
    found = known.get(ident)
    if found is None:
        found = known[ident] = load(conn, ident)
    return found


# One cache per engine (per app): two apps of one process (tests) never share settings. A cache
# is only ever filled at its own version: a thread still at an older version gets a cache of
# its own instead of filling the newer one.
_SETUP_CACHES: weakref.WeakKeyDictionary[Engine, SetupCache] = weakref.WeakKeyDictionary()


def setup_cache(engine: Engine, version: int) -> SetupCache:
    """The settings cache of this engine's store at this setup version."""
    cache = _SETUP_CACHES.get(engine)
    if cache is None or cache.version != version:
        cache = _SETUP_CACHES[engine] = SetupCache(version)
    return cache


@dataclass(frozen=True, slots=True)
class VisitContext:
    """The visit a conversion belongs to, with its offer, network and traffic source settings."""

    visit_id: int
    click_id: str
    workspace_id: int
    campaign_id: int
    offer_id: int | None
    traffic_source_id: int | None
    visit_at: datetime
    offer: OfferSetup = NO_OFFER
    source: SourceSetup = NO_SOURCE


# The visit row and the setup version, in one statement run straight on the driver (the
# postback path is as hot as a visit: bench/RESULTS.md, "Postbacks").
_VISIT_ROW = select(
    Visit.id,
    Visit.click_id,
    Visit.workspace_id,
    Visit.campaign_id,
    Visit.offer_id,
    Visit.traffic_source_id,
    Visit.created_at,
    select(SetupVersion.version).where(SetupVersion.id == 1).scalar_subquery(),
).where(Visit.click_id == bindparam("click_id"))
_FIND_VISIT = DriverStatement(_VISIT_ROW)
_FIND_VISIT_IN_WORKSPACE = DriverStatement(
    _VISIT_ROW.where(Visit.workspace_id == bindparam("workspace_id"))
)


def find_visit_context(
    conn: Connection, click_id: str, workspace_id: int | None = None
) -> VisitContext | None:
    """The visit with this click ID (in this workspace, when given), or None."""
    if workspace_id is None:
        rows = _FIND_VISIT.run(conn, {"click_id": click_id})
    else:
        rows = _FIND_VISIT_IN_WORKSPACE.run(
            conn, {"click_id": click_id, "workspace_id": workspace_id}
        )
    if not rows:
        return None
    visit_id, click_id, workspace_id, campaign_id, offer_id, source_id, visit_at, version = rows[0]
    cache = setup_cache(conn.engine, version or 0)
    return VisitContext(
        visit_id,
        click_id,
        workspace_id,
        campaign_id,
        offer_id,
        source_id,
        visit_at,
        cache.offer(conn, offer_id),
        cache.source(conn, source_id),
    )


def network_click_id_names(conn: Connection) -> list[str]:
    """Parameter names that some network's ``param_map`` maps to ``cid`` (``aff_sub``...)."""
    names: list[str] = []
    for param_map in conn.scalars(select(AffiliateNetwork.param_map)):
        for theirs, ours in (param_map or {}).items():
            if str(ours).lower() in ("cid", "clickid", "subid") and theirs not in names:
                names.append(theirs)
    return names


# --- checks --------------------------------------------------------------------------------------


def secret_matches(expected: str | None, given: str | None) -> bool:
    """True when the network has no secret, or ``given`` is it (constant-time compare)."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=256)
def _allowed_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """A network's allowed IPs and CIDRs, parsed once per distinct list (a bad entry is
    logged once, not at every postback)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("ignoring a bad allowed_ips entry: %r", entry)
    return tuple(networks)


def ip_allowed(allowed: Iterable[str], ip: str) -> bool:
    """True when the list is empty or ``ip`` is inside one of its CIDRs (bad entries skipped)."""
    entries = tuple(str(entry).strip() for entry in allowed)
    networks = _allowed_networks(entries)
    if not networks:
        return not entries
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


# --- recording -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What recording one conversion did."""

    result: str  # recorded, updated, duplicate
    conversion_id: int | None
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def _dedupe_key(click_id: str, txid: str, et: str) -> str:
    return f"{click_id}|{txid}|{et}"


def _is_transition(old: str, new: str) -> bool:
    """A status change that updates a conversion: anything but a step back to pending (an
    older message arriving late)."""
    return new != old and new != PENDING


# INSERT ... ON CONFLICT DO NOTHING RETURNING, the same SQL on SQLite (3.35+) and PostgreSQL.
# Written as text because SQLAlchemy 2.0 cannot cache its dialect-specific on_conflict
# constructs: they would be compiled again on every postback.
_INSERT_CONVERSION = DriverStatement(
    insert_text(
        CONVERSION,
        [column.name for column in CONVERSION.columns if column.name != "id"],
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    ).columns(CONVERSION.c.id)
)
_ON_CONFLICT_DIALECTS = frozenset({"sqlite", "postgresql"})


def _insert_conversion(conn: Connection, values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING; the new id, or None on a duplicate."""
    if conn.dialect.name in _ON_CONFLICT_DIALECTS:
        rows = _INSERT_CONVERSION.run(conn, values)
        return rows[0][0] if rows else None
    try:  # other stores: the unique index still refuses the second one
        with conn.begin_nested():
            return conn.execute(insert(CONVERSION).returning(CONVERSION.c.id), values).scalar()
    except IntegrityError:
        return None


_EXISTING_COLUMNS = (Conversion.id, Conversion.status, Conversion.dedupe_key)
_BY_DEDUPE_KEY = select(*_EXISTING_COLUMNS).where(Conversion.dedupe_key == bindparam("key"))
# By the visit (its index; a click ID is one visit), not by the click ID: one index less to write.
_LATEST_OF_KEY = (
    select(*_EXISTING_COLUMNS)
    .where(
        Conversion.visit_id == bindparam("visit_id"),
        Conversion.txid == bindparam("txid"),
        Conversion.et == bindparam("et"),
    )
    .order_by(Conversion.id.desc())
    .limit(1)
)
_BY_ID = select(*_EXISTING_COLUMNS).where(Conversion.id == bindparam("id"))


def _existing(
    conn: Connection, ctx: VisitContext, txid: str, et: str, accept_duplicates: bool
) -> Row[Any] | None:
    if not accept_duplicates:
        return conn.execute(_BY_DEDUPE_KEY, {"key": _dedupe_key(ctx.click_id, txid, et)}).first()
    return conn.execute(_LATEST_OF_KEY, {"visit_id": ctx.visit_id, "txid": txid, "et": et}).first()


def _update_status(
    conn: Connection,
    conversion_id: int,
    old: str,
    new: str,
    params: PostbackParams,
    now: datetime,
) -> bool:
    """Move a conversion from ``old`` to ``new`` (and a payout sent with it); False when another
    process changed it first."""
    values: dict[str, Any] = {"status": new, "updated_at": now}
    if params.payout is not None:
        values["payout"] = params.payout
        if params.currency:
            values["currency"] = params.currency
    result = conn.execute(
        update(CONVERSION)
        .where(CONVERSION.c.id == conversion_id, CONVERSION.c.status == old)
        .values(**values)
    )
    return bool(result.rowcount)


def record_conversion(
    conn: Connection,
    ctx: VisitContext,
    params: PostbackParams,
    *,
    source: str,
    default_currency: str,
    now: datetime,
) -> Recorded:
    """Record, update or recognise as duplicate one conversion of a visit, and queue its
    forward to the traffic source where that source wants it."""
    status = params.status or APPROVED
    notes = list(params.notes)
    flags = resolve_type(conn, ctx.workspace_id, params.et)
    # Without accept_duplicates the insert comes first: a new conversion (the common case)
    # costs no read, and a conflict tells us to read what is there.
    existing = (
        _existing(conn, ctx, params.txid, params.et, True) if ctx.offer.accept_duplicates else None
    )
    for _ in range(3):  # a racing process may change what we read; settle in a few rounds
        if existing is not None:
            old_status = existing.status
            if _is_transition(old_status, status):
                if _update_status(conn, existing.id, old_status, status, params, now):
                    _forward(conn, ctx, existing.id, status, params, now, notes)
                    return Recorded(UPDATED, existing.id, f"status {old_status} → {status}", notes)
                existing = conn.execute(_BY_ID, {"id": existing.id}).first()
                continue
            if not ctx.offer.accept_duplicates:
                why = "same status" if old_status == status else f"already {old_status}"
                return Recorded(DUPLICATE, existing.id, f"duplicate ({why}): not counted", notes)
        new_id = _insert_conversion(
            conn, _conversion_values(ctx, params, status, flags, source, default_currency, now)
        )
        if new_id is not None:
            _forward(conn, ctx, new_id, status, params, now, notes)
            return Recorded(RECORDED, new_id, "", notes)
        existing = _existing(conn, ctx, params.txid, params.et, False)
    # Still changing after three rounds: another process is busy with it; it is not new.
    return Recorded(DUPLICATE, existing.id if existing else None, "duplicate: not counted", notes)


def _conversion_values(
    ctx: VisitContext,
    params: PostbackParams,
    status: str,
    flags: TypeFlags,
    source: str,
    default_currency: str,
    now: datetime,
) -> dict[str, Any]:
    if params.payout is not None:
        payout = params.payout
        currency = params.currency or default_currency
    else:
        payout = ctx.offer.payout if ctx.offer.payout is not None else Decimal("0")
        currency = params.currency or ctx.offer.currency or default_currency
    key = _dedupe_key(ctx.click_id, params.txid, params.et)
    if ctx.offer.accept_duplicates:
        key = f"{key}|{uuid.uuid4().hex}"
    return {
        "dedupe_key": key,
        "workspace_id": ctx.workspace_id,
        "visit_id": ctx.visit_id,
        "click_id": ctx.click_id,
        "campaign_id": ctx.campaign_id,
        "offer_id": ctx.offer_id,
        "affiliate_network_id": ctx.offer.network_id,
        "txid": params.txid,
        "et": params.et,
        "status": status,
        "payout": payout,
        "currency": currency,
        "param1": params.params[0],
        "param2": params.params[1],
        "param3": params.params[2],
        "param4": params.params[3],
        "param5": params.params[4],
        "visit_at": ctx.visit_at,
        "created_at": now,
        "updated_at": now,
        "conversion_type_id": flags.type_id,
        "counts_as_conversion": flags.counts_as_conversion,
        "counts_in_revenue": flags.counts_in_revenue,
        "source": source,
    }


# --- forwarding to the traffic source ------------------------------------------------------------


def _forward(
    conn: Connection,
    ctx: VisitContext,
    conversion_id: int,
    status: str,
    params: PostbackParams,
    now: datetime,
    notes: list[str],
) -> None:
    """Queue the traffic source's postback for this conversion, if the source wants it."""
    if not ctx.source.forward_url.strip() or status not in ctx.source.forward_statuses:
        return
    if ctx.source.forward_first_only:
        first = conn.scalar(
            select(func.min(Conversion.id)).where(Conversion.visit_id == ctx.visit_id)
        )
        if first is not None and first != conversion_id:
            notes.append("not forwarded: the source takes a visit's first conversion only")
            return
    payout = conn.scalar(select(Conversion.payout).where(Conversion.id == conversion_id))
    url = forward_url(
        conn, ctx, {"payout": payout, "txid": params.txid, "et": params.et, "status": status}
    )
    conn.execute(
        insert(OUTBOX).values(
            workspace_id=ctx.workspace_id,
            conversion_id=conversion_id,
            traffic_source_id=ctx.traffic_source_id,
            url=url,
            success_pattern=ctx.source.forward_success_pattern,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            last_response="",
            last_error="",
            created_at=now,
        )
    )


def forward_url(conn: Connection, ctx: VisitContext, extra: Mapping[str, Any]) -> str:
    """The source's postback URL with the visit's tokens and the conversion's filled in."""
    row = (
        conn.execute(
            select(
                Visit.__table__,
                Campaign.name.label("_campaign_name"),
                TrafficSource.name.label("_source_name"),
                Lander.name.label("_lander_name"),
                Offer.name.label("_offer_name"),
            )
            .select_from(Visit)
            .outerjoin(Campaign, Campaign.id == Visit.campaign_id)
            .outerjoin(TrafficSource, TrafficSource.id == Visit.traffic_source_id)
            .outerjoin(Lander, Lander.id == Visit.lander_id)
            .outerjoin(Offer, Offer.id == Visit.offer_id)
            .where(Visit.id == ctx.visit_id)
        )
        .mappings()
        .one()
    )
    values = visit_token_values(
        dict(row),
        campaign_name=row["_campaign_name"] or "",
        traffic_source_name=row["_source_name"] or "",
        lander_name=row["_lander_name"] or "",
        offer_name=row["_offer_name"] or "",
        extra=extra,
    )
    return render(ctx.source.forward_url.strip(), values)


# --- the postback itself -------------------------------------------------------------------------


def handle_postback(conn: Connection, req: PostbackRequest) -> PostbackOutcome:
    """Record a postback, pixel or script call and log it, whatever its outcome; flushes only."""
    outcome = _decide(conn, req)
    write_log(conn, req, outcome)
    return outcome


def _decide(conn: Connection, req: PostbackRequest) -> PostbackOutcome:
    if req.problem:
        return PostbackOutcome(MALFORMED, req.problem_status, req.problem)
    reading = read_click_id(req.values, cookie=req.cookie_click_id)
    if reading.problem == "missing":
        names = network_click_id_names(conn)
        if names:
            reading = read_click_id(req.values, names, cookie=req.cookie_click_id)
    if reading.click_id is None:
        problem = reading.problem or "missing"
        if problem.startswith("format"):
            return PostbackOutcome(UNKNOWN_CLICK, 404, f"unknown click ID ({problem[8:]})")
        if problem.startswith("macro"):
            return PostbackOutcome(MALFORMED, 400, f"no click ID: {problem[7:]}")
        return PostbackOutcome(MALFORMED, 400, "no click ID: send it as cid (or clickid, subid)")
    click_id = reading.click_id
    ctx = find_visit_context(conn, click_id)
    if ctx is None:
        return PostbackOutcome(UNKNOWN_CLICK, 404, f"unknown click ID {click_id!r}", click_id)
    try:
        params = read_postback(
            req.values, param_map=ctx.offer.param_map, status_map=ctx.offer.status_map
        )
    except MalformedPostback as exc:
        return _refused(ctx, MALFORMED, 400, str(exc))
    if not secret_matches(ctx.offer.postback_secret, params.key):
        why = "the network's postback secret is missing" if not params.key else "wrong secret"
        return _refused(ctx, FORBIDDEN, 403, f"{why} (send it as key)")
    if not ip_allowed(ctx.offer.allowed_ips, req.ip):
        return _refused(
            ctx, FORBIDDEN, 403, f"source IP {req.ip} is not in the network's allowed IPs"
        )
    recorded = record_conversion(
        conn,
        ctx,
        params,
        source=req.endpoint,
        default_currency=req.default_currency,
        now=req.received_at,
    )
    reason = "; ".join(part for part in (recorded.reason, *recorded.notes) if part)
    return PostbackOutcome(
        recorded.result, 200, reason, click_id, recorded.conversion_id, ctx.workspace_id
    )


def _refused(ctx: VisitContext, result: str, status: int, reason: str) -> PostbackOutcome:
    return PostbackOutcome(result, status, reason, ctx.click_id, None, ctx.workspace_id)


def write_log(conn: Connection, req: PostbackRequest, outcome: PostbackOutcome) -> None:
    """One postback log row: when, from where, what was sent, what it did and why."""
    values: dict[str, Any] = {
        "created_at": req.received_at,
        "workspace_id": outcome.workspace_id,
        "ip": req.ip,
        "method": req.method,
        "endpoint": req.endpoint,
        "raw_query": clean_text(req.raw_query)[:RAW_LOG_MAX],
        "raw_body": clean_text(req.raw_body)[:RAW_LOG_MAX],
        "click_id": clean_text(outcome.click_id),
        "result": outcome.result,
        "http_status": outcome.http_status,
        "reason": clean_text(outcome.reason),
        "conversion_id": outcome.conversion_id,
    }
    for name, limit in _LOG_LIMITS.items():
        values[name] = values[name][:limit]
    _INSERT_LOG.run(conn, values)


# --- store hiccups -------------------------------------------------------------------------------

MAX_ATTEMPTS = 6


def is_retryable(exc: DBAPIError) -> bool:
    """A lock or a dropped connection: worth trying the whole request again."""
    if exc.connection_invalidated:
        return True
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message or "deadlock" in message


def with_retries(
    engine: Engine, work: Callable[[Connection], T], sleep: Callable[[float], None]
) -> T:
    """Run ``work`` in one transaction and commit; on a busy store run it again a few times."""
    delay = 0.01
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except OperationalError as exc:
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            log.warning("store busy (attempt %d of %d): %s", attempt, MAX_ATTEMPTS, exc.orig)
            sleep(delay)
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")


def now_utc() -> datetime:
    """The current time, UTC (a seam for tests)."""
    return utcnow()
