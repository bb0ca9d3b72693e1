"""``tracker demo``: a realistic month of a media buyer's data, made by the tracker's own code.

- Setup goes through the setup services (``tracker.demo.catalogue``).
- Each visit is enriched by the hot path's functions (user agent, GeoIP or the embedded country
  table, language, referrer domain), routed by the campaign's compiled snapshot (flow rules and
  weights), costed by ``visit_cost``, and stored with the hot path's own INSERT (which sets the
  unique-visit flag the way live visits get it); a click-through is stored as ``/click`` leaves
  it (clicks, clicked_at, offer).
- Conversions arrive as postbacks through ``handle_postback``, the network's way: their own
  status values, a secret, transaction IDs, later status changes, retries that are duplicates,
  the odd unknown click ID or unreplaced macro; all of it lands in the postback log.
- A campaign without a cost model gets the buyer's daily spend as manual cost updates; then the
  report rollups are brought up to date.

Everything is drawn from one seeded random generator, so a seed gives the same month (relative
to now) every time; only campaign keys and secrets-module draws differ.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from tracker.config import Settings
from tracker.conversions.services import PostbackRequest, handle_postback
from tracker.demo.agents import UserAgentPool
from tracker.demo.audience import (
    BOT_COUNTRIES,
    COUNTRY_BY_CODE,
    HOURLY_CURVE,
    AddressPool,
)
from tracker.demo.catalogue import (
    CampaignProfile,
    Catalogue,
    OfferProfile,
    VariablePool,
    create_catalogue,
)
from tracker.extensions import DbSession
from tracker.models.events import VAR_COUNT
from tracker.models.setup import Campaign
from tracker.reports.costs import CostError, CostUpdateRequest, apply_cost_update, visit_cost
from tracker.reports.periods import epoch_seconds, make_period
from tracker.reports.query import ReportQuery, run_report
from tracker.reports.rollups import read_state, rebuild_range, refresh_rollups
from tracker.tracking import recorder
from tracker.tracking.enrich import parse_user_agent, primary_language, referrer_domain
from tracker.tracking.geoip import GeoResolver
from tracker.tracking.routing import Route, RouteTable
from tracker.tracking.snapshot import load_snapshot

BOT_SHARE = 0.015
REPEAT_SHARE = 0.12  # visits by someone who came through the same campaign before
TIER_CONVERSION = {1: 1.0, 2: 0.6, 3: 0.35}
DEVICE_CONVERSION = {"mobile": 1.0, "tablet": 0.85, "desktop": 0.9}
INSERT_CHUNK = 2000
MAX_DAYS = 90
MAX_VISITS = 1_000_000

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class DemoRefused(Exception):
    """The store already holds campaigns; demo data goes into an empty one unless forced."""


@dataclass(frozen=True)
class DemoOptions:
    """How much demo data, over how long, from which seed."""

    seed: int = 1
    days: int = 30
    visits: int = 50_000
    force: bool = False


@dataclass(frozen=True)
class DemoSummary:
    """What the demo made, as the reports count it (bots left out)."""

    workspace: str
    days: int
    seed: int
    campaigns: int
    visits_stored: int
    visits: int
    clicks: int
    conversions: int
    revenue: Decimal
    cost: Decimal
    profit: Decimal
    currency: str
    postbacks: int

    def line(self) -> str:
        """The one-line summary ``tracker demo`` prints."""
        money = self.currency
        return (
            f"{self.visits_stored:,} visits over {self.days} days in {self.campaigns} campaigns "
            f"(workspace {self.workspace!r}, seed {self.seed}): reports show {self.visits:,} "
            f"visits, {self.clicks:,} clicks, {self.conversions:,} conversions, revenue "
            f"{self.revenue:,.2f} {money}, cost {self.cost:,.2f} {money}, profit "
            f"{self.profit:,.2f} {money}"
        )


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> Any: ...

    def close(self) -> None: ...


Progress = Callable[[str, int], ProgressBar]


class _Silent:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def no_progress(_description: str, _total: int) -> ProgressBar:
    """A progress bar that shows nothing."""
    return _Silent()


# --- the visit side ------------------------------------------------------------------------------


@dataclass
class _Visitor:
    country: str
    ip: str
    user_agent: str
    accept_language: str
    device_class: str


@dataclass
class _Postback:
    at: datetime
    ip: str
    values: dict[str, str]


def demo_click_id(moment: datetime, rng: random.Random) -> str:
    """A click ID as the hot path makes them (a ULID: the visit's milliseconds, then 80 random
    bits), drawn from ``rng`` so a seed gives the same IDs."""
    millis = int(moment.timestamp() * 1000) & 0xFFFF_FFFF_FFFF
    value = millis << 80 | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _route(routes: RouteTable, facts: dict[str, Any], rng: random.Random) -> Route | None:
    """``RouteTable.route`` with the demo's seeded draws (the same rules, paths and weights)."""
    path = None
    rule_name = None
    for rule in routes.rules:
        if rule.matches(facts):
            path = rule.path_choice.pick(rng.random)
            if path is not None:
                rule_name = rule.name
                break
    if path is None:
        path = routes.default_choice.pick(rng.random)
    if path is None:
        return None
    lander = path.lander_choice.pick(rng.random)
    offer = None if lander is not None else path.offer_choice.pick(rng.random)
    return Route(rule_name, path, lander, offer)


def _cumulative(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class _Month:
    """When visits happen: a daily curve (the buyer scaling up, livelier weekends, noise) and
    an hourly one in the visitor's local time."""

    def __init__(self, rng: random.Random, start: datetime, now: datetime) -> None:
        self.start = start
        self.now = now
        first = start.date()
        self.days = [first + timedelta(days=n) for n in range((now.date() - first).days + 1)]
        span = max(1, len(self.days) - 1)
        weights = []
        for n, day in enumerate(self.days):
            trend = 0.65 + 0.5 * n / span
            weekend = 1.12 if day.weekday() >= 5 else 1.0
            weights.append(trend * weekend * rng.uniform(0.85, 1.15))
        self.day_weights = _cumulative(weights)
        self.hour_weights = _cumulative(list(HOURLY_CURVE))

    def moment(
        self, rng: random.Random, utc_offset: float, lo: datetime, hi: datetime
    ) -> datetime | None:
        """A visit time in [lo, hi) for a visitor ``utc_offset`` hours from UTC."""
        for _ in range(30):
            day = rng.choices(self.days, cum_weights=self.day_weights)[0]
            hour = rng.choices(range(24), cum_weights=self.hour_weights)[0]
            moment = (
                datetime(day.year, day.month, day.day, tzinfo=UTC)
                + timedelta(hours=hour - utc_offset)
                + timedelta(seconds=rng.uniform(0, 3600))
            )
            if lo <= moment < hi:
                return moment
        return None


class _Generator:
    """Draws the month's visits and the postbacks their conversions send."""

    def __init__(
        self,
        rng: random.Random,
        catalogue: Catalogue,
        routes: dict[int, RouteTable],
        geo: GeoResolver,
        month: _Month,
        zone: ZoneInfo,
    ) -> None:
        self.rng = rng
        self.zone = zone
        self.catalogue = catalogue
        self.routes = routes
        self.geo = geo
        self.month = month
        self.agents = UserAgentPool()
        self.addresses = AddressPool()
        self.postbacks: list[_Postback] = []
        self.spend_days: dict[int, Counter[date]] = {}

    # visitors

    def _visitor(self, profile: CampaignProfile) -> _Visitor:
        rng = self.rng
        if rng.random() < BOT_SHARE:
            country = rng.choice(BOT_COUNTRIES)
            return _Visitor(
                country,
                self.addresses.address(rng, country),
                self.agents.pick(rng, "bot"),
                rng.choice(("", "en-US,en;q=0.5")),
                "bot",
            )
        countries = list(profile.countries)
        country = rng.choices(countries, weights=[profile.countries[c] for c in countries])[0]
        devices = profile.source.devices
        device_class = rng.choices(list(devices), weights=list(devices.values()))[0]
        language = rng.choice(COUNTRY_BY_CODE[country].languages)
        if rng.random() < 0.06:  # travellers, expats, English-language phones
            language = "en-US,en;q=0.9"
        return _Visitor(
            country,
            self.addresses.address(rng, country),
            self.agents.pick(rng, device_class),
            language,
            device_class,
        )

    def visits(self, profile: CampaignProfile, count: int) -> Iterator[dict[str, Any]]:
        """``count`` visits of one campaign (fewer if its period is too short for them)."""
        rng = self.rng
        month = self.month
        span = month.now - month.start
        lo = month.start + span * profile.starts
        hi = month.start + span * profile.stops
        campaign = profile.campaign
        # Recent visitors and when they came: a returning one comes back within hours.
        seen: deque[tuple[_Visitor, datetime]] = deque(maxlen=2000)
        for _ in range(count):
            moment = None
            if seen and rng.random() < REPEAT_SHARE:
                visitor, last = rng.choice(seen)
                moment = last + timedelta(minutes=1 + rng.expovariate(1 / 180))
                if moment >= hi:
                    moment = None
            if moment is None:
                visitor = self._visitor(profile)
                moment = month.moment(rng, COUNTRY_BY_CODE[visitor.country].utc_offset, lo, hi)
                if moment is None:
                    continue
            seen.append((visitor, moment))
            yield self._visit(profile, campaign, visitor, moment)

    def _visit(
        self, profile: CampaignProfile, campaign: Campaign, visitor: _Visitor, at: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        source = profile.source
        device = parse_user_agent(visitor.user_agent)
        geo = self.geo.lookup(visitor.ip)
        values: dict[str, Any] = {
            "click_id": demo_click_id(at, rng),
            "created_at": at,
            "workspace_id": campaign.workspace_id,
            "campaign_id": campaign.id,
            "traffic_source_id": source.source.id,
            "flow_id": campaign.flow_id,
            "rule": None,
            "path": None,
            "lander_id": None,
            "offer_id": None,
            "clicks": 0,
            "clicked_at": None,
            "ip": visitor.ip,
            "user_agent": visitor.user_agent,
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
            "language": primary_language(visitor.accept_language),
            "external_id": source.external_id(rng),
        }
        variables: dict[str, str] = {}
        for n in range(1, VAR_COUNT + 1):
            maker = profile.variables.get(f"var{n}")
            if maker is None:
                variables[f"var{n}"] = ""
            elif isinstance(maker, VariablePool):
                variables[f"var{n}"] = maker.pick(rng)
            else:
                variables[f"var{n}"] = maker(rng, values)
        values.update(variables)
        referrer = "" if visitor.device_class == "bot" else source.referrer(rng, variables)
        values["referrer"] = referrer
        values["referrer_domain"] = referrer_domain(referrer)
        sent_cost = None
        if profile.bids:
            tier = COUNTRY_BY_CODE[visitor.country].tier
            low, high = profile.bids[tier]
            sent_cost = f"{rng.uniform(low, high):.4f}"
        values["cost"] = visit_cost(campaign.cost_model, campaign.cost_value, sent_cost)
        route = _route(self.routes[campaign.id], values, rng)
        if route is not None:
            values["rule"] = route.rule
            values["path"] = route.path.label
            if route.lander is not None:
                values["lander_id"] = route.lander.id
                self._maybe_click(profile, values, route, visitor)
            elif route.offer is not None:
                values["offer_id"] = route.offer.id
                values["clicks"] = 1
                values["clicked_at"] = at
        if values["clicked_at"] is not None and not values["is_bot"]:
            self._maybe_convert(profile, values, visitor)
        if profile.daily_spend_per_visit and not values["is_bot"]:
            local_day = at.astimezone(self.zone).date()
            self.spend_days.setdefault(campaign.id, Counter())[local_day] += 1
        return values

    def _maybe_click(
        self, profile: CampaignProfile, values: dict[str, Any], route: Route, visitor: _Visitor
    ) -> None:
        rng = self.rng
        rate = profile.lander_ctr * (0.15 if visitor.device_class == "bot" else 1.0)
        if values["device_type"] == "desktop":
            rate *= 0.8
        if rng.random() >= rate:
            return
        offer = route.path.offer_choice.pick(rng.random)
        clicked_at = values["created_at"] + timedelta(seconds=3 + rng.lognormvariate(2.8, 0.9))
        if offer is None or clicked_at > self.month.now:
            return
        values["offer_id"] = offer.id
        values["clicks"] = 1
        values["clicked_at"] = clicked_at

    # conversions

    def _maybe_convert(
        self, profile: CampaignProfile, values: dict[str, Any], visitor: _Visitor
    ) -> None:
        rng = self.rng
        offer = self.catalogue.offers.get(values["offer_id"])
        if offer is None:
            return
        rate = offer.conversion_rate * profile.quality
        rate *= TIER_CONVERSION[COUNTRY_BY_CODE[visitor.country].tier]
        rate *= DEVICE_CONVERSION.get(values["device_type"], 0.5)
        if offer.countries is not None and values["country"] not in offer.countries:
            rate *= 0.08
        if offer.os_families is not None and values["os"] not in offer.os_families:
            rate *= 0.05
        for name, maker in profile.variables.items():
            if isinstance(maker, VariablePool) and maker.quality:
                rate *= maker.quality.get(values[name], 1.0)
        if rng.random() >= rate:
            return
        moment = values["clicked_at"]
        for event in offer.funnel:
            if rng.random() >= event.probability:
                break
            moment = moment + timedelta(seconds=30 + rng.expovariate(1 / (event.hours * 3600)))
            if moment > self.month.now:
                break
            self._postbacks_for(offer, values["click_id"], event.et, event.payout, moment)

    def _postbacks_for(
        self,
        offer: OfferProfile,
        click_id: str,
        et: str,
        payout_range: tuple[float, float] | None,
        at: datetime,
    ) -> None:
        """The postbacks a network sends for one event: the conversion, maybe a retry, maybe
        a status change days later."""
        rng = self.rng
        network = offer.network
        now = self.month.now
        base: dict[str, str] = {"cid": click_id, "txid": str(rng.randrange(10**9, 10**10))}
        if et:
            base["et"] = et
        if payout_range is not None:
            low, high = payout_range
            base["payout"] = f"{rng.uniform(low, high):.2f}" if high else "0"
        elif network.preset == "everflow" and rng.random() < 0.03:
            base["payout"] = "{payout_amount}"  # the network forgot to fill its macro in
        if network.secret:
            base["key"] = network.secret
        resolved_later = et != "registration"
        recent = now - at < timedelta(days=2)
        status = "approved"
        change: tuple[str, datetime] | None = None
        if resolved_later and rng.random() < (0.35 if recent else 0.1):
            status = "pending"
            settles = at + timedelta(hours=rng.uniform(4, 72))
            if settles <= now:
                final = "declined" if rng.random() < offer.declined * 3 else "approved"
                change = (final, settles)
        elif resolved_later and rng.random() < offer.declined:
            settles = at + timedelta(days=rng.uniform(1, 10))
            if settles <= now:
                change = ("declined", settles)

        def send(moment: datetime, status: str) -> None:
            values = dict(base)
            if status in network.statuses:
                values["status"] = network.statuses[status]
            self.postbacks.append(_Postback(moment, network.ip, values))

        send(at, status)
        if rng.random() < 0.03:  # a retry after a timeout on the network's side: a duplicate
            retry = at + timedelta(seconds=rng.uniform(5, 120))
            if retry <= now:
                send(retry, status)
        if change is not None:
            send(change[1], change[0])

    def stray_postbacks(self, visits: list[dict[str, Any]]) -> None:
        """What else reaches a live tracker: click IDs it never issued (another tracker's, a
        test), and a network's test before its secret was set up."""
        rng = self.rng
        month = self.month
        span = (month.now - month.start).total_seconds()
        strays = max(2, len(self.postbacks) // 150)
        for _ in range(strays):
            at = month.start + timedelta(seconds=rng.uniform(0, span))
            self.postbacks.append(
                _Postback(
                    at,
                    rng.choice(self.catalogue.networks).ip,
                    {"cid": demo_click_id(at - timedelta(days=40), rng), "payout": "1.00"},
                )
            )
        offers = self.catalogue.offers
        candidates = [
            visit
            for visit in visits[: len(visits) // 5]
            if visit["offer_id"] in offers and offers[visit["offer_id"]].network.secret
        ]
        if candidates:
            for visit in rng.sample(candidates, min(3, len(candidates))):
                network = offers[visit["offer_id"]].network
                at = visit["clicked_at"] + timedelta(minutes=rng.uniform(1, 30))
                if at <= month.now:
                    values = {"cid": visit["click_id"], "txid": "test"}
                    self.postbacks.append(_Postback(at, network.ip, values))


# --- putting it together -------------------------------------------------------------------------


def _store_visits(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """The hot path's own INSERT (unique-visit flag computed by the store, as for a live
    visit), executed for many rows in the caller's transaction."""
    statement = recorder.compiled_insert(conn.dialect)
    conn.exec_driver_sql(
        statement.sql, [statement.parameters(recorder.visit_row(dict(row))) for row in rows]
    )


def _send_postbacks(
    conn: Connection, postbacks: list[_Postback], currency: str, progress: Progress
) -> int:
    bar = progress("postbacks", len(postbacks))
    try:
        for postback in sorted(postbacks, key=lambda p: p.at):
            handle_postback(
                conn,
                PostbackRequest(
                    endpoint="postback",
                    method="GET",
                    ip=postback.ip,
                    raw_query=urlencode(postback.values),
                    raw_body="",
                    values=postback.values,
                    received_at=postback.at,
                    default_currency=currency,
                ),
            )
            bar.update(1)
    finally:
        bar.close()
    return len(postbacks)


def _spend(
    session: DbSession,
    generator: _Generator,
    catalogue: Catalogue,
    zone: ZoneInfo,
    rng: random.Random,
) -> None:
    """The buyer's daily spend on campaigns whose source sends no cost, as manual cost
    updates (one per local day, as a buyer types them in from the platform's dashboard)."""
    for profile in catalogue.campaigns:
        if not profile.daily_spend_per_visit:
            continue
        low, high = profile.daily_spend_per_visit
        per_day = generator.spend_days.get(profile.campaign.id, Counter())
        for day, visits in sorted(per_day.items()):
            amount = Decimal(f"{visits * rng.uniform(low, high):.2f}")
            try:
                apply_cost_update(
                    session,
                    CostUpdateRequest(
                        workspace_id=profile.campaign.workspace_id,
                        campaign_id=profile.campaign.id,
                        amount=amount,
                        date_from=day,
                        date_to=day,
                        tz=zone.key,
                    ),
                )
            except CostError:
                continue  # no visits that local day after all


def _summary(
    session: DbSession,
    workspace_id: int,
    workspace_name: str,
    options: DemoOptions,
    zone: ZoneInfo,
    start: datetime,
    now: datetime,
    stored: int,
    postbacks: int,
    currency: str,
    campaigns: int,
) -> DemoSummary:
    period = make_period(start.astimezone(zone).date(), now.astimezone(zone).date(), zone)
    totals = run_report(session, ReportQuery(workspace_id, (), period)).totals
    return DemoSummary(
        workspace=workspace_name,
        days=options.days,
        seed=options.seed,
        campaigns=campaigns,
        visits_stored=stored,
        visits=totals.visits,
        clicks=totals.clicks,
        conversions=totals.conversions,
        revenue=totals.revenue,
        cost=totals.cost,
        profit=totals.profit,
        currency=currency,
        postbacks=postbacks,
    )


def build_demo(
    session: DbSession,
    settings: Settings,
    options: DemoOptions,
    *,
    now: datetime | None = None,
    progress: Progress = no_progress,
) -> DemoSummary:
    """Fill the default workspace with ``options.days`` days of demo data up to ``now``.
    Raises ``DemoRefused`` when the store has campaigns (unless ``options.force``). Flushes
    only; the caller commits (one transaction: all of it or nothing)."""
    from tracker.auth.services import default_workspace

    if not 1 <= options.days <= MAX_DAYS:
        raise ValueError(f"days: from 1 to {MAX_DAYS}")
    if not 1 <= options.visits <= MAX_VISITS:
        raise ValueError(f"visits: from 1 to {MAX_VISITS:,}")
    existing = session.scalar(select(func.count()).select_from(Campaign)) or 0
    if existing and not options.force:
        raise DemoRefused(
            f"the store already has {existing} campaign{'s' if existing != 1 else ''}: demo "
            "data goes into an empty store (--force adds it beside them)"
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now - timedelta(days=options.days)
    zone = ZoneInfo(settings.timezone)
    rng = random.Random(options.seed)
    prior_state = read_state(session)
    rolled_up_before = prior_state.sealed_until if prior_state is not None else 0

    workspace = default_workspace(session)
    catalogue = create_catalogue(session, workspace.id, rng)
    session.flush()
    conn = session.connection()
    routes: dict[int, RouteTable] = {}
    for profile in catalogue.campaigns:
        snapshot = load_snapshot(conn, ident=profile.campaign.id, account_zone=zone)
        assert snapshot is not None  # just created
        routes[profile.campaign.id] = snapshot.routes

    geo = GeoResolver.from_settings(settings)
    generator = _Generator(rng, catalogue, routes, geo, _Month(rng, start, now), zone)
    shares = sum(p.share for p in catalogue.campaigns)
    visits: list[dict[str, Any]] = []
    bar = progress("visits", options.visits)
    try:
        for profile in catalogue.campaigns:
            count = math.floor(options.visits * profile.share / shares + 0.5)
            for visit in generator.visits(profile, count):
                visits.append(visit)
                bar.update(1)
    finally:
        bar.close()
    geo.close()
    visits.sort(key=lambda v: (v["created_at"], v["click_id"]))
    generator.stray_postbacks(visits)

    bar = progress("storing visits", len(visits))
    # PostgreSQL plans with the statistics it has, and a fresh store's say the visit table is
    # empty: each INSERT's unique-visit check (and later the cost updates) would then scan every
    # row written so far. Fresh statistics each time the table doubles keep it on its indexes.
    analyze = conn.dialect.name == "postgresql"
    next_analyze = INSERT_CHUNK
    try:
        for first in range(0, len(visits), INSERT_CHUNK):
            chunk = visits[first : first + INSERT_CHUNK]
            _store_visits(conn, chunk)
            bar.update(len(chunk))
            if analyze and first + len(chunk) >= next_analyze:
                conn.exec_driver_sql("ANALYZE visit")
                next_analyze *= 2
    finally:
        bar.close()
    if analyze:
        conn.exec_driver_sql("ANALYZE visit")
    postbacks = _send_postbacks(conn, generator.postbacks, settings.currency, progress)
    bar = progress("costs and reports", 2)
    try:
        _spend(session, generator, catalogue, zone, rng)
        bar.update(1)
        refresh_rollups(session, now)
        if rolled_up_before > epoch_seconds(start):
            # Hours sealed before these visits existed (a store that served before): roll
            # them up again, now with the demo's visits in them.
            rebuild_range(session, workspace.id, start, now)
        session.flush()
        bar.update(1)
    finally:
        bar.close()
    return _summary(
        session,
        workspace.id,
        workspace.name,
        options,
        zone,
        start,
        now,
        len(visits),
        postbacks,
        settings.currency,
        len(catalogue.campaigns),
    )
