"""Logging in and out, throttling, CSRF, open redirects, roles and workspaces in the UI."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import TEST_PASSWORD
from tracker.auth.views import safe_next
from tracker.models import Role, User


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_pages_redirect_to_login_without_a_session(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_form_renders_with_csrf(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.text


def test_login_with_right_password_then_logout(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("ana@example.com", Role.BUYER)
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"email": "ANA@example.com ", "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert user.email in home.text
    logout = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert logout.status_code == 302, logout.text
    assert client.get("/").status_code == 302


def test_wrong_password_is_a_clear_401(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("ana@example.com")
    response = client.post(
        "/login",
        data={
            "email": "ana@example.com",
            "password": "wrong-password",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_missing_csrf_token_is_refused(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("ana@example.com")
    response = client.post("/login", data={"email": "ana@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not logged in


def test_login_is_throttled_after_repeated_failures(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user("ana@example.com")
    for _ in range(5):
        bad = {
            "email": "ana@example.com",
            "password": "nope-nope-nope",
            "csrf_token": csrf_token(client),
        }
        assert client.post("/login", data=bad).status_code == 401
    good = {"email": "ana@example.com", "password": TEST_PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=good)
    assert response.status_code == 429
    assert "too many failed attempts" in response.text.lower()


def test_next_is_followed_only_on_this_site(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user("ana@example.com")
    data = {
        "email": "ana@example.com",
        "password": TEST_PASSWORD,
        "next": "https://evil.example/",
        "csrf_token": csrf_token(client),
    }
    response = client.post("/login", data=data)
    assert response.headers["Location"] == "/"


def test_safe_next_rejects_every_foreign_form(app: Flask) -> None:
    with app.test_request_context():
        _check_safe_next()


def _check_safe_next() -> None:
    for target in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "evil",
        "/\x00x",
        "javascript:alert(1)",
        "http:/evil.example",
    ):
        assert safe_next(target) == "/", target
    assert safe_next("/campaigns?x=1") == "/campaigns?x=1"


def test_session_cookie_flags(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("ana@example.com")
    response = client.post(
        "/login",
        data={
            "email": "ana@example.com",
            "password": TEST_PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_changing_the_password_ends_old_sessions(
    client: FlaskClient, login: Callable[..., User], db: object
) -> None:
    from tracker.auth.services import set_password
    from tracker.extensions import db as store

    user = login(Role.BUYER)
    assert client.get("/").status_code == 200
    set_password(user, "a-brand-new-password")
    store.session.commit()
    assert client.get("/").status_code == 302


def test_user_sees_only_their_workspace(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User]
) -> None:
    make_user("other@example.com", Role.ADMIN, workspace="Client B")
    login(Role.VIEWER, workspace="Client A")
    page = client.get("/").text
    assert "Client A" in page
    assert "Client B" not in page


def test_workspace_switch_refuses_foreign_workspace(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User], db: object
) -> None:
    from sqlalchemy import select

    from tracker.extensions import db as store
    from tracker.models import Workspace

    make_user("other@example.com", Role.ADMIN, workspace="Client B")
    user = login(Role.BUYER, workspace="Client A")
    from tracker.auth.services import create_user

    create_user(store.session, user.email, Role.VIEWER, workspace_name="Client C")
    store.session.commit()
    foreign = store.session.scalar(select(Workspace).where(Workspace.name == "Client B"))
    assert foreign is not None
    response = client.post(
        "/workspace", data={"workspace_id": foreign.id, "csrf_token": csrf_token(client, "/")}
    )
    assert response.status_code == 302
    assert "Client B" not in client.get("/").text


def test_passwords_are_stored_as_scrypt_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real hasher (the suite swaps in a cheap one for speed): scrypt, salted, never clear."""
    from werkzeug.security import check_password_hash, generate_password_hash

    from tracker.auth import services

    monkeypatch.setattr(services, "generate_password_hash", generate_password_hash)
    stored = services.hash_password(TEST_PASSWORD)
    assert stored.startswith("scrypt:") and TEST_PASSWORD not in stored
    assert stored != services.hash_password(TEST_PASSWORD)  # salted
    assert check_password_hash(stored, TEST_PASSWORD)
