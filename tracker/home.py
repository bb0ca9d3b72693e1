"""The start page a buyer lands on after logging in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from tracker.auth.sessions import current_membership
from tracker.config import Settings
from tracker.extensions import db
from tracker.models import AffiliateNetwork, Campaign, Flow, Lander, Offer, Role, TrafficSource
from tracker.models.types import utcnow
from tracker.reports.dashboard import build_dashboard, has_visits
from tracker.reports.metrics import METRICS
from tracker.reports.rollups import refresh_if_stale

home_bp = Blueprint("home", __name__)

# The order a buyer sets things up in; the page shows what is still missing. Each step: the
# model it counts, its setup kind (list and form endpoints), title, why, whether it may be skipped.
SETUP_STEPS: list[tuple[Any, str, str, str, bool]] = [
    (
        TrafficSource,
        "traffic_source",
        "Traffic sources",
        "where visitors come from and which macros it fills in",
        False,
    ),
    (
        AffiliateNetwork,
        "affiliate_network",
        "Affiliate networks",
        "who pays, and the postback URL to give them",
        False,
    ),
    (Offer, "offer", "Offers", "the pages that pay, with {clickid} in their URL", False),
    (Lander, "lander", "Landers", "pre-sell pages that link to /click", True),
    (Flow, "flow", "Flows", "routing shared by campaigns: rules by country, device…", True),
    (Campaign, "campaign", "Campaigns", "the URL you paste into the ad platform", False),
]
PLURALS = {"traffic_source": "traffic_sources", "affiliate_network": "affiliate_networks"}


@home_bp.get("/")
def index() -> ResponseReturnValue:
    """The dashboard once the workspace has visits; until then, the set-up steps."""
    membership = current_membership()
    workspace_id = membership.workspace_id
    if has_visits(db.session, workspace_id):
        settings: Settings = current_app.config["SETTINGS"]
        refresh_if_stale(db.session)
        db.session.commit()
        dashboard = build_dashboard(db.session, workspace_id, settings.timezone, utcnow())
        return render_template("home/dashboard.html", dashboard=dashboard, metrics=METRICS)
    can_edit = membership.role.allows(Role.BUYER)
    steps = []
    for model, kind, title, why, optional in SETUP_STEPS:
        count = db.session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.workspace_id == workspace_id, model.archived_at.is_(None))
        )
        steps.append(
            {
                "title": title,
                "why": why,
                "count": count or 0,
                "optional": optional,
                "list_url": url_for(f"setup.{PLURALS.get(kind, kind + 's')}"),
                "new_url": url_for(f"setup.{kind}_new") if can_edit else None,
            }
        )
    # The next thing to do: the first required step with nothing in it yet.
    todo = [step for step in steps if not step["count"] and not step["optional"]]
    return render_template(
        "home/index.html",
        steps=steps,
        next_step=todo[0] if todo else None,
        campaigns_url=url_for("setup.campaigns"),
        can_edit=can_edit,
    )
