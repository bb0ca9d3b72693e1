"""Login, logout and the workspace switcher."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from tracker.auth.forms import LoginForm, LogoutForm, WorkspaceForm, workspace_choices
from tracker.auth.services import LoginThrottled, authenticate, membership_in
from tracker.auth.sessions import WORKSPACE_SESSION_KEY, public
from tracker.config import Settings
from tracker.extensions import db
from tracker.models.users import User
from tracker.web import client_ip

auth_bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """The `next` target when it stays on this site (a path), else the home page."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    # Only a local absolute path: no scheme, no host, and no '//' or '\\' that browsers
    # would read as another host.
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return url_for("home.index")
    if any(ord(ch) < 32 for ch in target):
        return url_for("home.index")
    return target


@auth_bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    """Show the login form and log a user in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        settings: Settings = current_app.config["SETTINGS"]
        try:
            user = authenticate(
                db.session,
                form.email.data or "",
                form.password.data or "",
                client_ip(),
                max_failures=settings.login_throttle_attempts,
                window_seconds=settings.login_throttle_window,
            )
        except LoginThrottled as exc:
            db.session.commit()
            form.password.errors = [str(exc).capitalize() + "."]
            return render_template("auth/login.html", form=form), 429
        db.session.commit()
        if user is not None:
            session.clear()  # no fixation: a fresh session for the logged-in user
            login_user(user)
            return redirect(safe_next(form.next.data))
        form.password.errors = ["Wrong email or password."]
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@auth_bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session."""
    if LogoutForm().validate_on_submit():
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"))
    return redirect(url_for("home.index"))


@auth_bp.post("/workspace")
def switch_workspace() -> ResponseReturnValue:
    """Act in another of the user's workspaces."""
    user: User = current_user
    form = WorkspaceForm()
    form.workspace_id.choices = workspace_choices(user)
    if form.validate_on_submit() and membership_in(user, form.workspace_id.data):
        session[WORKSPACE_SESSION_KEY] = form.workspace_id.data
    else:
        flash("That workspace is not one of yours.", "error")
    return redirect(safe_next(request.form.get("next")))
