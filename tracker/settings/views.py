"""Settings: the account, workspace members (admins), API tokens, the running configuration."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from tracker.audit import AUDITED_TABLES
from tracker.auth.services import (
    AuthError,
    change_member_role,
    create_api_token,
    create_user,
    members_of,
    remove_member,
    revoke_api_token,
    set_password,
    tokens_of,
)
from tracker.auth.sessions import current_membership, role_required
from tracker.config import Settings
from tracker.extensions import db
from tracker.models.audit import AuditEntry
from tracker.models.users import Role, User
from tracker.numbers import parse_id
from tracker.settings.forms import (
    AddMemberForm,
    MemberRoleForm,
    NewTokenForm,
    PasswordForm,
    RemoveMemberForm,
    RevokeTokenForm,
)

settings_bp = Blueprint("settings", __name__, url_prefix="/settings")


def _user() -> User:
    return current_user


@settings_bp.route("/", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    """The account (password) and what this tracker runs with."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        user = _user()
        if not check_password_hash(user.password_hash, form.current.data or ""):
            form.current.errors = ["That is not your current password."]
            status = 400
        else:
            try:
                set_password(user, form.new.data or "")
            except AuthError as exc:
                form.new.errors = [str(exc).capitalize() + "."]
                status = 400
            else:
                db.session.commit()
                flash("Password changed. Log in again with the new one.", "success")
                return redirect(url_for("auth.login"))
    elif form.is_submitted():
        status = 400
    settings: Settings = current_app.config["SETTINGS"]
    return render_template(
        "settings/index.html",
        form=form,
        settings=settings,
        store_backend=db.engine.dialect.name,
        geoip=_geoip_status(),
    ), status


def _geoip_status() -> list[dict[str, str]]:
    """What the tracking code reports about its GeoIP sources (empty before it is loaded)."""
    reporter = current_app.extensions.get("geoip_status")
    return list(reporter()) if callable(reporter) else []


@settings_bp.route("/members", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def members() -> ResponseReturnValue:
    """Workspace members: add someone (a password is generated and shown once)."""
    workspace = current_membership().workspace
    form = AddMemberForm()
    status = 200
    if form.validate_on_submit():
        try:
            created = create_user(
                db.session,
                form.email.data or "",
                Role(form.role.data),
                workspace_name=workspace.name,
            )
        except AuthError as exc:
            db.session.rollback()
            form.email.errors = [str(exc).capitalize() + "."]
            status = 400
        else:
            db.session.commit()
            if created.generated_password:
                flash(
                    f"{created.user.email} can log in with the password "
                    f"{created.generated_password} (shown once: pass it on now).",
                    "success",
                )
            else:
                flash(f"{created.user.email} is now {form.role.data} here.", "success")
            return redirect(url_for("settings.members"))
    elif form.is_submitted():
        status = 400
    return render_template(
        "settings/members.html",
        form=form,
        members=members_of(db.session, workspace.id),
        role_form=MemberRoleForm(),
        remove_form=RemoveMemberForm(),
    ), status


@settings_bp.post("/members/role")
@role_required(Role.ADMIN)
def member_role() -> ResponseReturnValue:
    """Change a member's role."""
    form = MemberRoleForm()
    user_id = parse_id(form.user_id.data)
    if form.validate_on_submit() and user_id is not None:
        try:
            change_member_role(
                db.session,
                current_membership().workspace_id,
                user_id,
                Role(form.role.data),
            )
        except AuthError as exc:
            db.session.rollback()
            flash(str(exc).capitalize() + ".", "error")
        else:
            db.session.commit()
            flash("Role changed.", "success")
    else:
        flash("That change could not be read; try again.", "error")
    return redirect(url_for("settings.members"))


@settings_bp.post("/members/remove")
@role_required(Role.ADMIN)
def member_remove() -> ResponseReturnValue:
    """Take a member out of the workspace."""
    form = RemoveMemberForm()
    user_id = parse_id(form.user_id.data)
    if form.validate_on_submit() and user_id is not None:
        try:
            remove_member(db.session, current_membership().workspace_id, user_id)
        except AuthError as exc:
            db.session.rollback()
            flash(str(exc).capitalize() + ".", "error")
        else:
            db.session.commit()
            flash("Member removed from this workspace.", "success")
    else:
        flash("That change could not be read; try again.", "error")
    return redirect(url_for("settings.members"))


@settings_bp.route("/tokens", methods=["GET", "POST"])
def tokens() -> ResponseReturnValue:
    """The user's API tokens: create one (shown once), revoke."""
    form = NewTokenForm()
    new_token = None
    if form.validate_on_submit():
        created = create_api_token(db.session, _user(), form.name.data or "")
        db.session.commit()
        new_token = created.raw
    return render_template(
        "settings/tokens.html",
        form=form,
        new_token=new_token,
        tokens=tokens_of(db.session, _user()),
        revoke_form=RevokeTokenForm(),
    )


@settings_bp.post("/tokens/revoke")
def token_revoke() -> ResponseReturnValue:
    """Revoke one of the user's tokens."""
    form = RevokeTokenForm()
    token_id = parse_id(form.token_id.data)
    if (
        form.validate_on_submit()
        and token_id is not None
        and revoke_api_token(db.session, _user(), token_id)
    ):
        db.session.commit()
        flash("Token revoked: scripts using it now get 401.", "success")
    else:
        flash("No such live token of yours.", "error")
    return redirect(url_for("settings.tokens"))


AUDIT_PAGE_SIZE = 100


@settings_bp.get("/audit")
@role_required(Role.BUYER)
def audit() -> ResponseReturnValue:
    """Who changed which setup object, when, from what to what (newest first)."""
    entity = request.args.get("entity", "")
    before_id = parse_id(request.args.get("before")) or 0
    query = select(AuditEntry).where(AuditEntry.workspace_id == current_membership().workspace_id)
    if entity in AUDITED_TABLES:
        query = query.where(AuditEntry.entity == entity)
    if before_id > 0:
        query = query.where(AuditEntry.id < before_id)
    rows = list(db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE_SIZE)))
    return render_template(
        "settings/audit.html",
        entries=rows,
        entity=entity,
        entities=sorted(AUDITED_TABLES),
        next_before=rows[-1].id if len(rows) == AUDIT_PAGE_SIZE else None,
    )
