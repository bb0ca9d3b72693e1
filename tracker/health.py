"""``/healthz``: for load balancers and monitoring, without login."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from tracker.auth.sessions import public
from tracker.extensions import db
from tracker.store import is_reachable

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Report whether the store answers; 200 while redirects can be served."""
    store_ok = is_reachable(db.session)
    body = {
        "status": "ok" if store_ok else "degraded",
        "store": "ok" if store_ok else "unreachable",
    }
    return jsonify(body), 200
