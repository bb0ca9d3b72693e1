"""``/api/v1`` CRUD for traffic sources, affiliate networks, offers, landers, flows and campaigns,
and ``/api/v1/presets``.

Each resource has the same five routes: ``GET /<things>`` (newest first, archived ones only with
``include_archived=1``), ``POST /<things>`` (201), ``GET|PATCH|DELETE /<things>/<id>`` (DELETE
archives, 204). Reading needs the viewer role, writing the buyer role, in the object's workspace:
``workspace_id`` (query or body) names it, else the user's default one; a by-id request without it
acts in whichever of the user's workspaces holds the object. Views only parse, call one service,
commit and answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from tracker.api.blueprint import api_bp
from tracker.api.errors import ApiError, answer
from tracker.api.frame import (
    acting_membership,
    api_user,
    document,
    page_args,
    page_body,
    parse_body,
)
from tracker.auth.services import membership_in
from tracker.config import Settings
from tracker.extensions import DbSession, db
from tracker.models.setup import AffiliateNetwork, Campaign, Flow, Lander, Offer, TrafficSource
from tracker.models.users import Membership, Role
from tracker.setup import schemas, services
from tracker.setup.services import InvalidSetup, NotFound, Page, SetupError

WORKSPACE_QUERY: dict[str, Any] = {
    "name": "workspace_id",
    "in": "query",
    "required": False,
    "schema": {"type": "integer"},
    "description": "the workspace to act in; default: the user's default workspace "
    "(by-id routes: the one holding the object)",
}
LIST_QUERY: list[dict[str, Any]] = [
    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": "capped by the server (TRACKER_API_MAX_PER_PAGE)",
    },
    {
        "name": "include_archived",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": False},
    },
    {
        "name": "q",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "only objects whose name contains this text",
    },
    WORKSPACE_QUERY,
]
TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Resource:
    """One kind of setup object and the services that manage it."""

    path: str  # URL segment: traffic-sources
    label: str  # traffic source
    model: type[Any]
    body: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    create: Callable[[DbSession, int, Any], Any]
    get: Callable[[DbSession, int, int], Any]
    update: Callable[[DbSession, int, int, Any], Any]
    archive: Callable[[DbSession, int, int], Any]
    list_page: Callable[..., Page]
    describe: Callable[[DbSession, list[Any], str], list[Any]]

    @property
    def plural(self) -> str:
        return self.label + "s"

    @property
    def endpoint(self) -> str:
        return self.path.replace("-", "_")


def _each(
    describe_one: Callable[[Any], BaseModel],
) -> Callable[[DbSession, list[Any], str], list[Any]]:
    return lambda _session, items, _base_url: [describe_one(item) for item in items]


RESOURCES = (
    Resource(
        path="traffic-sources",
        label="traffic source",
        model=TrafficSource,
        body=schemas.TrafficSourceIn,
        patch=schemas.TrafficSourcePatch,
        out=schemas.TrafficSourceOut,
        create=services.create_traffic_source,
        get=services.get_traffic_source,
        update=services.update_traffic_source,
        archive=services.archive_traffic_source,
        list_page=services.list_traffic_sources,
        describe=_each(services.describe_traffic_source),
    ),
    Resource(
        path="affiliate-networks",
        label="affiliate network",
        model=AffiliateNetwork,
        body=schemas.AffiliateNetworkIn,
        patch=schemas.AffiliateNetworkPatch,
        out=schemas.AffiliateNetworkOut,
        create=services.create_affiliate_network,
        get=services.get_affiliate_network,
        update=services.update_affiliate_network,
        archive=services.archive_affiliate_network,
        list_page=services.list_affiliate_networks,
        describe=lambda _session, items, base_url: [
            services.describe_affiliate_network(n, base_url) for n in items
        ],
    ),
    Resource(
        path="offers",
        label="offer",
        model=Offer,
        body=schemas.OfferIn,
        patch=schemas.OfferPatch,
        out=schemas.OfferOut,
        create=services.create_offer,
        get=services.get_offer,
        update=services.update_offer,
        archive=services.archive_offer,
        list_page=services.list_offers,
        describe=_each(services.describe_offer),
    ),
    Resource(
        path="landers",
        label="lander",
        model=Lander,
        body=schemas.LanderIn,
        patch=schemas.LanderPatch,
        out=schemas.LanderOut,
        create=services.create_lander,
        get=services.get_lander,
        update=services.update_lander,
        archive=services.archive_lander,
        list_page=services.list_landers,
        describe=_each(services.describe_lander),
    ),
    Resource(
        path="flows",
        label="flow",
        model=Flow,
        body=schemas.FlowIn,
        patch=schemas.FlowPatch,
        out=schemas.FlowOut,
        create=services.create_flow,
        get=services.get_flow,
        update=services.update_flow,
        archive=services.archive_flow,
        list_page=services.list_flows,
        describe=_each(services.describe_flow),
    ),
    Resource(
        path="campaigns",
        label="campaign",
        model=Campaign,
        body=schemas.CampaignIn,
        patch=schemas.CampaignPatch,
        out=schemas.CampaignOut,
        create=services.create_campaign,
        get=services.get_campaign,
        update=services.update_campaign,
        archive=services.archive_campaign,
        list_page=services.list_campaigns,
        describe=services.describe_campaigns,
    ),
)


# --- request helpers -----------------------------------------------------------------------------


def base_url() -> str:
    """This tracker's root URL as the caller reached it (campaign and postback URLs start here)."""
    return request.url_root.rstrip("/")


def as_json(shown: BaseModel) -> dict[str, Any]:
    """An answer's JSON. Top-level fields are always set; inside paths and rules only the keys
    that were written are (see ``schemas``), so a flow reads back the way it was sent."""
    data: dict[str, Any] = shown.model_dump(mode="json", exclude_unset=True)
    return data


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def _flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in TRUE_WORDS


def _names_workspace() -> bool:
    if "workspace_id" in request.args:
        return True
    body = request.get_json(silent=True) if request.is_json else None
    return isinstance(body, dict) and "workspace_id" in body


def _membership_for(resource: Resource, object_id: int, needed: Role) -> Membership:
    """The caller's membership where the object lives: the named workspace, else whichever of
    theirs holds it; an object they cannot see is looked for (and not found) in their default."""
    if _names_workspace():
        return acting_membership(needed)
    holder = services.workspace_of(db.session, resource.model, object_id)
    if holder is not None and membership_in(api_user(), holder) is not None:
        return acting_membership(needed, workspace_id=holder)
    return acting_membership(needed)


def _answer(resource: Resource, obj: Any, status: int = 200) -> ResponseReturnValue:
    described = resource.describe(db.session, [obj], base_url())[0]
    response = jsonify(as_json(described))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = f"{request.script_root}/api/v1/{resource.path}/{obj.id}"
    return response


@api_bp.errorhandler(SetupError)
def handle_setup_error(exc: SetupError) -> ResponseReturnValue:
    """Answer a refused setup change in the API's error shape (404 unknown id, 422 invalid)."""
    db.session.rollback()
    status = 404 if isinstance(exc, NotFound) else 422
    return answer(ApiError(status, exc.code, exc.message, exc.fields))


# --- the five routes of each resource ------------------------------------------------------------


def _register(resource: Resource) -> None:
    collection = f"/{resource.path}"
    item_rule = f"/{resource.path}/<int:object_id>"
    item_doc = f"/{resource.path}/{{object_id}}"

    def list_view() -> ResponseReturnValue:
        membership = acting_membership(Role.VIEWER)
        page = page_args(_settings().api_max_per_page)
        found = resource.list_page(
            db.session,
            membership.workspace_id,
            include_archived=_flag("include_archived"),
            limit=page.per_page,
            offset=page.offset,
            name_contains=request.args.get("q") or None,
        )
        items = resource.describe(db.session, found.items, base_url())
        return jsonify(page_body([as_json(i) for i in items], found.total, page))

    def create_view() -> ResponseReturnValue:
        membership = acting_membership(Role.BUYER)
        data = parse_body(resource.body)
        obj = resource.create(db.session, membership.workspace_id, data)
        db.session.commit()
        return _answer(resource, obj, 201)

    def get_view(object_id: int) -> ResponseReturnValue:
        membership = _membership_for(resource, object_id, Role.VIEWER)
        return _answer(resource, resource.get(db.session, membership.workspace_id, object_id))

    def patch_view(object_id: int) -> ResponseReturnValue:
        membership = _membership_for(resource, object_id, Role.BUYER)
        changes = parse_body(resource.patch)
        obj = resource.update(db.session, membership.workspace_id, object_id, changes)
        db.session.commit()
        return _answer(resource, obj)

    def delete_view(object_id: int) -> ResponseReturnValue:
        membership = _membership_for(resource, object_id, Role.BUYER)
        resource.archive(db.session, membership.workspace_id, object_id)
        db.session.commit()
        return "", 204

    list_view.__doc__ = f"The workspace's {resource.plural}, newest first."
    create_view.__doc__ = f"Create a {resource.label}."
    get_view.__doc__ = f"One {resource.label}, archived or not."
    patch_view.__doc__ = f"Change some fields of a {resource.label}."
    delete_view.__doc__ = f"Archive a {resource.label} (its ads and reports keep working)."

    tag = resource.path
    routes: list[tuple[str, str, str, Callable[..., ResponseReturnValue], Callable[[Any], Any]]] = [
        (
            "GET",
            collection,
            "list",
            list_view,
            document(
                "get",
                collection,
                f"List {resource.plural}",
                tag,
                list_of=resource.out,
                query=LIST_QUERY,
            ),
        ),
        (
            "POST",
            collection,
            "create",
            create_view,
            document(
                "post",
                collection,
                f"Create a {resource.label}",
                tag,
                body=resource.body,
                response=resource.out,
                status=201,
                query=[WORKSPACE_QUERY],
            ),
        ),
        (
            "GET",
            item_rule,
            "get",
            get_view,
            document(
                "get",
                item_doc,
                f"Read a {resource.label}",
                tag,
                response=resource.out,
                query=[WORKSPACE_QUERY],
            ),
        ),
        (
            "PATCH",
            item_rule,
            "update",
            patch_view,
            document(
                "patch",
                item_doc,
                f"Change a {resource.label}",
                tag,
                body=resource.patch,
                response=resource.out,
                query=[WORKSPACE_QUERY],
            ),
        ),
        (
            "DELETE",
            item_rule,
            "archive",
            delete_view,
            document(
                "delete",
                item_doc,
                f"Archive a {resource.label}",
                tag,
                status=204,
                query=[WORKSPACE_QUERY],
            ),
        ),
    ]
    for method, rule, action, view, documented in routes:
        api_bp.add_url_rule(
            rule,
            endpoint=f"{resource.endpoint}_{action}",
            view_func=documented(view),
            methods=[method],
        )


for _resource in RESOURCES:
    _register(_resource)


@api_bp.get("/presets")
@document(
    "get",
    "/presets",
    "Traffic-source and affiliate-network presets",
    "presets",
    response=schemas.PresetList,
)
def presets() -> ResponseReturnValue:
    """Every preset by id, with the fields it fills in ("preset": "<id>" on create)."""
    return jsonify(as_json(services.describe_presets(base_url())))


__all__ = ["RESOURCES", "InvalidSetup", "NotFound", "base_url"]
