"""The spec itself and who-am-I: ``openapi.json``, ``me``, ``workspaces``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from tracker.api.blueprint import api_bp
from tracker.api.errors import ApiError, answer
from tracker.api.frame import api_user, document
from tracker.api.openapi import build_spec
from tracker.auth.services import memberships_of


class WorkspaceOut(BaseModel):
    id: int
    name: str
    role: str
    is_default: bool


class MeOut(BaseModel):
    id: int
    email: str
    workspaces: list[WorkspaceOut]


@api_bp.errorhandler(ApiError)
def handle_api_error(exc: ApiError) -> ResponseReturnValue:
    """Answer an ApiError in the one error shape."""
    return answer(exc)


def _package_version() -> str:
    try:
        return version("tracker")
    except PackageNotFoundError:  # running from a checkout without installing
        return "0"


@api_bp.get("/openapi.json")
@document("get", "/openapi.json", "This API's OpenAPI 3.1 document", "meta", public=True)
def openapi_spec() -> ResponseReturnValue:
    """The OpenAPI document of the whole API, built from the schemas the views validate with."""
    return jsonify(build_spec(_package_version()))


def _workspaces() -> list[WorkspaceOut]:
    return [
        WorkspaceOut(
            id=m.workspace_id, name=m.workspace.name, role=m.role.value, is_default=m.is_default
        )
        for m in memberships_of(api_user())
    ]


@api_bp.get("/me")
@document("get", "/me", "The token's user and their workspaces", "meta", response=MeOut)
def me() -> ResponseReturnValue:
    """Who the token acts as, and in which workspaces with which role."""
    user = api_user()
    return jsonify(MeOut(id=user.id, email=user.email, workspaces=_workspaces()).model_dump())


class WorkspaceList(BaseModel):
    items: list[WorkspaceOut]


@api_bp.get("/workspaces")
@document("get", "/workspaces", "The caller's workspaces and roles", "meta", response=WorkspaceList)
def workspaces() -> ResponseReturnValue:
    """The workspaces the caller belongs to, with their role in each."""
    return jsonify(WorkspaceList(items=_workspaces()).model_dump())
