"""Setup services: create, change, archive, list and read traffic sources, affiliate networks,
offers, landers, flows and campaigns.

Shared by the UI, the API and the CLI. Every function takes a session and the acting workspace
id; objects of other workspaces are "not found". Input is a validated ``<Thing>In`` (or a plain
mapping, validated here); a change is a ``<Thing>Patch`` or a mapping of the fields to change,
merged onto the current values and validated whole. Functions flush, never commit; every write
bumps the setup version so the hot path refreshes its cached campaigns.

Errors: ``NotFound`` (no such object in the workspace) and ``InvalidSetup`` (``fields`` maps each
bad place, e.g. ``rules.0.paths.1.offers.0.id``, to what is wrong there).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from tracker.extensions import DbSession
from tracker.models.setup import (
    AffiliateNetwork,
    Campaign,
    Flow,
    Lander,
    Offer,
    TrafficSource,
)
from tracker.models.types import utcnow
from tracker.setup import presets, schemas, urls
from tracker.store import bump_setup_version

SetupObject = TypeVar("SetupObject", TrafficSource, AffiliateNetwork, Offer, Lander, Flow, Campaign)
In = TypeVar("In", bound=BaseModel)

CAMPAIGN_KEY_ALPHABET = string.ascii_letters + string.digits
# 62^10 ≈ 8e17 keys: not guessable by scanning, short enough to read out.
CAMPAIGN_KEY_LENGTH = 10


class SetupError(Exception):
    """A setup request that cannot be honoured."""

    code = "invalid"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(SetupError):
    """No such object in this workspace (whether it exists elsewhere is not told)."""

    code = "not_found"


class InvalidSetup(SetupError):
    """The input breaks a rule; ``fields`` says where and why."""

    code = "invalid"

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> InvalidSetup:
        place, why = next(iter(fields.items()))
        return cls(f"{place}: {why}", fields)


@dataclass(frozen=True)
class Page:
    """A page of a list, newest first, and how many there are in all."""

    items: list[Any]
    total: int


# --- shared plumbing -----------------------------------------------------------------------------


def _validated(model: type[In], data: BaseModel | Mapping[str, Any]) -> In:
    if isinstance(data, model):
        return data
    raw = data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else dict(data)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidSetup.from_fields(schemas.fields_from_validation_error(exc)) from exc


def _merged(
    model: type[In],
    patch: type[BaseModel],
    current: dict[str, Any],
    changes: BaseModel | Mapping[str, Any],
) -> In:
    """The object's current values with ``changes`` laid over them, validated whole."""
    delta = _validated(patch, changes).model_dump(exclude_unset=True)
    return _validated(model, {**current, **delta})


def _get(
    session: DbSession, model: type[SetupObject], workspace_id: int, object_id: int, what: str
) -> SetupObject:
    found = session.get(model, object_id) if 1 <= object_id <= schemas.MAX_ID else None
    if found is None or found.workspace_id != workspace_id:
        raise NotFound(f"no {what} {object_id} in this workspace")
    return found


def _list(
    session: DbSession,
    model: type[SetupObject],
    workspace_id: int,
    *,
    include_archived: bool,
    limit: int | None,
    offset: int,
    name_contains: str | None,
) -> Page:
    query = select(model).where(model.workspace_id == workspace_id)
    if not include_archived:
        query = query.where(model.archived_at.is_(None))
    name_contains = (name_contains or "").replace("\x00", "")
    if name_contains:
        escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(model.name.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    # Past any possible row, and within what the store accepts as an OFFSET.
    offset = min(max(offset, 0), 2**62)
    ordered = query.order_by(model.created_at.desc(), model.id.desc()).offset(offset)
    if limit is not None:
        ordered = ordered.limit(limit)
    return Page(items=list(session.scalars(ordered)), total=total)


def _archive(session: DbSession, obj: SetupObject) -> SetupObject:
    if obj.archived_at is None:
        obj.archived_at = utcnow()
        session.flush()
        bump_setup_version(session)
    return obj


def _restore(session: DbSession, obj: SetupObject) -> SetupObject:
    if obj.archived_at is not None:
        obj.archived_at = None
        session.flush()
        bump_setup_version(session)
    return obj


def _saved(session: DbSession, obj: SetupObject) -> SetupObject:
    session.add(obj)
    session.flush()
    bump_setup_version(session)
    return obj


def _check_refs(
    session: DbSession,
    model: type[SetupObject],
    workspace_id: int,
    refs: Iterable[tuple[int, str]],
    what: str,
    *,
    already_used: set[int] | frozenset[int] = frozenset(),
) -> dict[str, str]:
    """Problems with referenced ids: unknown in the workspace, or archived (an archived object the
    one being changed already used stays allowed: its ads keep running)."""
    refs = list(refs)
    if not refs:
        return {}
    ids = {ref_id for ref_id, _ in refs}
    rows = session.execute(
        select(model.id, model.archived_at).where(
            model.workspace_id == workspace_id, model.id.in_(ids)
        )
    ).all()
    archived = {row.id: row.archived_at is not None for row in rows}
    problems: dict[str, str] = {}
    for ref_id, place in refs:
        if ref_id not in archived:
            problems.setdefault(place, f"no {what} {ref_id} in this workspace")
        elif archived[ref_id] and ref_id not in already_used:
            problems.setdefault(place, f"{what} {ref_id} is archived")
    return problems


def _raise_if(problems: dict[str, str]) -> None:
    if problems:
        raise InvalidSetup.from_fields(problems)


def workspace_of(session: DbSession, model: type[SetupObject], object_id: int) -> int | None:
    """The workspace an object belongs to, or None when there is no such object."""
    if not 1 <= object_id <= schemas.MAX_ID:
        return None
    return session.scalar(select(model.workspace_id).where(model.id == object_id))


# --- traffic sources -----------------------------------------------------------------------------


def _traffic_source_values(source: TrafficSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "external_id_param": source.external_id_param,
        "external_id_placeholder": source.external_id_placeholder,
        "cost_param": source.cost_param,
        "cost_placeholder": source.cost_placeholder,
        "variables": list(source.variables or []),
        "postback_url": source.postback_url,
        "postback_statuses": list(source.postback_statuses or []),
        "postback_first_only": source.postback_first_only,
        "postback_success_pattern": source.postback_success_pattern,
    }


def _apply_traffic_source(source: TrafficSource, data: schemas.TrafficSourceIn) -> None:
    source.name = data.name
    source.external_id_param = data.external_id_param
    source.external_id_placeholder = data.external_id_placeholder
    source.cost_param = data.cost_param
    source.cost_placeholder = data.cost_placeholder
    source.variables = [v.model_dump() for v in data.variables]
    source.postback_url = data.postback_url
    source.postback_statuses = list(data.postback_statuses)
    source.postback_first_only = data.postback_first_only
    source.postback_success_pattern = data.postback_success_pattern


def create_traffic_source(
    session: DbSession, workspace_id: int, data: schemas.TrafficSourceIn | Mapping[str, Any]
) -> TrafficSource:
    """Create a traffic source (a ``preset`` id fills the fields not given)."""
    valid = _validated(schemas.TrafficSourceIn, data)
    source = TrafficSource(workspace_id=workspace_id, preset=valid.preset)
    _apply_traffic_source(source, valid)
    return _saved(session, source)


def update_traffic_source(
    session: DbSession,
    workspace_id: int,
    source_id: int,
    changes: BaseModel | Mapping[str, Any],
) -> TrafficSource:
    """Change some fields of a traffic source."""
    source = get_traffic_source(session, workspace_id, source_id)
    valid = _merged(
        schemas.TrafficSourceIn,
        schemas.TrafficSourcePatch,
        _traffic_source_values(source),
        changes,
    )
    _apply_traffic_source(source, valid)
    return _saved(session, source)


def get_traffic_source(session: DbSession, workspace_id: int, source_id: int) -> TrafficSource:
    """One traffic source of the workspace, archived or not."""
    return _get(session, TrafficSource, workspace_id, source_id, "traffic source")


def list_traffic_sources(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's traffic sources, newest first."""
    return _list(
        session,
        TrafficSource,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_traffic_source(session: DbSession, workspace_id: int, source_id: int) -> TrafficSource:
    """Archive a traffic source: hidden from lists, its campaigns keep running."""
    return _archive(session, get_traffic_source(session, workspace_id, source_id))


def restore_traffic_source(session: DbSession, workspace_id: int, source_id: int) -> TrafficSource:
    """Bring an archived traffic source back."""
    return _restore(session, get_traffic_source(session, workspace_id, source_id))


def describe_traffic_source(source: TrafficSource) -> schemas.TrafficSourceOut:
    """How a traffic source is shown."""
    return schemas.TrafficSourceOut(
        id=source.id,
        workspace_id=source.workspace_id,
        name=source.name,
        created_at=source.created_at,
        updated_at=source.updated_at,
        archived_at=source.archived_at,
        preset=source.preset,
        external_id_param=source.external_id_param,
        external_id_placeholder=source.external_id_placeholder,
        cost_param=source.cost_param,
        cost_placeholder=source.cost_placeholder,
        variables=[schemas.VariableOut.model_validate(v) for v in source.variables or []],
        postback_url=source.postback_url,
        postback_statuses=list(source.postback_statuses or []),
        postback_first_only=source.postback_first_only,
        postback_success_pattern=source.postback_success_pattern,
        tracking_parameters=urls.query_string(urls.tracking_parameters(source)),
    )


# --- affiliate networks --------------------------------------------------------------------------


def _affiliate_network_values(network: AffiliateNetwork) -> dict[str, Any]:
    return {
        "name": network.name,
        "postback_secret": network.postback_secret,
        "allowed_ips": list(network.allowed_ips or []),
        "accept_duplicates": network.accept_duplicates,
        "status_map": dict(network.status_map or {}),
        "param_map": dict(network.param_map or {}),
    }


def _apply_affiliate_network(network: AffiliateNetwork, data: schemas.AffiliateNetworkIn) -> None:
    network.name = data.name
    network.postback_secret = data.postback_secret
    network.allowed_ips = list(data.allowed_ips)
    network.accept_duplicates = data.accept_duplicates
    network.status_map = dict(data.status_map)
    network.param_map = dict(data.param_map)


def create_affiliate_network(
    session: DbSession, workspace_id: int, data: schemas.AffiliateNetworkIn | Mapping[str, Any]
) -> AffiliateNetwork:
    """Create an affiliate network (a ``preset`` id fills the fields not given)."""
    valid = _validated(schemas.AffiliateNetworkIn, data)
    network = AffiliateNetwork(workspace_id=workspace_id, preset=valid.preset)
    _apply_affiliate_network(network, valid)
    return _saved(session, network)


def update_affiliate_network(
    session: DbSession,
    workspace_id: int,
    network_id: int,
    changes: BaseModel | Mapping[str, Any],
) -> AffiliateNetwork:
    """Change some fields of an affiliate network."""
    network = get_affiliate_network(session, workspace_id, network_id)
    valid = _merged(
        schemas.AffiliateNetworkIn,
        schemas.AffiliateNetworkPatch,
        _affiliate_network_values(network),
        changes,
    )
    _apply_affiliate_network(network, valid)
    return _saved(session, network)


def get_affiliate_network(
    session: DbSession, workspace_id: int, network_id: int
) -> AffiliateNetwork:
    """One affiliate network of the workspace, archived or not."""
    return _get(session, AffiliateNetwork, workspace_id, network_id, "affiliate network")


def list_affiliate_networks(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's affiliate networks, newest first."""
    return _list(
        session,
        AffiliateNetwork,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_affiliate_network(
    session: DbSession, workspace_id: int, network_id: int
) -> AffiliateNetwork:
    """Archive an affiliate network: hidden from lists, its offers keep working."""
    return _archive(session, get_affiliate_network(session, workspace_id, network_id))


def restore_affiliate_network(
    session: DbSession, workspace_id: int, network_id: int
) -> AffiliateNetwork:
    """Bring an archived affiliate network back."""
    return _restore(session, get_affiliate_network(session, workspace_id, network_id))


def describe_affiliate_network(
    network: AffiliateNetwork, base_url: str
) -> schemas.AffiliateNetworkOut:
    """How an affiliate network is shown, with the postback URL to paste into it."""
    return schemas.AffiliateNetworkOut(
        id=network.id,
        workspace_id=network.workspace_id,
        name=network.name,
        created_at=network.created_at,
        updated_at=network.updated_at,
        archived_at=network.archived_at,
        preset=network.preset,
        postback_secret=network.postback_secret,
        allowed_ips=list(network.allowed_ips or []),
        accept_duplicates=network.accept_duplicates,
        status_map=dict(network.status_map or {}),
        param_map=dict(network.param_map or {}),
        postback_url=urls.network_postback_url(base_url, network),
        offer_url_suffix=urls.offer_url_hint(network),
    )


# --- offers --------------------------------------------------------------------------------------


def _offer_values(offer: Offer) -> dict[str, Any]:
    return {
        "name": offer.name,
        "url": offer.url,
        "affiliate_network_id": offer.affiliate_network_id,
        "payout": offer.payout,
        "currency": offer.currency,
    }


def _apply_offer(
    session: DbSession, offer: Offer, workspace_id: int, data: schemas.OfferIn
) -> None:
    if data.affiliate_network_id is not None:
        _raise_if(
            _check_refs(
                session,
                AffiliateNetwork,
                workspace_id,
                [(data.affiliate_network_id, "affiliate_network_id")],
                "affiliate network",
                already_used={offer.affiliate_network_id} if offer.affiliate_network_id else set(),
            )
        )
    offer.name = data.name
    offer.url = data.url
    offer.affiliate_network_id = data.affiliate_network_id
    offer.payout = data.payout
    offer.currency = data.currency


def create_offer(
    session: DbSession, workspace_id: int, data: schemas.OfferIn | Mapping[str, Any]
) -> Offer:
    """Create an offer."""
    valid = _validated(schemas.OfferIn, data)
    offer = Offer(workspace_id=workspace_id)
    _apply_offer(session, offer, workspace_id, valid)
    return _saved(session, offer)


def update_offer(
    session: DbSession, workspace_id: int, offer_id: int, changes: BaseModel | Mapping[str, Any]
) -> Offer:
    """Change some fields of an offer."""
    offer = get_offer(session, workspace_id, offer_id)
    valid = _merged(schemas.OfferIn, schemas.OfferPatch, _offer_values(offer), changes)
    _apply_offer(session, offer, workspace_id, valid)
    return _saved(session, offer)


def get_offer(session: DbSession, workspace_id: int, offer_id: int) -> Offer:
    """One offer of the workspace, archived or not."""
    return _get(session, Offer, workspace_id, offer_id, "offer")


def list_offers(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's offers, newest first."""
    return _list(
        session,
        Offer,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_offer(session: DbSession, workspace_id: int, offer_id: int) -> Offer:
    """Archive an offer: hidden from lists and pickers, paths using it keep working."""
    return _archive(session, get_offer(session, workspace_id, offer_id))


def restore_offer(session: DbSession, workspace_id: int, offer_id: int) -> Offer:
    """Bring an archived offer back."""
    return _restore(session, get_offer(session, workspace_id, offer_id))


def describe_offer(offer: Offer) -> schemas.OfferOut:
    """How an offer is shown."""
    return schemas.OfferOut(
        id=offer.id,
        workspace_id=offer.workspace_id,
        name=offer.name,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
        archived_at=offer.archived_at,
        url=offer.url,
        affiliate_network_id=offer.affiliate_network_id,
        payout=offer.payout,
        currency=offer.currency,
    )


# --- landers -------------------------------------------------------------------------------------


def _lander_values(lander: Lander) -> dict[str, Any]:
    return {"name": lander.name, "url": lander.url, "offer_count": lander.offer_count}


def _apply_lander(lander: Lander, data: schemas.LanderIn) -> None:
    lander.name = data.name
    lander.url = data.url
    lander.offer_count = data.offer_count


def create_lander(
    session: DbSession, workspace_id: int, data: schemas.LanderIn | Mapping[str, Any]
) -> Lander:
    """Create a lander."""
    valid = _validated(schemas.LanderIn, data)
    lander = Lander(workspace_id=workspace_id)
    _apply_lander(lander, valid)
    return _saved(session, lander)


def update_lander(
    session: DbSession, workspace_id: int, lander_id: int, changes: BaseModel | Mapping[str, Any]
) -> Lander:
    """Change some fields of a lander."""
    lander = get_lander(session, workspace_id, lander_id)
    valid = _merged(schemas.LanderIn, schemas.LanderPatch, _lander_values(lander), changes)
    _apply_lander(lander, valid)
    return _saved(session, lander)


def get_lander(session: DbSession, workspace_id: int, lander_id: int) -> Lander:
    """One lander of the workspace, archived or not."""
    return _get(session, Lander, workspace_id, lander_id, "lander")


def list_landers(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's landers, newest first."""
    return _list(
        session,
        Lander,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_lander(session: DbSession, workspace_id: int, lander_id: int) -> Lander:
    """Archive a lander: hidden from lists and pickers, paths using it keep working."""
    return _archive(session, get_lander(session, workspace_id, lander_id))


def restore_lander(session: DbSession, workspace_id: int, lander_id: int) -> Lander:
    """Bring an archived lander back."""
    return _restore(session, get_lander(session, workspace_id, lander_id))


def describe_lander(lander: Lander) -> schemas.LanderOut:
    """How a lander is shown."""
    return schemas.LanderOut(
        id=lander.id,
        workspace_id=lander.workspace_id,
        name=lander.name,
        created_at=lander.created_at,
        updated_at=lander.updated_at,
        archived_at=lander.archived_at,
        url=lander.url,
        offer_count=lander.offer_count,
    )


# --- paths and flows -----------------------------------------------------------------------------


def _stored(document: BaseModel) -> dict[str, Any]:
    """A validated path or rule as stored: what was given (normalised), no filled-in defaults,
    so that it reads back the way it was written. Readers apply the same defaults."""
    stored: dict[str, Any] = document.model_dump(mode="json", exclude_unset=True)
    return stored


def _path_refs(
    path: Mapping[str, Any], place: str
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(lander refs, offer refs) of one stored or validated path, each with its place."""
    landers = [
        (int(ref["id"]), f"{place}.landers.{i}.id") for i, ref in enumerate(path.get("landers", []))
    ]
    offers = [
        (int(ref["id"]), f"{place}.offers.{i}.id") for i, ref in enumerate(path.get("offers", []))
    ]
    return landers, offers


def _paths_refs(
    paths: Iterable[tuple[Mapping[str, Any], str]],
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    landers: list[tuple[int, str]] = []
    offers: list[tuple[int, str]] = []
    for path, place in paths:
        path_landers, path_offers = _path_refs(path, place)
        landers += path_landers
        offers += path_offers
    return landers, offers


def _check_paths(
    session: DbSession,
    workspace_id: int,
    new: Iterable[tuple[Mapping[str, Any], str]],
    old: Iterable[tuple[Mapping[str, Any], str]] = (),
) -> None:
    """Every lander and offer a path names exists in the workspace (archived ones only where the
    object already used them)."""
    landers, offers = _paths_refs(new)
    old_landers, old_offers = _paths_refs(old)
    problems = _check_refs(
        session,
        Lander,
        workspace_id,
        landers,
        "lander",
        already_used={i for i, _ in old_landers},
    )
    problems.update(
        _check_refs(
            session,
            Offer,
            workspace_id,
            offers,
            "offer",
            already_used={i for i, _ in old_offers},
        )
    )
    _raise_if(problems)


def _flow_paths(
    rules: Iterable[Mapping[str, Any]], default_paths: Iterable[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], str]]:
    places: list[tuple[Mapping[str, Any], str]] = []
    for r, rule in enumerate(rules):
        places += [(p, f"rules.{r}.paths.{i}") for i, p in enumerate(rule.get("paths", []))]
    places += [(p, f"default_paths.{i}") for i, p in enumerate(default_paths)]
    return places


def _flow_values(flow: Flow) -> dict[str, Any]:
    return {
        "name": flow.name,
        "rules": list(flow.rules or []),
        "default_paths": list(flow.default_paths or []),
    }


def _apply_flow(session: DbSession, flow: Flow, workspace_id: int, data: schemas.FlowIn) -> None:
    rules = [_stored(rule) for rule in data.rules]
    default_paths = [_stored(path) for path in data.default_paths]
    _check_paths(
        session,
        workspace_id,
        _flow_paths(rules, default_paths),
        _flow_paths(flow.rules or [], flow.default_paths or []),
    )
    flow.name = data.name
    flow.rules = rules
    flow.default_paths = default_paths


def create_flow(
    session: DbSession, workspace_id: int, data: schemas.FlowIn | Mapping[str, Any]
) -> Flow:
    """Create a flow."""
    valid = _validated(schemas.FlowIn, data)
    flow = Flow(workspace_id=workspace_id)
    _apply_flow(session, flow, workspace_id, valid)
    return _saved(session, flow)


def update_flow(
    session: DbSession, workspace_id: int, flow_id: int, changes: BaseModel | Mapping[str, Any]
) -> Flow:
    """Change some fields of a flow (``rules`` and ``default_paths`` are replaced whole)."""
    flow = get_flow(session, workspace_id, flow_id)
    valid = _merged(schemas.FlowIn, schemas.FlowPatch, _flow_values(flow), changes)
    _apply_flow(session, flow, workspace_id, valid)
    return _saved(session, flow)


def get_flow(session: DbSession, workspace_id: int, flow_id: int) -> Flow:
    """One flow of the workspace, archived or not."""
    return _get(session, Flow, workspace_id, flow_id, "flow")


def list_flows(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's flows, newest first."""
    return _list(
        session,
        Flow,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_flow(session: DbSession, workspace_id: int, flow_id: int) -> Flow:
    """Archive a flow: hidden from lists and pickers, campaigns using it keep routing."""
    return _archive(session, get_flow(session, workspace_id, flow_id))


def restore_flow(session: DbSession, workspace_id: int, flow_id: int) -> Flow:
    """Bring an archived flow back."""
    return _restore(session, get_flow(session, workspace_id, flow_id))


def describe_flow(flow: Flow) -> schemas.FlowOut:
    """How a flow is shown."""
    return schemas.FlowOut(
        id=flow.id,
        workspace_id=flow.workspace_id,
        name=flow.name,
        created_at=flow.created_at,
        updated_at=flow.updated_at,
        archived_at=flow.archived_at,
        rules=[schemas.RuleOut.model_validate(rule) for rule in flow.rules or []],
        default_paths=[schemas.PathOut.model_validate(p) for p in flow.default_paths or []],
    )


# --- campaigns -----------------------------------------------------------------------------------


def new_campaign_key(session: DbSession) -> str:
    """A fresh campaign key: 10 random letters and digits, unused so far."""
    for _ in range(20):
        key = "".join(secrets.choice(CAMPAIGN_KEY_ALPHABET) for _ in range(CAMPAIGN_KEY_LENGTH))
        if session.scalar(select(Campaign.id).where(Campaign.key == key)) is None:
            return key
    raise RuntimeError("could not draw an unused campaign key")  # 20 collisions: never


def _campaign_values(campaign: Campaign) -> dict[str, Any]:
    destination: dict[str, Any] = (
        {"flow_id": campaign.flow_id} if campaign.flow_id is not None else {"path": campaign.path}
    )
    return {
        "name": campaign.name,
        "traffic_source_id": campaign.traffic_source_id,
        "cost_model": campaign.cost_model,
        "cost_value": campaign.cost_value,
        "destination": destination,
        "redirect_mode": campaign.redirect_mode,
        "critical_client_hints": campaign.critical_client_hints,
    }


def _apply_campaign(
    session: DbSession, campaign: Campaign, workspace_id: int, data: schemas.CampaignIn
) -> None:
    problems = _check_refs(
        session,
        TrafficSource,
        workspace_id,
        [(data.traffic_source_id, "traffic_source_id")],
        "traffic source",
        already_used={campaign.traffic_source_id} if campaign.traffic_source_id else set(),
    )
    path = _stored(data.destination.path) if data.destination.path else None
    if data.destination.flow_id is not None:
        problems.update(
            _check_refs(
                session,
                Flow,
                workspace_id,
                [(data.destination.flow_id, "destination.flow_id")],
                "flow",
                already_used={campaign.flow_id} if campaign.flow_id else set(),
            )
        )
    _raise_if(problems)
    if path is not None:
        old = [(campaign.path, "destination.path")] if campaign.path else []
        _check_paths(session, workspace_id, [(path, "destination.path")], old)
    campaign.name = data.name
    campaign.traffic_source_id = data.traffic_source_id
    campaign.cost_model = data.cost_model
    campaign.cost_value = data.cost_value
    campaign.flow_id = data.destination.flow_id
    campaign.path = path
    campaign.redirect_mode = data.redirect_mode
    campaign.critical_client_hints = data.critical_client_hints


def create_campaign(
    session: DbSession, workspace_id: int, data: schemas.CampaignIn | Mapping[str, Any]
) -> Campaign:
    """Create a campaign with a fresh key."""
    valid = _validated(schemas.CampaignIn, data)
    campaign = Campaign(workspace_id=workspace_id, key=new_campaign_key(session))
    _apply_campaign(session, campaign, workspace_id, valid)
    return _saved(session, campaign)


def update_campaign(
    session: DbSession,
    workspace_id: int,
    campaign_id: int,
    changes: BaseModel | Mapping[str, Any],
) -> Campaign:
    """Change some fields of a campaign (its key stays: the ads use it)."""
    campaign = get_campaign(session, workspace_id, campaign_id)
    delta = _validated(schemas.CampaignPatch, changes).model_dump(exclude_unset=True)
    # flow_id or path beside the other fields is shorthand for a new destination.
    moved = {k: v for k in ("flow_id", "path") if (v := delta.pop(k, None)) is not None}
    if moved and "destination" not in delta:
        delta["destination"] = moved
    valid = _validated(schemas.CampaignIn, {**_campaign_values(campaign), **delta})
    _apply_campaign(session, campaign, workspace_id, valid)
    return _saved(session, campaign)


def get_campaign(session: DbSession, workspace_id: int, campaign_id: int) -> Campaign:
    """One campaign of the workspace, archived or not."""
    return _get(session, Campaign, workspace_id, campaign_id, "campaign")


def list_campaigns(
    session: DbSession,
    workspace_id: int,
    *,
    include_archived: bool = False,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
) -> Page:
    """The workspace's campaigns, newest first."""
    return _list(
        session,
        Campaign,
        workspace_id,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
        name_contains=name_contains,
    )


def archive_campaign(session: DbSession, workspace_id: int, campaign_id: int) -> Campaign:
    """Archive a campaign: hidden from lists; its URL keeps redirecting and reports keep it."""
    return _archive(session, get_campaign(session, workspace_id, campaign_id))


def restore_campaign(session: DbSession, workspace_id: int, campaign_id: int) -> Campaign:
    """Bring an archived campaign back."""
    return _restore(session, get_campaign(session, workspace_id, campaign_id))


def describe_campaigns(
    session: DbSession, campaigns: list[Campaign], base_url: str
) -> list[schemas.CampaignOut]:
    """How campaigns are shown, each with its URL (one query for all their sources)."""
    source_ids = {c.traffic_source_id for c in campaigns}
    sources = {
        s.id: s
        for s in session.scalars(select(TrafficSource).where(TrafficSource.id.in_(source_ids)))
    }
    return [_describe_campaign(c, sources.get(c.traffic_source_id), base_url) for c in campaigns]


def describe_campaign(session: DbSession, campaign: Campaign, base_url: str) -> schemas.CampaignOut:
    """How a campaign is shown, with the URL to paste into the ad platform."""
    return describe_campaigns(session, [campaign], base_url)[0]


def _describe_campaign(
    campaign: Campaign, source: TrafficSource | None, base_url: str
) -> schemas.CampaignOut:
    path = schemas.PathOut.model_validate(campaign.path) if campaign.path is not None else None
    destination: schemas.DestinationFlowOut | schemas.DestinationPathOut
    if campaign.flow_id is not None:
        destination = schemas.DestinationFlowOut(flow_id=campaign.flow_id)
    else:
        destination = schemas.DestinationPathOut(
            path=path or schemas.PathOut(weight=0, landers=[], offers=[])
        )
    return schemas.CampaignOut(
        id=campaign.id,
        workspace_id=campaign.workspace_id,
        name=campaign.name,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        archived_at=campaign.archived_at,
        key=campaign.key,
        url=urls.campaign_url(base_url, campaign.key, source),
        traffic_source_id=campaign.traffic_source_id,
        cost_model=campaign.cost_model.value,
        cost_value=campaign.cost_value,
        destination=destination,
        flow_id=campaign.flow_id,
        path=path,
        redirect_mode=campaign.redirect_mode.value,
        critical_client_hints=campaign.critical_client_hints,
    )


# --- presets -------------------------------------------------------------------------------------


def describe_presets(base_url: str) -> schemas.PresetList:
    """Every preset with the fields it fills in; network presets with the postback URL to paste
    into the network (on this tracker's base URL) and what to append to their offer URLs."""
    sources = [
        schemas.PresetOut(
            id=p.id, kind="traffic_source", name=p.name, fields=p.fields(), notes=p.notes
        )
        for p in presets.traffic_source_presets()
    ]
    networks = [
        schemas.PresetOut(
            id=p.id,
            kind="affiliate_network",
            name=p.name,
            fields=p.fields(),
            notes=p.notes,
            click_id_param=p.click_id_param,
            offer_url_suffix=p.offer_url_suffix,
            postback_url=urls.preset_postback_url(base_url, p),
        )
        for p in presets.affiliate_network_presets()
    ]
    return schemas.PresetList(
        traffic_sources=sources, affiliate_networks=networks, items=sources + networks
    )
