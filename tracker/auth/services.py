"""Users, workspaces, memberships, API tokens, login checks: plain functions over a session.

Shared by the UI, the API and the CLI; they flush, the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.extensions import DbSession
from tracker.models.types import utcnow
from tracker.models.users import ApiToken, LoginFailure, Membership, Role, User, Workspace

DEFAULT_WORKSPACE_NAME = "Default"
TOKEN_PREFIX = "trk_"
MIN_PASSWORD_LENGTH = 10
# A hash to compare against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password-only-for-timing")


class AuthError(ValueError):
    """A request about users or tokens that cannot be honoured; the message says why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_email(email: str) -> str:
    email = normalize_email(email)
    local, _, domain = email.partition("@")
    if not local or not domain or " " in email or len(email) > 254:
        raise AuthError(f"not an email address: {email!r}", field="email")
    return email


def generate_password() -> str:
    """A strong password a person can still type: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return generate_password_hash(password)


def default_workspace(session: DbSession) -> Workspace:
    """The out-of-the-box workspace, created on first use."""
    workspace = session.scalar(select(Workspace).where(Workspace.is_default.is_(True)))
    if workspace is None:
        workspace = session.scalar(select(Workspace).order_by(Workspace.id))
    if workspace is None:
        workspace = Workspace(name=DEFAULT_WORKSPACE_NAME, is_default=True)
        session.add(workspace)
        session.flush()
    return workspace


def get_or_create_workspace(session: DbSession, name: str | None) -> Workspace:
    """The named workspace (created if new), or the default one when no name is given."""
    if not name:
        return default_workspace(session)
    name = name.strip()
    if not name or len(name) > 120:
        raise AuthError("a workspace name has 1 to 120 characters", field="workspace")
    workspace = session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        workspace = Workspace(name=name, is_default=False)
        session.add(workspace)
        session.flush()
    return workspace


@dataclass(frozen=True)
class CreatedUser:
    user: User
    workspace: Workspace
    role: Role
    generated_password: str | None  # set when the caller gave none; shown once


def create_user(
    session: DbSession,
    email: str,
    role: Role,
    *,
    password: str | None = None,
    workspace_name: str | None = None,
) -> CreatedUser:
    """Create a user with a role in a workspace (a known user gets the role added)."""
    email = validate_email(email)
    workspace = get_or_create_workspace(session, workspace_name)
    user = session.scalar(select(User).where(User.email == email))
    generated = None
    if user is None:
        if password is None:
            generated = password = generate_password()
        user = User(email=email, password_hash=hash_password(password))
        session.add(user)
        session.flush()
    elif password is not None:
        set_password(user, password)
    set_role(session, user, workspace, role)
    return CreatedUser(user=user, workspace=workspace, role=role, generated_password=generated)


def set_password(user: User, password: str) -> None:
    """Change a password; sessions opened with the old one end."""
    user.password_hash = hash_password(password)
    user.session_version += 1


def set_role(session: DbSession, user: User, workspace: Workspace, role: Role) -> Membership:
    """Give a user a role in a workspace, replacing any role they had there."""
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.workspace_id == workspace.id
        )
    )
    if membership is None:
        has_any = session.scalar(
            select(func.count()).select_from(Membership).where(Membership.user_id == user.id)
        )
        membership = Membership(
            user_id=user.id, workspace_id=workspace.id, role=role, is_default=not has_any
        )
        session.add(membership)
    else:
        membership.role = role
    session.flush()
    session.refresh(user, ["memberships"])
    return membership


def memberships_of(user: User) -> list[Membership]:
    """The user's workspaces with roles, the default one first."""
    return sorted(user.memberships, key=lambda m: (not m.is_default, m.workspace_id))


def membership_in(user: User, workspace_id: int | None) -> Membership | None:
    """The user's membership in that workspace (None: default workspace), or None."""
    memberships = memberships_of(user)
    if workspace_id is None:
        return memberships[0] if memberships else None
    return next((m for m in memberships if m.workspace_id == workspace_id), None)


# --- logging in -------------------------------------------------------------------------------


class LoginThrottled(AuthError):
    """Too many failed attempts: the caller should wait before trying again."""


def authenticate(
    session: DbSession,
    email: str,
    password: str,
    ip: str,
    *,
    max_failures: int,
    window_seconds: int,
) -> User | None:
    """The user for these credentials, or None. Raises LoginThrottled after repeated failures.

    Failures are counted in the store, per email and per IP, so every worker sees them.
    """
    email = normalize_email(email)
    since = utcnow() - timedelta(seconds=window_seconds)
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.created_at >= since)
        .where((LoginFailure.email == email) | (LoginFailure.ip == ip))
    )
    if recent is not None and recent >= max_failures:
        raise LoginThrottled(
            "too many failed attempts; wait a few minutes before trying again", field="password"
        )
    user = session.scalar(select(User).where(User.email == email))
    hashed = user.password_hash if user is not None else _DUMMY_HASH
    if check_password_hash(hashed, password) and user is not None and user.active:
        session.execute(delete(LoginFailure).where(LoginFailure.email == email))
        user.last_login_at = utcnow()
        return user
    session.add(LoginFailure(email=email[:254], ip=ip[:45]))
    session.flush()
    return None


# --- API tokens ---------------------------------------------------------------------------------


def _token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    raw: str  # shown once, never stored


def create_api_token(session: DbSession, user: User, name: str = "") -> CreatedToken:
    """A new bearer token for the user; only its SHA-256 is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name.strip()[:120], token_hash=_token_digest(raw), prefix=raw[:10]
    )
    session.add(token)
    session.flush()
    return CreatedToken(token=token, raw=raw)


def user_for_token(session: DbSession, raw: str) -> User | None:
    """The active user a live token acts as, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(raw)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = utcnow()
    # Written at most once a minute: a busy script must not turn every read into a write.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token.user


def revoke_api_token(session: DbSession, user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when there is no such live token."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    return True


def find_user(session: DbSession, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


# --- workspace members (the admin's page) -------------------------------------------------------


def members_of(session: DbSession, workspace_id: int) -> list[Membership]:
    """The workspace's memberships, by email."""
    return list(
        session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(User.email)
        )
    )


def _admin_count(session: DbSession, workspace_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.ADMIN)
        )
        or 0
    )


def change_member_role(session: DbSession, workspace_id: int, user_id: int, role: Role) -> None:
    """Change a member's role; a workspace always keeps at least one admin."""
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise AuthError("no such member in this workspace", field="user_id")
    if (
        membership.role is Role.ADMIN
        and role is not Role.ADMIN
        and _admin_count(session, workspace_id) <= 1
    ):
        raise AuthError("a workspace needs at least one admin", field="role")
    membership.role = role
    session.flush()


def remove_member(session: DbSession, workspace_id: int, user_id: int) -> None:
    """Take a user out of a workspace (their account and other workspaces stay)."""
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise AuthError("no such member in this workspace", field="user_id")
    if membership.role is Role.ADMIN and _admin_count(session, workspace_id) <= 1:
        raise AuthError("a workspace needs at least one admin", field="user_id")
    session.delete(membership)
    session.flush()


def tokens_of(session: DbSession, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )
