"""Per-campaign frozen routing snapshots, cached in the process.

A snapshot holds everything a visit of the campaign needs (traffic-source parameters, cost
model, redirect mode, compiled routes and URL templates), so the hot path reads no setup row.
The cache is dropped when the setup version counter (``tracker.store``) changes; the counter is
read at most once per ``check_interval`` seconds, and on every cache miss.

While the store is down (``StoreGate``), the cached snapshots keep serving as they are: the
version check is skipped until the gate's back-off lets one caller probe, and that probe is
bounded (connect timeout, statement timeout), so no visitor waits on a dead store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from tracker.models.events import VAR_COUNT
from tracker.models.setup import (
    Campaign,
    CostModel,
    Flow,
    Lander,
    Offer,
    RedirectMode,
    SetupVersion,
    TrafficSource,
)
from tracker.tracking.outage import StoreGate, StoreUnavailable
from tracker.tracking.routing import RouteTable, compile_routes, referenced_ids

log = logging.getLogger(__name__)

MAX_NEGATIVE_ENTRIES = 10_000
CHECK_STATEMENT_TIMEOUT_MS = 1000  # the version check is one indexed row: longer means trouble


@dataclass(frozen=True, slots=True)
class SourceParams:
    """Which query parameters of the campaign URL carry the source's click ID, cost, vars."""

    id: int | None
    name: str
    external_id_param: str
    cost_param: str
    var_params: tuple[str, ...]  # VAR_COUNT entries, "" where undeclared


@dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    """A campaign as the hot path sees it."""

    id: int
    key: str
    name: str
    workspace_id: int
    source: SourceParams
    cost_model: CostModel
    cost_value: Decimal | None
    redirect_mode: RedirectMode
    critical_client_hints: bool
    routes: RouteTable


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _catalogue(conn: Connection, model: type[Lander] | type[Offer], ids: set[int], ws: int) -> dict:
    if not ids:
        return {}
    rows = conn.execute(
        select(model.id, model.name, model.url).where(
            model.id.in_(sorted(ids)), model.workspace_id == ws
        )
    )
    catalogue = {}
    for ident, name, url in rows:
        if _is_web_url(url):
            catalogue[ident] = (name, url.strip())
        else:  # the tracker only ever sends visitors to http(s) URLs
            log.warning("%s %s has no http(s) URL; left out of routing", model.__name__, ident)
    return catalogue


def _var_params(variables: Any) -> tuple[str, ...]:
    params = []
    for entry in (variables if isinstance(variables, list) else [])[:VAR_COUNT]:
        params.append(str(entry.get("param") or "") if isinstance(entry, Mapping) else "")
    return tuple(params + [""] * (VAR_COUNT - len(params)))


def load_snapshot(
    conn: Connection,
    *,
    key: str | None = None,
    ident: int | None = None,
    account_zone: tzinfo = UTC,
) -> CampaignSnapshot | None:
    """Build one campaign's snapshot from the store (by key or id); None when unknown.
    ``account_zone`` is the time zone of flow rules that name none."""
    query = select(
        Campaign.id,
        Campaign.key,
        Campaign.name,
        Campaign.workspace_id,
        Campaign.traffic_source_id,
        Campaign.cost_model,
        Campaign.cost_value,
        Campaign.flow_id,
        Campaign.path,
        Campaign.redirect_mode,
        Campaign.critical_client_hints,
    )
    query = (
        query.where(Campaign.key == key) if key is not None else query.where(Campaign.id == ident)
    )
    campaign = conn.execute(query).one_or_none()
    if campaign is None:
        return None
    source_row = conn.execute(
        select(
            TrafficSource.id,
            TrafficSource.name,
            TrafficSource.external_id_param,
            TrafficSource.cost_param,
            TrafficSource.variables,
        ).where(TrafficSource.id == campaign.traffic_source_id)
    ).one_or_none()
    source = (
        SourceParams(
            source_row.id,
            source_row.name,
            source_row.external_id_param or "",
            source_row.cost_param or "",
            _var_params(source_row.variables),
        )
        if source_row is not None
        else SourceParams(None, "", "", "", ("",) * VAR_COUNT)
    )
    rules: Sequence[Any] = []
    default_paths: Sequence[Any] = []
    flow_id = campaign.flow_id
    if flow_id is not None:
        flow = conn.execute(
            select(Flow.rules, Flow.default_paths).where(Flow.id == flow_id)
        ).one_or_none()
        if flow is not None:
            rules = flow.rules if isinstance(flow.rules, list) else []
            default_paths = flow.default_paths if isinstance(flow.default_paths, list) else []
    campaign_path = campaign.path if isinstance(campaign.path, Mapping) else None
    lander_ids, offer_ids = referenced_ids(campaign_path, rules, default_paths)
    routes = compile_routes(
        flow_id=flow_id,
        campaign_path=campaign_path,
        rules=rules,
        default_paths=default_paths,
        landers=_catalogue(conn, Lander, lander_ids, campaign.workspace_id),
        offers=_catalogue(conn, Offer, offer_ids, campaign.workspace_id),
        account_zone=account_zone,
    )
    return CampaignSnapshot(
        id=campaign.id,
        key=campaign.key,
        name=campaign.name,
        workspace_id=campaign.workspace_id,
        source=source,
        cost_model=CostModel(campaign.cost_model),
        cost_value=campaign.cost_value,
        redirect_mode=RedirectMode(campaign.redirect_mode),
        critical_client_hints=bool(campaign.critical_client_hints),
        routes=routes,
    )


def read_setup_version(conn: Connection) -> int:
    """The setup version counter, read with Core (0 before any setup change)."""
    return conn.execute(select(SetupVersion.version).where(SetupVersion.id == 1)).scalar() or 0


class SnapshotCache:
    """Campaign snapshots of one process, by key and by id."""

    def __init__(
        self,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        account_zone: tzinfo = UTC,
        gate: StoreGate | None = None,
    ) -> None:
        self.check_interval = check_interval
        self.gate = gate or StoreGate()
        self.clock = clock
        self.account_zone = account_zone
        self._by_key: dict[str, CampaignSnapshot] = {}
        self._by_id: dict[int, CampaignSnapshot] = {}
        self._unknown_keys: set[str] = set()
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def by_key(self, engine: Engine, key: str) -> CampaignSnapshot | None:
        """The campaign with this URL key, or None (unknown keys are remembered too); raises
        ``StoreUnavailable`` when it is not cached and the store is down."""
        self._check_version(engine)
        snapshot = self._by_key.get(key)
        if snapshot is not None or key in self._unknown_keys:
            return snapshot
        return self._load(engine, key=key)

    def by_id(self, engine: Engine, ident: int) -> CampaignSnapshot | None:
        """The campaign with this id, or None."""
        self._check_version(engine)
        snapshot = self._by_id.get(ident)
        if snapshot is not None:
            return snapshot
        return self._load(engine, ident=ident)

    def _check_version(self, engine: Engine) -> None:
        now = self.clock()
        if now - self._checked_at < self.check_interval:
            return
        if not self.gate.may_try():
            return  # known down, not yet time to probe: the cached campaigns go on serving
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text(f"SET LOCAL statement_timeout = {CHECK_STATEMENT_TIMEOUT_MS}")
                    )
                version = read_setup_version(conn)
        except SQLAlchemyError as exc:
            # The store is down: the cached campaigns keep redirecting (their visits are
            # journalled by the writer and stored when it is back).
            self._checked_at = now
            self.gate.failed(exc)
            return
        self.gate.succeeded()
        self._apply_version(version, now)

    def _apply_version(self, version: int, now: float) -> None:
        with self._lock:
            self._checked_at = now
            if version != self._version:
                self._version = version
                self._by_key = {}
                self._by_id = {}
                self._unknown_keys = set()

    def _load(
        self, engine: Engine, *, key: str | None = None, ident: int | None = None
    ) -> CampaignSnapshot | None:
        if not self.gate.may_try():
            raise StoreUnavailable("campaign not cached and the store is down")
        try:
            with engine.connect() as conn:
                # The version is read first: a change made while loading is seen at the next
                # check.
                self._apply_version(read_setup_version(conn), self.clock())
                snapshot = load_snapshot(conn, key=key, ident=ident, account_zone=self.account_zone)
        except SQLAlchemyError as exc:
            self.gate.failed(exc)
            raise StoreUnavailable("campaign not cached and the store is down") from exc
        self.gate.succeeded()
        with self._lock:
            if snapshot is None:
                if key is not None and len(self._unknown_keys) < MAX_NEGATIVE_ENTRIES:
                    self._unknown_keys.add(key)
                return None
            self._by_key[snapshot.key] = snapshot
            self._by_id[snapshot.id] = snapshot
        return snapshot

    def clear(self) -> None:
        """Forget every snapshot (the next request reloads)."""
        with self._lock:
            self._version = None
            self._checked_at = float("-inf")
            self._by_key = {}
            self._by_id = {}
            self._unknown_keys = set()
