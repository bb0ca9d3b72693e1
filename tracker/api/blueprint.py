"""The API blueprint and the request frame every endpoint shares."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue

from tracker.api.errors import ApiError
from tracker.audit import set_actor
from tracker.auth.services import user_for_token
from tracker.extensions import csrf, db

api_bp = Blueprint("api", __name__)
csrf.exempt(api_bp)  # bearer tokens, not cookies: no cross-site request can carry one


@api_bp.before_request
def authenticate_bearer() -> ResponseReturnValue | None:
    """Every API call but the spec needs ``Authorization: Bearer <token>``."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    user = user_for_token(db.session, raw.strip())
    if user is None:
        db.session.rollback()
        raise ApiError(401, "unauthorized", "the token is unknown or revoked")
    db.session.commit()  # last_used_at
    g.api_user = user
    set_actor(db.session, user.id, user.email)
    return None


PUBLIC_ENDPOINTS = {"api.openapi_spec"}

# Endpoint modules register their routes on api_bp when imported.
from tracker.api import (  # noqa: E402,F401
    conversion_resources,
    flow_resources,
    meta,
    report_resources,
    setup_resources,
)
