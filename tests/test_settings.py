"""Settings pages: password change, members (admins only), API tokens."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.test_auth import csrf_token
from tracker.models import ApiToken, Membership, Role, User


def test_settings_page_shows_the_configuration(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login(Role.VIEWER)
    page = client.get("/settings/")
    assert page.status_code == 200
    assert "Time zone" in page.text and "UTC" in page.text


def test_password_change_needs_the_current_one(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login(Role.BUYER)
    token = csrf_token(client, "/settings/")
    wrong = client.post(
        "/settings/",
        data={
            "current": "nope",
            "new": "another-password-1",
            "confirm": "another-password-1",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 400
    assert "not your current password" in wrong.text
    mismatch = client.post(
        "/settings/",
        data={
            "current": "correct horse battery",
            "new": "another-password-1",
            "confirm": "x",
            "csrf_token": token,
        },
    )
    assert mismatch.status_code == 400
    assert "do not match" in mismatch.text
    ok = client.post(
        "/settings/",
        data={
            "current": "correct horse battery",
            "new": "another-password-1",
            "confirm": "another-password-1",
            "csrf_token": token,
        },
    )
    assert ok.status_code == 302
    assert client.get("/").status_code == 302  # the old session ended


def test_only_admins_manage_members(client: FlaskClient, login: Callable[..., User]) -> None:
    login(Role.BUYER)
    assert client.get("/settings/members").status_code == 403


def test_admin_adds_a_member_with_a_generated_password(
    client: FlaskClient, login: Callable[..., User], db: Session
) -> None:
    login(Role.ADMIN)
    response = client.post(
        "/settings/members",
        data={
            "email": "new@example.com",
            "role": "viewer",
            "csrf_token": csrf_token(client, "/settings/members"),
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert re.search(r"new@example.com can log in with the password \S{16,}", response.text)
    user = db.scalars(select(User).where(User.email == "new@example.com")).one()
    assert user.memberships[0].role is Role.VIEWER


def test_the_last_admin_cannot_be_demoted_or_removed(
    client: FlaskClient, login: Callable[..., User], db: Session
) -> None:
    admin = login(Role.ADMIN)
    token = csrf_token(client, "/settings/members")
    demote = client.post(
        "/settings/members/role",
        data={"user_id": admin.id, "role": "viewer", "csrf_token": token},
        follow_redirects=True,
    )
    assert "at least one admin" in demote.text
    remove = client.post(
        "/settings/members/remove",
        data={"user_id": admin.id, "csrf_token": token},
        follow_redirects=True,
    )
    assert "at least one admin" in remove.text
    membership = db.scalars(select(Membership)).one()
    db.refresh(membership)
    assert membership.role is Role.ADMIN


def test_admin_changes_a_role_and_removes_a_member(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User], db: Session
) -> None:
    admin = login(Role.ADMIN)
    other = make_user(
        "other@example.com", Role.VIEWER, workspace=admin.memberships[0].workspace.name
    )
    token = csrf_token(client, "/settings/members")
    client.post(
        "/settings/members/role", data={"user_id": other.id, "role": "buyer", "csrf_token": token}
    )
    db.expire_all()
    assert (
        db.scalars(select(Membership).where(Membership.user_id == other.id)).one().role
        is Role.BUYER
    )
    client.post("/settings/members/remove", data={"user_id": other.id, "csrf_token": token})
    assert db.scalars(select(Membership).where(Membership.user_id == other.id)).first() is None


def test_admin_cannot_touch_members_of_another_workspace(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User], db: Session
) -> None:
    login(Role.ADMIN, workspace="Mine")
    stranger = make_user("stranger@example.com", Role.ADMIN, workspace="Theirs")
    token = csrf_token(client, "/settings/members")
    response = client.post(
        "/settings/members/remove",
        data={"user_id": stranger.id, "csrf_token": token},
        follow_redirects=True,
    )
    assert "no such member" in response.text.lower()
    assert "stranger@example.com" not in client.get("/settings/members").text


def test_tokens_are_shown_once_and_revocable(
    client: FlaskClient, login: Callable[..., User], db: Session
) -> None:
    login(Role.VIEWER)
    created = client.post(
        "/settings/tokens",
        data={"name": "script", "csrf_token": csrf_token(client, "/settings/tokens")},
    )
    raw = re.search(r'id="new-token" type="text" value="(trk_[^"]+)"', created.text)
    assert raw, created.text
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw.group(1)}"}).status_code
        == 200
    )
    assert raw.group(1) not in client.get("/settings/tokens").text
    token = db.scalars(select(ApiToken)).one()
    client.post(
        "/settings/tokens/revoke",
        data={"token_id": token.id, "csrf_token": csrf_token(client, "/settings/tokens")},
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw.group(1)}"}).status_code
        == 401
    )
