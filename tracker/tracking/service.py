"""The hot path's two services: a campaign visit and a lander click-through.

They take plain values (what the view read from the request) and answer a plain outcome (where
to send the visitor, how, with which click ID); the view turns that into a response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.models.events import VAR_COUNT
from tracker.models.setup import RedirectMode
from tracker.reports.costs import visit_cost
from tracker.tracking import recorder
from tracker.tracking.clickid import click_id_age, new_click_id, normalize_click_id
from tracker.tracking.enrich import (
    NO_HINTS,
    UA_MAX_LENGTH,
    ClientHints,
    apply_client_hints,
    parse_user_agent,
    primary_language,
    referrer_domain,
)
from tracker.tracking.geoip import GeoResolver
from tracker.tracking.outage import StoreGate, StoreUnavailable
from tracker.tracking.routing import Destination, PathRoute
from tracker.tracking.snapshot import CampaignSnapshot, SnapshotCache
from tracker.tracking.tokens import visit_tokens
from tracker.tracking.unique import is_unique_visit
from tracker.tracking.writer import VisitWriter

log = logging.getLogger(__name__)

T = TypeVar("T")

FRESH_VISIT_WAIT = 1.0  # seconds a click waits for a visit of that moment to reach the store


@dataclass(slots=True)
class TrackingState:
    """What one process keeps for the hot path: campaign snapshots, GeoIP readers, and the
    visit writer (made on the first visit, so in the serving process, after any fork)."""

    snapshots: SnapshotCache
    geo: GeoResolver
    spool_dir: Path
    write_behind: bool = True
    writer: VisitWriter | None = None
    spool_max_mb: int = 1024

    @property
    def gate(self) -> StoreGate:
        """Whether this process takes the store to be up (shared by snapshots and writer)."""
        return self.snapshots.gate

    def visit_writer(self, engine: Engine) -> VisitWriter:
        """This process's visit writer for the store behind ``engine``."""
        if self.writer is None:
            self.writer = VisitWriter(
                engine, self.spool_dir, self.gate, max_bytes=self.spool_max_mb * 2**20
            )
        return self.writer

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every visit recorded so far is in the store."""
        return self.writer.flush(timeout) if self.writer is not None else True

    def close_writer(self) -> None:
        """Store what is queued and stop the writer (it starts again on the next visit)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass(frozen=True, slots=True)
class VisitRequest:
    """A campaign URL hit, as read from the request."""

    key: str
    params: Mapping[str, str]
    ip: str
    user_agent: str
    accept_language: str = ""
    referrer: str = ""
    hints: ClientHints = NO_HINTS
    hints_retry: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the visitor to ``url`` in ``mode``; ``click_id`` goes into the tracker's cookie."""

    url: str
    mode: RedirectMode
    click_id: str


@dataclass(frozen=True, slots=True)
class NotFound:
    """Nothing to send the visitor to: unknown campaign or visit, or everything paused."""

    reason: str
    click_id: str | None = None  # set when a visit was still recorded


@dataclass(frozen=True, slots=True)
class AskClientHints:
    """Answer first with Critical-CH (the campaign wants exact model and OS version)."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The answer needs the store and it is down (e.g. a campaign this process never cached):
    the visitor is asked to come back rather than sent nowhere."""

    reason: str


VisitOutcome = Redirect | NotFound | AskClientHints | Unavailable


def _cost(snapshot: CampaignSnapshot, raw: str | None) -> Decimal:
    """The visit's cost under the campaign's cost model (cpa and revshare cost per conversion)."""
    return _visit_cost(snapshot.cost_model, snapshot.cost_value, raw)


# A source sends a few distinct costs (one per bid or zone): each is parsed and rounded once.
_visit_cost = lru_cache(maxsize=1024)(visit_cost)
_VAR_NAMES = tuple(f"var{n}" for n in range(1, VAR_COUNT + 1))


def _param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "") if name else ""


def track_visit(
    state: TrackingState, engine: Engine, visit: VisitRequest, now: datetime
) -> VisitOutcome:
    """Record a campaign visit and choose where it goes (lander, else offer)."""
    try:
        snapshot = state.snapshots.by_key(engine, visit.key)
    except StoreUnavailable as exc:
        return Unavailable(str(exc))
    if snapshot is None:
        return NotFound("unknown campaign")
    if (
        snapshot.critical_client_hints
        and visit.hints.ua is not None
        and visit.hints.model is None
        and not visit.hints_retry
    ):
        return AskClientHints()

    user_agent = visit.user_agent[:UA_MAX_LENGTH]
    device = apply_client_hints(parse_user_agent(user_agent), visit.hints)
    geo = state.geo.lookup(visit.ip)
    source = snapshot.source
    params = visit.params
    click_id = new_click_id()
    values: dict[str, Any] = {
        "click_id": click_id,
        "created_at": now,
        "workspace_id": snapshot.workspace_id,
        "campaign_id": snapshot.id,
        "traffic_source_id": source.id,
        "flow_id": snapshot.routes.flow_id,
        "rule": None,
        "path": None,
        "lander_id": None,
        "offer_id": None,
        "clicks": 0,
        "clicked_at": None,
        "ip": visit.ip,
        "user_agent": user_agent,
        "is_bot": device.is_bot,
        "device_type": device.device_type,
        "brand": device.brand,
        "model": device.model,
        "os": device.os,
        "os_version": device.os_version,
        "browser": device.browser,
        "browser_version": device.browser_version,
        "country": geo.country,
        "region": geo.region,
        "city": geo.city,
        "isp": geo.isp,
        "asn": geo.asn,
        "connection_type": geo.connection_type,
        "language": primary_language(visit.accept_language),
        "referrer": visit.referrer,
        "referrer_domain": referrer_domain(visit.referrer),
        "external_id": _param(params, source.external_id_param),
        "cost": _cost(snapshot, _param(params, source.cost_param) or None),
    }
    for name, param in zip(_VAR_NAMES, source.var_params, strict=True):
        values[name] = (params.get(param) or "") if param else ""

    routes = snapshot.routes
    facts = values
    if routes.needs_unique:  # only a flow with a rule on unique visits pays for this read
        facts = {**values, "is_unique": _is_unique(state, engine, values)}
    route = routes.route(facts)
    destination: Destination | None = None
    mode = snapshot.redirect_mode
    if route is not None:
        values["rule"] = route.rule
        values["path"] = route.path.label
        mode = route.path.redirect_mode or mode
        if route.lander is not None:
            values["lander_id"] = route.lander.id
            destination = route.lander
        elif route.offer is not None:
            # Straight to an offer: the visit is its own click-through.
            values["offer_id"] = route.offer.id
            values["clicks"] = 1
            values["clicked_at"] = now
            destination = route.offer

    if state.write_behind:
        state.visit_writer(engine).submit(values)
    else:
        recorder.insert_visit(engine, values)
    if destination is None:
        log.warning("campaign %s has no live lander or offer; visit %s", snapshot.id, click_id)
        return NotFound("nothing to show", click_id)
    tokens = visit_tokens(
        values,
        campaign_name=snapshot.name,
        traffic_source_name=source.name,
        lander_name=route.lander.name if route and route.lander else "",
        offer_name=route.offer.name if route and route.offer else "",
    )
    return Redirect(destination.url.render(tokens), mode, click_id)


def _is_unique(state: TrackingState, engine: Engine, values: dict[str, Any]) -> bool:
    # Without the store the visit is routed as a first visit; the stored flag is still
    # computed exactly when the visit is stored.
    if state.gate.down:
        return True
    try:
        return is_unique_visit(engine, values)
    except SQLAlchemyError as exc:
        state.gate.failed(exc)
        return True


def await_visit(
    state: TrackingState | None, click_id: str, find: Callable[[], T | None]
) -> T | None:
    """``find()`` the visit of ``click_id``; one of the last second, maybe still on its way to
    the store (write-behind), is waited for, up to a second after its redirect. For every
    reader of visits by click ID: /click, postbacks, pixels."""
    found = find()
    if found is not None:
        return found
    writer = state.writer if state is not None else None
    if writer is not None and writer.is_unstored(click_id):
        writer.flush(FRESH_VISIT_WAIT)  # this process's own visit, a moment from the store
        return find()
    age = click_id_age(click_id)
    if age is None or not 0 <= age < FRESH_VISIT_WAIT:
        return None
    deadline = time.monotonic() + FRESH_VISIT_WAIT - age
    while time.monotonic() < deadline:
        time.sleep(0.02)
        found = find()
        if found is not None:
            return found
    return None


def _find_visit(state: TrackingState, engine: Engine, click_id: str) -> Mapping[str, Any] | None:
    """The visit of ``click_id``: from the store, else (store down or slow) from this process's
    visits not stored yet, which carry no ``id``. Raises ``StoreUnavailable`` when neither
    can tell."""
    gate = state.gate

    def pending() -> Mapping[str, Any] | None:
        writer = state.writer
        return writer.pending(click_id) if writer is not None else None

    if gate.down:
        if (waiting := pending()) is not None:
            return waiting
        if not gate.may_try():
            raise StoreUnavailable("the store is down and the visit is not in this process")
    try:
        found = await_visit(state, click_id, lambda: recorder.find_visit(engine, click_id))
    except SQLAlchemyError as exc:
        gate.failed(exc)
        if (waiting := pending()) is None:
            raise StoreUnavailable(
                "the store is down and the visit is not in this process"
            ) from exc
        return waiting
    gate.succeeded()
    if found is None:
        return pending()  # still on its way to a slow store
    return cast(Mapping[str, Any] | None, found)


def _record_click(
    state: TrackingState, engine: Engine, visit: Mapping[str, Any], offer_id: int, now: datetime
) -> None:
    visit_id = visit.get("id")
    if visit_id is not None and not state.gate.down:
        try:
            recorder.record_click(engine, visit_id, offer_id, now)
            return
        except SQLAlchemyError as exc:
            state.gate.failed(exc)
    # Not stored yet, or the store failed: journalled, counted once its visit is stored.
    state.visit_writer(engine).submit_click(visit["click_id"], offer_id, now)


def _offer_path(snapshot: CampaignSnapshot, visit: Mapping[str, Any]) -> PathRoute | None:
    routes = snapshot.routes
    path = routes.find_path(visit["rule"], visit["path"])
    if path is not None and path.offers:
        return path
    return routes.path_with_lander(visit["lander_id"])


def track_click(
    state: TrackingState,
    engine: Engine,
    click_ids: Iterable[str | None],
    slot: int | None,
    now: datetime,
    campaign_key: str | None = None,
) -> Redirect | NotFound | Unavailable:
    """Record a lander's click-through on its visit and choose the offer (n-th, or by weight).

    ``click_ids`` are tried in order (the ``cid`` parameter, then the cookie). Without a known
    visit, a ``campaign_key`` hint still sends the visitor to an offer of that campaign, with
    nothing recorded (there is no visit to count the click on).
    """
    visit = None
    unavailable: StoreUnavailable | None = None
    for raw in click_ids:
        click_id = normalize_click_id(raw)
        if click_id is not None:
            try:
                visit = _find_visit(state, engine, click_id)
            except StoreUnavailable as exc:
                unavailable = exc
                continue
            if visit is not None:
                break
    try:
        if visit is None:
            outcome = _click_without_visit(state, engine, slot, campaign_key)
            if isinstance(outcome, NotFound) and unavailable is not None:
                return Unavailable(str(unavailable))
            return outcome
        snapshot = state.snapshots.by_id(engine, visit["campaign_id"])
    except StoreUnavailable as exc:
        return Unavailable(str(exc))
    if snapshot is None:
        return NotFound("campaign gone")
    path = _offer_path(snapshot, visit)
    if path is None:
        return NotFound("no live offer")
    offer = (path.offer_at(slot) if slot is not None else None) or path.pick_offer()
    if offer is None:
        return NotFound("no live offer")
    _record_click(state, engine, visit, offer.id, now)
    lander = next((d for d in path.landers if d.id == visit["lander_id"]), None)
    tokens = visit_tokens(
        {**visit, "offer_id": offer.id},
        campaign_name=snapshot.name,
        traffic_source_name=snapshot.source.name,
        lander_name=lander.name if lander else "",
        offer_name=offer.name,
    )
    mode = path.redirect_mode or snapshot.redirect_mode
    return Redirect(offer.url.render(tokens), mode, visit["click_id"])


def _click_without_visit(
    state: TrackingState, engine: Engine, slot: int | None, campaign_key: str | None
) -> Redirect | NotFound:
    if not campaign_key:
        return NotFound("unknown visit")
    snapshot = state.snapshots.by_key(engine, campaign_key)
    if snapshot is None:
        return NotFound("unknown visit")
    path = snapshot.routes.path_with_lander(None)
    if path is None:
        return NotFound("unknown visit")
    offer = (path.offer_at(slot) if slot is not None else None) or path.pick_offer()
    if offer is None:
        return NotFound("unknown visit")
    log.info("click without a known visit sent to campaign %s's offer %s", snapshot.id, offer.id)
    tokens = visit_tokens(
        {"campaign_id": snapshot.id, "traffic_source_id": snapshot.source.id, "offer_id": offer.id},
        campaign_name=snapshot.name,
        traffic_source_name=snapshot.source.name,
        offer_name=offer.name,
    )
    return Redirect(offer.url.render(tokens), path.redirect_mode or snapshot.redirect_mode, "")
