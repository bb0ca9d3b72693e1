"""``/healthz``: for load balancers and monitoring, without login."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from tracker.auth.sessions import public
from tracker.extensions import db
from tracker.store import is_reachable
from tracker.tracking.views import tracking_state
from tracker.tracking.writer import spool_size

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Report whether the store answers and what waits in the visit spool; 200 while redirects
    can be served (they can while the store is down: cached campaigns, spooled visits)."""
    store_ok = is_reachable(db.session)
    state = tracking_state()
    if store_ok:
        state.gate.succeeded()
    else:
        state.gate.failed("the health check's SELECT 1 failed")
    writer = state.writer
    body = {
        "status": "ok" if store_ok else "degraded",
        "store": "ok" if store_ok else "unreachable",
        # bytes: every spool file on this node (0 when all is stored); backlog: this process's
        # visits and clicks not yet stored; full: TRACKER_SPOOL_MAX_MB reached.
        "spool": {
            "bytes": spool_size(state.spool_dir),
            "backlog": writer.backlog() if writer is not None else 0,
            "full": writer.full if writer is not None else False,
        },
    }
    return jsonify(body), 200
