"""What API endpoints share: the acting user and workspace, body parsing, pagination, and the
route decorator that records each operation for ``openapi.json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import g, request
from pydantic import BaseModel, ValidationError

from tracker.api.errors import ApiError, from_validation_error
from tracker.auth.services import membership_in
from tracker.models.users import Membership, Role, User
from tracker.numbers import MAX_ID, parse_id

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PER_PAGE = 50


def api_user() -> User:
    return cast(User, g.api_user)


def acting_membership(needed: Role = Role.VIEWER, workspace_id: int | None = None) -> Membership:
    """The caller's membership in the asked workspace (``workspace_id`` in the query or body,
    else their default one), refused with 403/404 when they lack the role or membership."""
    if workspace_id is None:
        raw = request.args.get("workspace_id")
        if raw is None and request.is_json and isinstance(request.get_json(silent=True), dict):
            raw = request.get_json(silent=True).get("workspace_id")  # type: ignore[union-attr]
        if raw is not None:
            workspace_id = parse_id(str(raw)) if isinstance(raw, str | int) else None
            if workspace_id is None:
                raise ApiError(
                    400,
                    "invalid",
                    "workspace_id must be a number",
                    {"workspace_id": "not a number"},
                )
    membership = membership_in(api_user(), workspace_id)
    if membership is None:
        raise ApiError(
            404, "not_found", "no such workspace among yours", {"workspace_id": "not yours"}
        )
    if not membership.role.allows(needed):
        raise ApiError(
            403,
            "forbidden",
            f"this needs the {needed.value} role in workspace {membership.workspace.name!r}",
        )
    return membership


def parse_body(model: type[M]) -> M:
    """The JSON body validated by ``model``; 400 for non-JSON, 422 naming each bad field."""
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(
            400, "malformed", "the body must be a JSON object (Content-Type: application/json)"
        )
    if not isinstance(data, dict):
        raise ApiError(400, "malformed", "the body must be a JSON object")
    data.pop("workspace_id", None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc


@dataclass(frozen=True)
class Page:
    number: int
    per_page: int

    @property
    def offset(self) -> int:
        # A page past any list is empty, and must not overflow the store's BIGINT on the way.
        return min((self.number - 1) * self.per_page, MAX_ID)


def page_args(max_per_page: int) -> Page:
    """``page`` (from 1) and ``per_page`` (capped) from the query string."""
    values: dict[str, int] = {}
    for name, default in (("page", 1), ("per_page", DEFAULT_PER_PAGE)):
        raw = request.args.get(name, str(default))
        try:
            values[name] = int(raw)
        except ValueError as exc:
            raise ApiError(
                400, "invalid", f"{name} must be a whole number", {name: "not a number"}
            ) from exc
        if values[name] < 1:
            raise ApiError(400, "invalid", f"{name} must be 1 or more", {name: "must be 1 or more"})
    return Page(values["page"], min(values["per_page"], max_per_page))


def page_body(items: list[Any], total: int, page: Page) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page.number, "per_page": page.per_page}


# --- the spec registry --------------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form: /offers/{id}
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    list_of: type[BaseModel] | None = None
    status: int = 200
    query: list[dict[str, Any]] = field(default_factory=list)
    content_type: str = "application/json"
    public: bool = False


OPERATIONS: list[Operation] = []


def document(
    method: str,
    path: str,
    summary: str,
    tag: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    list_of: type[BaseModel] | None = None,
    status: int = 200,
    query: list[dict[str, Any]] | None = None,
    content_type: str = "application/json",
    public: bool = False,
) -> Callable[[F], F]:
    """Record an operation for openapi.json; the schemas are the ones the view validates with."""

    def decorator(view: F) -> F:
        OPERATIONS.append(
            Operation(
                method.lower(),
                path,
                summary,
                tag,
                body,
                response,
                list_of,
                status,
                query or [],
                content_type,
                public,
            )
        )
        return view

    return decorator
