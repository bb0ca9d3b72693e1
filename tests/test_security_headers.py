"""Security headers: strict on the UI, absent where they would break tracking."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from tracker.models import Role, User


def test_ui_pages_carry_csp_without_inline_scripts(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login(Role.BUYER)
    for url in ("/", "/settings/", "/login"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_or_style_in_ui_pages(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login(Role.ADMIN)
    for url in ("/", "/settings/", "/settings/members", "/settings/tokens"):
        html = client.get(url).text
        assert "<script>" not in html and "style=" not in html, url
        assert " onclick=" not in html and " onsubmit=" not in html, url


def test_api_answers_carry_nosniff(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_health_endpoint_has_no_ui_policy(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert "Content-Security-Policy" not in response.headers
