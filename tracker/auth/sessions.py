"""Who is asking: the logged-in user, the workspace they act in, and what their role allows.

Every page needs a session unless its view is marked ``@public``: a new route is private by
default, so forgetting a decorator cannot open it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user

from tracker.audit import set_actor
from tracker.auth.services import membership_in
from tracker.extensions import db, login_manager
from tracker.models.users import Membership, Role, User

F = TypeVar("F", bound=Callable[..., Any])

WORKSPACE_SESSION_KEY = "workspace_id"


def public(view: F) -> F:
    """Mark a view as reachable without logging in (tracking, postbacks, login, health)."""
    view._public = True  # type: ignore[attr-defined]
    return view


def init_auth(app: Flask) -> None:
    """Flask-Login set-up and the app-wide 'log in first' rule."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        ident, _, version = user_id.partition(":")
        if not ident.isdigit():
            return None
        user = db.session.get(User, int(ident))
        if user is None or str(user.session_version) != version:
            return None
        return user

    app.before_request(_require_login)


def _require_login() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None:  # 404 and 405: let the error handlers answer
        return None
    if endpoint == "static" or endpoint.startswith("api."):
        return None  # assets; the API checks its bearer token itself
    view = current_app.view_functions.get(endpoint)
    if view is not None and getattr(view, "_public", False):
        return None
    if not current_user.is_authenticated:
        return cast(ResponseReturnValue, login_manager.unauthorized())
    set_actor(db.session, current_user.id, current_user.email)
    return None


def current_membership() -> Membership:
    """The logged-in user's membership in the workspace they chose (their default otherwise)."""
    cached = g.get("membership")
    if cached is not None:
        return cast(Membership, cached)
    user = cast(User, current_user)
    chosen = session.get(WORKSPACE_SESSION_KEY)
    membership = membership_in(user, chosen if isinstance(chosen, int) else None)
    if membership is None:
        membership = membership_in(user, None)
    if membership is None:
        abort(403, description="You are not a member of any workspace.")
    g.membership = membership
    return membership


def role_required(needed: Role) -> Callable[[F], F]:
    """Refuse (403) a user whose role in the current workspace is below ``needed``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_membership().role.allows(needed):
                abort(403, description=f"This needs the {needed.value} role in this workspace.")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
