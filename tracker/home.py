"""The start page a buyer lands on after logging in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from tracker.auth.sessions import current_membership
from tracker.config import Settings
from tracker.extensions import db
from tracker.models import AffiliateNetwork, Campaign, Lander, Offer, TrafficSource
from tracker.models.types import utcnow
from tracker.reports.dashboard import build_dashboard, has_visits
from tracker.reports.metrics import METRICS
from tracker.reports.rollups import refresh_if_stale

home_bp = Blueprint("home", __name__)

# The order a buyer sets things up in; the page shows what is still missing.
SETUP_STEPS: list[tuple[Any, str, str]] = [
    (TrafficSource, "Traffic sources", "where visitors come from and which macros it fills in"),
    (AffiliateNetwork, "Affiliate networks", "who pays, and the postback URL to give them"),
    (Offer, "Offers", "the pages that pay, with {clickid} in their URL"),
    (Lander, "Landers", "optional pre-sell pages that link to /click"),
    (Campaign, "Campaigns", "the URL you paste into the ad platform"),
]


@home_bp.get("/")
def index() -> ResponseReturnValue:
    """The dashboard once the workspace has visits; until then, the set-up steps."""
    workspace_id = current_membership().workspace_id
    if has_visits(db.session, workspace_id):
        settings: Settings = current_app.config["SETTINGS"]
        refresh_if_stale(db.session)
        db.session.commit()
        dashboard = build_dashboard(db.session, workspace_id, settings.timezone, utcnow())
        return render_template("home/dashboard.html", dashboard=dashboard, metrics=METRICS)
    steps = []
    for model, title, why in SETUP_STEPS:
        count = db.session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.workspace_id == workspace_id, model.archived_at.is_(None))
        )
        steps.append({"title": title, "why": why, "count": count or 0})
    return render_template("home/index.html", steps=steps)
