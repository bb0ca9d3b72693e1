"""Test a visit: where a campaign would send a hypothetical visitor, and why, recording nothing.

The visitor (IP, user agent, language, referrer, time, URL parameters, client hints) goes
through the hot path's own enrichment (``enrich``, the process's GeoIP readers) and the
campaign's own compiled routing (``snapshot.load_snapshot``, read fresh, so a flow just saved is
the one tested). The answer names the rule, path, lander and offer the draw gave, each rule's
conditions with what the visitor showed them, the weights behind the draw, and the final URL
with its tokens. No visit is stored, no click ID is kept, and the snapshot cache is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from tracker.extensions import DbSession
from tracker.models.events import VAR_COUNT
from tracker.models.setup import Flow
from tracker.reports.costs import visit_cost
from tracker.setup.schemas import Strict, problem
from tracker.setup.services import NotFound, get_campaign
from tracker.tracking.clickid import new_click_id
from tracker.tracking.conditions import (
    ConditionError,
    compile_condition,
    observed,
    zone_named,
)
from tracker.tracking.enrich import (
    NO_HINTS,
    UA_MAX_LENGTH,
    ClientHints,
    apply_client_hints,
    normalize_ip,
    parse_user_agent,
    primary_language,
    referrer_domain,
)
from tracker.tracking.geoip import GeoInfo, GeoResolver
from tracker.tracking.routing import Destination, PathRoute, Route
from tracker.tracking.snapshot import CampaignSnapshot, load_snapshot
from tracker.tracking.tokens import visit_tokens
from tracker.tracking.unique import seen_recently

VAR_NAMES = tuple(f"var{n}" for n in range(1, VAR_COUNT + 1))
# What the answer shows of the visitor, in this order (the values rules can test).
SHOWN_FACTS = (
    "ip",
    "country",
    "region",
    "city",
    "isp",
    "asn",
    "connection_type",
    "device_type",
    "brand",
    "model",
    "os",
    "os_version",
    "browser",
    "browser_version",
    "is_bot",
    "language",
    "referrer",
    "referrer_domain",
    "user_agent",
    "is_unique",
    "external_id",
    "cost",
    *VAR_NAMES,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class ClientHintsIn(Strict):
    """The ``Sec-CH-UA-*`` headers a Chromium browser would send (as sent, quotes included)."""

    ua: ShortText = Field(default="", description='Sec-CH-UA, e.g. "Chromium";v="124"')
    model: ShortText = Field(default="", description='Sec-CH-UA-Model, e.g. "Pixel 8"')
    platform: ShortText = Field(default="", description='Sec-CH-UA-Platform, e.g. "Android"')
    platform_version: ShortText = Field(default="", description='e.g. "14.0.0"')
    full_version_list: Text = ""

    def as_hints(self) -> ClientHints:
        if not any((self.ua, self.model, self.platform, self.platform_version)):
            return NO_HINTS
        return ClientHints(
            ua=self.ua or '"Chromium";v="124"',
            model=self.model or None,
            platform=self.platform or None,
            platform_version=self.platform_version or None,
            full_version_list=self.full_version_list or None,
        )


class GeoOverrideIn(Strict):
    """Geo values to use instead of the GeoIP databases' answer (e.g. where none are set up)."""

    country: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2)] | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    isp: ShortText | None = None
    asn: int | None = Field(default=None, ge=0, le=2**32 - 1)
    connection_type: ShortText | None = None

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) != 2 or not value.isascii() or not value.isalpha():
            raise problem("country", "a country is an ISO 3166-1 alpha-2 code, e.g. FR")
        return value.upper()


class VisitorIn(Strict):
    """A hypothetical visitor of a campaign URL."""

    ip: Text = Field(default="", description="IPv4 or IPv6; empty: no geo")
    user_agent: Annotated[str, StringConstraints(max_length=UA_MAX_LENGTH)] = ""
    language: Text = Field(default="", description="Accept-Language, e.g. fr-FR,fr;q=0.9")
    referrer: Text = ""
    time: datetime | None = Field(
        default=None,
        description="ISO 8601; without an offset, in the account's time zone; default: now",
    )
    params: dict[ShortText, Text] = Field(
        default_factory=dict,
        max_length=100,
        description="the campaign URL's query parameters, as the traffic source would fill them",
    )
    variables: dict[str, Text] = Field(
        default_factory=dict, description="var1..var10 directly; they win over params"
    )
    client_hints: ClientHintsIn | None = None
    geo: GeoOverrideIn | None = None
    unique: bool | None = Field(
        default=None, description="treat the visit as unique or not; default: by stored visits"
    )

    @field_validator("ip")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        if not value:
            return ""
        normalised = normalize_ip(value)
        if not normalised:
            raise problem("ip", f"not an IPv4 or IPv6 address: {value!r}")
        return normalised

    @field_validator("variables")
    @classmethod
    def _known_variables(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(VAR_NAMES))
        if unknown:
            raise problem("variables", f"unknown variable {unknown[0]!r}; var1 to var{VAR_COUNT}")
        return value


# --- the answer -----------------------------------------------------------------------------------


class NamedOut(BaseModel):
    id: int
    name: str


class ShareOut(BaseModel):
    """One choice of a weighted draw and its chance."""

    label: str
    id: int | None = None
    weight: int
    share: float = Field(description="percent of visitors this choice gets")


class ConditionCheckOut(BaseModel):
    field: str
    op: str
    values: list[str]
    matched: bool
    visitor_value: str = Field(description="what the condition saw of the visitor")
    error: str | None = None


class RuleCheckOut(BaseModel):
    index: int
    name: str
    match: str
    timezone: str
    matched: bool
    taken: bool
    note: str = ""
    conditions: list[ConditionCheckOut]


class VisitTestOut(BaseModel):
    """Where the campaign sends this visitor, and why; nothing was recorded."""

    campaign: NamedOut
    flow: NamedOut | None
    time: datetime
    visitor: dict[str, Any] = Field(description="the visit's values as the hot path sees them")
    rules: list[RuleCheckOut]
    rule: str | None = Field(description="the rule that sent the visitor; null: default paths")
    path: str | None
    lander: NamedOut | None
    offer: NamedOut | None = Field(description="straight to this offer (no lander)")
    redirect_mode: str
    url: str | None = Field(description="where the visitor is sent, tokens filled in")
    click_id: str = Field(description="an example click ID: not stored, /click will not know it")
    path_shares: list[ShareOut]
    lander_shares: list[ShareOut]
    offer_shares: list[ShareOut]
    summary: str
    recorded: bool = False


# --- the service ----------------------------------------------------------------------------------


def _param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "") if name else ""


def visit_facts(
    snapshot: CampaignSnapshot,
    visitor: VisitorIn,
    geo: GeoResolver,
    at: datetime,
) -> dict[str, Any]:
    """The values a real visit of this visitor would have (what rules test and tokens show)."""
    hints = visitor.client_hints.as_hints() if visitor.client_hints else NO_HINTS
    user_agent = visitor.user_agent[:UA_MAX_LENGTH]
    device = apply_client_hints(parse_user_agent(user_agent), hints)
    found = geo.lookup(visitor.ip) if visitor.ip else GeoInfo()
    overrides = visitor.geo.model_dump(exclude_none=True) if visitor.geo else {}
    source = snapshot.source
    params = visitor.params
    facts: dict[str, Any] = {
        "click_id": new_click_id(),
        "created_at": at,
        "workspace_id": snapshot.workspace_id,
        "campaign_id": snapshot.id,
        "traffic_source_id": source.id,
        "flow_id": snapshot.routes.flow_id,
        "rule": None,
        "path": None,
        "lander_id": None,
        "offer_id": None,
        "ip": visitor.ip,
        "user_agent": user_agent,
        "is_bot": device.is_bot,
        "device_type": device.device_type,
        "brand": device.brand,
        "model": device.model,
        "os": device.os,
        "os_version": device.os_version,
        "browser": device.browser,
        "browser_version": device.browser_version,
        "country": overrides.get("country", found.country),
        "region": overrides.get("region", found.region),
        "city": overrides.get("city", found.city),
        "isp": overrides.get("isp", found.isp),
        "asn": overrides.get("asn", found.asn),
        "connection_type": overrides.get("connection_type", found.connection_type),
        "language": primary_language(visitor.language),
        "referrer": visitor.referrer,
        "referrer_domain": referrer_domain(visitor.referrer),
        "external_id": _param(params, source.external_id_param),
        "cost": visit_cost(
            snapshot.cost_model, snapshot.cost_value, _param(params, source.cost_param) or None
        ),
    }
    for n, name in enumerate(VAR_NAMES):
        facts[name] = visitor.variables.get(name, _param(params, source.var_params[n]))
    return facts


def _shares(items: Sequence[tuple[str, int | None, int]]) -> list[ShareOut]:
    total = sum(weight for _label, _id, weight in items)
    return [
        ShareOut(
            label=label,
            id=ident,
            weight=weight,
            share=round(weight * 100 / total, 2) if total else 0.0,
        )
        for label, ident, weight in items
    ]


def _destination_shares(destinations: Sequence[Destination]) -> list[ShareOut]:
    return _shares([(d.name, d.id, d.weight) for d in destinations])


def _path_shares(paths: Sequence[PathRoute]) -> list[ShareOut]:
    return _shares([(p.label, None, p.weight if p.is_live else 0) for p in paths])


def _zone_label(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def _rule_checks(
    rules: Sequence[Any], facts: Mapping[str, Any], account_zone: tzinfo, taken: str | None
) -> list[RuleCheckOut]:
    """Each stored rule, each of its conditions checked against the visitor."""
    checks: list[RuleCheckOut] = []
    taken_seen = False
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        name = str(rule.get("name") or f"rule {index + 1}")
        match = str(rule.get("match") or "all")
        note = ""
        try:
            zone = zone_named(rule.get("timezone"), account_zone)
        except ConditionError as exc:
            zone, note = account_zone, f"left out of routing: {exc}"
        results: list[ConditionCheckOut] = []
        for condition in rule.get("conditions") or []:
            if not isinstance(condition, Mapping):
                continue
            field, op = str(condition.get("field")), str(condition.get("op"))
            values = [str(v) for v in condition.get("values") or []]
            try:
                matched = compile_condition(condition, zone)(facts)
                error = None
            except ConditionError as exc:
                matched, error = False, str(exc)
                note = note or f"left out of routing: {exc}"
            results.append(
                ConditionCheckOut(
                    field=field,
                    op=op,
                    values=values,
                    matched=matched,
                    visitor_value=observed(field, facts, zone),
                    error=error,
                )
            )
        hits = [c.matched for c in results]
        rule_matched = not note and (any(hits) if match == "any" else all(hits))
        reached = not taken_seen
        is_taken = reached and rule_matched and taken == name
        taken_seen = taken_seen or is_taken
        if rule_matched and not reached:
            note = "matched too, but a rule above it was taken first"
        elif rule_matched and not is_taken:
            note = "matched, but every path of it is paused (or has no live offer): passed on"
        checks.append(
            RuleCheckOut(
                index=index,
                name=name,
                match=match,
                timezone=_zone_label(zone),
                matched=rule_matched,
                taken=is_taken,
                note=note,
                conditions=results,
            )
        )
    return checks


def _shown_visitor(facts: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key in SHOWN_FACTS:
        value = facts.get(key)
        shown[key] = str(value) if isinstance(value, Decimal) else value
    return shown


def _summary(route: Route | None, flow: Flow | None) -> str:
    if route is None:
        return "Nowhere: every path, lander and offer this visitor could get is paused."
    where = (
        f"lander {route.lander.name!r}"
        if route.lander is not None
        else f"offer {route.offer.name!r}"
        if route.offer is not None
        else "nowhere"
    )
    if flow is None:
        return f"The campaign's own path sends this visitor to {where}."
    if route.rule is None:
        return f"No rule matched: the default paths send this visitor to {where}."
    return f"Rule {route.rule!r} matched: path {route.path.label!r} sends this visitor to {where}."


def simulate_visit(
    session: DbSession,
    workspace_id: int,
    campaign_id: int,
    visitor: VisitorIn,
    *,
    geo: GeoResolver,
    account_zone: tzinfo,
    now: datetime,
) -> VisitTestOut:
    """Where a campaign would send this visitor and why, recording nothing."""
    campaign = get_campaign(session, workspace_id, campaign_id)
    at = visitor.time or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=account_zone)
    at = at.astimezone(UTC)
    conn = session.connection()
    snapshot = load_snapshot(conn, ident=campaign.id, account_zone=account_zone)
    if snapshot is None:  # pragma: no cover - get_campaign found it in this transaction
        raise NotFound("no such campaign")
    facts = visit_facts(snapshot, visitor, geo, at)
    facts["is_unique"] = (
        visitor.unique
        if visitor.unique is not None
        else not seen_recently(conn, campaign.id, facts["ip"], facts["user_agent"], at)
    )
    routes = snapshot.routes
    route = routes.route(facts)

    flow = session.get(Flow, routes.flow_id) if routes.flow_id is not None else None
    stored_rules = flow.rules if flow is not None else []
    rules = _rule_checks(
        stored_rules if isinstance(stored_rules, list) else [],
        facts,
        account_zone,
        route.rule if route is not None else None,
    )

    mode = snapshot.redirect_mode
    url = None
    lander = offer = None
    path_pool: Sequence[PathRoute] = routes.default_paths
    if route is not None:
        if route.rule is not None:
            path_pool = next(r.paths for r in routes.rules if r.name == route.rule)
        mode = route.path.redirect_mode or mode
        facts["rule"], facts["path"] = route.rule, route.path.label
        destination = route.lander or route.offer
        if route.lander is not None:
            facts["lander_id"] = route.lander.id
            lander = NamedOut(id=route.lander.id, name=route.lander.name)
        elif route.offer is not None:
            facts["offer_id"] = route.offer.id
            offer = NamedOut(id=route.offer.id, name=route.offer.name)
        if destination is not None:
            tokens = visit_tokens(
                facts,
                campaign_name=snapshot.name,
                traffic_source_name=snapshot.source.name,
                lander_name=route.lander.name if route.lander else "",
                offer_name=route.offer.name if route.offer else "",
            )
            url = destination.url.render(tokens)
    return VisitTestOut(
        campaign=NamedOut(id=campaign.id, name=campaign.name),
        flow=NamedOut(id=flow.id, name=flow.name) if flow is not None else None,
        time=at,
        visitor=_shown_visitor(facts),
        rules=rules,
        rule=route.rule if route is not None else None,
        path=route.path.label if route is not None else None,
        lander=lander,
        offer=offer,
        redirect_mode=mode.value,
        url=url,
        click_id=facts["click_id"],
        path_shares=_path_shares(path_pool) if flow is not None else [],
        lander_shares=_destination_shares(route.path.landers) if route else [],
        offer_shares=_destination_shares(route.path.offers) if route else [],
        summary=_summary(route, flow),
    )


__all__ = ["VisitTestOut", "VisitorIn", "simulate_visit", "visit_facts"]
