"""The "test a visit" page: ``/campaigns/<id>/test-visit``, a form for a hypothetical visitor
and, once sent, where the campaign would send them and why (``tracker.tracking.simulate``).
Any member of the workspace may use it: it reads only and records nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from tracker.auth.sessions import current_membership
from tracker.config import Settings
from tracker.extensions import db
from tracker.models.types import utcnow
from tracker.setup.schemas import fields_from_validation_error
from tracker.setup.services import NotFound, get_campaign
from tracker.setup.variables import NO_NAMES, sub_id_names
from tracker.tracking.simulate import VisitorIn, simulate_visit
from tracker.tracking.views import tracking_state

test_visit_bp = Blueprint("test_visit", __name__)

UNIQUE_CHOICES = [
    SelectChoice("", "As the stored visits say"),
    SelectChoice("yes", "Unique"),
    SelectChoice("no", "Not unique (a repeat within 24 h)"),
]
# VisitorIn's places → the form field that shows their errors.
ERROR_FIELDS = {
    "ip": "ip",
    "user_agent": "user_agent",
    "language": "language",
    "referrer": "referrer",
    "time": "time",
    "params": "params",
    "geo.country": "country",
    "client_hints.platform": "ch_platform",
    "client_hints.platform_version": "ch_platform_version",
    "client_hints.model": "ch_model",
}


class VisitTestForm(FlaskForm):
    """A hypothetical visitor, as a buyer describes one."""

    ip = StringField("IP address", validators=[Optional(), Length(max=100)])
    user_agent = TextAreaField("User agent", validators=[Optional(), Length(max=1024)])
    language = StringField("Accept-Language", validators=[Optional(), Length(max=500)])
    referrer = StringField("Referrer", validators=[Optional(), Length(max=4000)])
    time = StringField("Time", validators=[Optional(), Length(max=40)])
    params = TextAreaField("URL parameters", validators=[Optional(), Length(max=4000)])
    country = StringField("Country instead of GeoIP's", validators=[Optional(), Length(max=2)])
    unique = SelectField("Unique visit", choices=UNIQUE_CHOICES, default="")
    ch_platform = StringField("Sec-CH-UA-Platform", validators=[Optional(), Length(max=200)])
    ch_platform_version = StringField(
        "Sec-CH-UA-Platform-Version", validators=[Optional(), Length(max=200)]
    )
    ch_model = StringField("Sec-CH-UA-Model", validators=[Optional(), Length(max=200)])

    def visitor_data(self) -> dict[str, Any]:
        """What the buyer typed, in ``VisitorIn``'s shape."""

        def text(value: Any) -> str:
            return str(value or "").strip()

        data: dict[str, Any] = {
            "ip": text(self.ip.data),
            "user_agent": text(self.user_agent.data),
            "language": text(self.language.data),
            "referrer": text(self.referrer.data),
            "params": dict(parse_qsl(text(self.params.data).lstrip("?"))),
        }
        if text(self.time.data):
            data["time"] = text(self.time.data)
        if text(self.country.data):
            data["geo"] = {"country": text(self.country.data)}
        if self.unique.data in ("yes", "no"):
            data["unique"] = self.unique.data == "yes"
        hints = {
            "platform": text(self.ch_platform.data),
            "platform_version": text(self.ch_platform_version.data),
            "model": text(self.ch_model.data),
        }
        if any(hints.values()):
            data["client_hints"] = {
                name: value if value.startswith('"') or not value else f'"{value}"'
                for name, value in hints.items()
            }
        return data


@test_visit_bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    """A campaign of another workspace, or of nothing: the same 404 page."""
    db.session.rollback()
    return render_template(
        "error.html", status=404, title="Not Found", message=exc.message.capitalize() + "."
    ), 404


@test_visit_bp.route("/campaigns/<int:campaign_id>/test-visit", methods=["GET", "POST"])
def test_visit(campaign_id: int) -> ResponseReturnValue:
    """Describe a visitor; see the rule, path, lander, offer and URL they would get, and why."""
    settings: Settings = current_app.config["SETTINGS"]
    workspace_id = current_membership().workspace_id
    campaign = get_campaign(db.session, workspace_id, campaign_id)
    form = VisitTestForm()
    if request.method == "GET":
        # A start: the buyer's own browser, as a visitor.
        form.user_agent.data = request.headers.get("User-Agent", "")
        form.language.data = request.headers.get("Accept-Language", "")
    result = None
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                visitor = VisitorIn.model_validate(form.visitor_data())
            except ValidationError as exc:
                for place, message in fields_from_validation_error(exc).items():
                    top = ".".join(place.split(".")[:2])
                    name = ERROR_FIELDS.get(top) or ERROR_FIELDS.get(place.split(".")[0], "")
                    target = getattr(form, name, None) if name else None
                    errors = target.errors if target is not None else form.form_errors
                    errors.append(message)
            else:
                result = simulate_visit(
                    db.session,
                    workspace_id,
                    campaign.id,
                    visitor,
                    geo=tracking_state().geo,
                    account_zone=settings.zone,
                    now=utcnow(),
                )
                db.session.rollback()  # read only: nothing to keep
        if result is None:
            status = 422
    return render_template(
        "tracking/test_visit.html",
        campaign=campaign,
        form=form,
        result=result,
        timezone=settings.timezone,
        sub_id_names=sub_id_names(db.session, workspace_id, [campaign.traffic_source_id]).get(
            campaign.traffic_source_id, NO_NAMES
        ),
        nav_section="setup.campaigns",
    ), status
