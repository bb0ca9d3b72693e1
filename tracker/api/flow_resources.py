"""``POST /api/v1/campaigns/<id>/test-visit``: where a campaign would send a visitor, and why.

It reads only (the viewer role is enough) and records nothing; see ``tracker.tracking.simulate``.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from tracker.api.blueprint import api_bp
from tracker.api.frame import acting_membership, api_user, document, parse_body
from tracker.auth.services import membership_in
from tracker.config import Settings
from tracker.extensions import db
from tracker.models.setup import Campaign
from tracker.models.types import utcnow
from tracker.models.users import Membership, Role
from tracker.setup import services
from tracker.tracking.simulate import VisitorIn, VisitTestOut, simulate_visit
from tracker.tracking.views import tracking_state

_WORKSPACE_QUERY = [
    {
        "name": "workspace_id",
        "in": "query",
        "required": False,
        "schema": {"type": "integer"},
        "description": "the workspace to act in; default: the one holding the campaign",
    }
]


def _campaign_membership(campaign_id: int) -> Membership:
    """The caller's membership where the campaign lives (or the named workspace)."""
    named = "workspace_id" in request.args
    if not named:
        holder = services.workspace_of(db.session, Campaign, campaign_id)
        if holder is not None and membership_in(api_user(), holder) is not None:
            return acting_membership(Role.VIEWER, workspace_id=holder)
    return acting_membership(Role.VIEWER)


@api_bp.post("/campaigns/<int:campaign_id>/test-visit")
@document(
    "post",
    "/campaigns/{campaign_id}/test-visit",
    "Test a visit: the rule, path, lander, offer and URL a visitor would get (nothing recorded)",
    "campaigns",
    body=VisitorIn,
    response=VisitTestOut,
    query=_WORKSPACE_QUERY,
)
def campaign_visit_test(campaign_id: int) -> ResponseReturnValue:
    """Where the campaign would send this hypothetical visitor, and why; records nothing."""
    membership = _campaign_membership(campaign_id)
    visitor = parse_body(VisitorIn)
    settings: Settings = current_app.config["SETTINGS"]
    result = simulate_visit(
        db.session,
        membership.workspace_id,
        campaign_id,
        visitor,
        geo=tracking_state().geo,
        account_zone=settings.zone,
        now=utcnow(),
    )
    db.session.rollback()  # read only: nothing to keep
    return jsonify(result.model_dump(mode="json"))
