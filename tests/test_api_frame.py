"""The API frame: bearer tokens, the one error shape, JSON errors, the spec."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ApiClient
from tracker.auth.services import create_api_token, revoke_api_token
from tracker.models import ApiToken, Role


def assert_error_shape(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == code
    assert error["message"]


def test_missing_token_is_401_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(response.json, "unauthorized")


def test_bad_token_is_401(client: FlaskClient) -> None:
    for header in ("Bearer trk_nope", "Bearer ", "Basic abc", "trk_x"):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert_error_shape(response.json, "unauthorized")


def test_token_acts_as_its_user(api: Callable[..., ApiClient]) -> None:
    caller = api(Role.VIEWER, workspace="Client A")
    response = caller.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json["email"] == caller.user.email
    assert response.json["workspaces"] == [
        {
            "id": caller.user.memberships[0].workspace_id,
            "name": "Client A",
            "role": "viewer",
            "is_default": True,
        }
    ]


def test_token_is_stored_hashed_and_revocable(api: Callable[..., ApiClient], db: Session) -> None:
    caller = api(Role.BUYER)
    stored = db.scalars(select(ApiToken)).one()
    assert caller.token not in (stored.token_hash, stored.prefix)
    assert len(stored.token_hash) == 64
    assert revoke_api_token(db, caller.user, stored.id)
    db.commit()
    assert caller.get("/api/v1/me").status_code == 401


def test_second_token_and_last_used(api: Callable[..., ApiClient], db: Session) -> None:
    caller = api(Role.BUYER)
    other = create_api_token(db, caller.user, "ci").raw
    db.commit()
    response = caller.client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 200
    token = db.scalars(select(ApiToken).where(ApiToken.name == "ci")).one()
    assert token.last_used_at is not None


def test_unknown_api_route_is_json_404(api: Callable[..., ApiClient]) -> None:
    response = api().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert_error_shape(response.json, "not_found")


def test_unknown_page_is_html_404_for_browsers(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    json_response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert json_response.status_code == 404
    assert_error_shape(json_response.json, "not_found")


def test_wrong_method_is_405_json(api: Callable[..., ApiClient]) -> None:
    response = api().post("/api/v1/me", json={})
    assert response.status_code == 405
    assert_error_shape(response.json, "method_not_allowed")


def test_openapi_is_public_and_generated(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert "/me" in spec["paths"]
    me = spec["paths"]["/me"]["get"]
    ref = me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]


def test_healthz_reports_the_store(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "store": "ok",
        "spool": {"bytes": 0, "backlog": 0, "full": False},
    }
