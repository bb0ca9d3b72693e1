"""Every route has an access rule, and the rule holds: a new route without one fails here.

UI pages need a session (anonymous → the login page); writes need the buyer role, member and
user management the admin role; the API needs a token (anonymous → 401) and the buyer role to
write. Public endpoints are the tracking, conversion and health ones, listed by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.conftest import ApiClient
from tracker.models import Campaign, Role, User

PUBLIC = "public"
MEMBER = "member"  # any role in the workspace
BUYER = "buyer"
ADMIN = "admin"

# endpoint → who may use it. Methods other than GET/HEAD need BUYER unless the endpoint says.
ACCESS: dict[str, str] = {
    # tracking, conversions from networks, health, login
    "tracking.visit": PUBLIC,
    "tracking.click": PUBLIC,
    "tracking.double_meta_hop": PUBLIC,
    "conversions.postback": PUBLIC,
    "conversions.conversion_pixel": PUBLIC,
    "conversions.conversion_script": PUBLIC,
    "health.healthz": PUBLIC,
    "auth.login": PUBLIC,
    "static": PUBLIC,
    "api.openapi_spec": PUBLIC,
    # every member, whatever their role (their own account and session)
    "auth.logout": MEMBER,
    "auth.switch_workspace": MEMBER,
    "home.index": MEMBER,
    "settings.index": MEMBER,
    "settings.tokens": MEMBER,
    "settings.token_revoke": MEMBER,
    "reports.index": MEMBER,
    "reports.export_csv": MEMBER,
    "reports.chart_library": MEMBER,
    "conversions.index": MEMBER,
    "conversions.postback_log": MEMBER,
    "conversions.forwards": MEMBER,
    "api.me": MEMBER,
    "api.workspaces": MEMBER,
    "api.presets": MEMBER,
    "api.report": MEMBER,
    "api.report_as_csv": MEMBER,
    # simulating a visit changes nothing: anyone who reads the campaign may try it
    "api.campaign_visit_test": MEMBER,
    "test_visit.test_visit": MEMBER,
    # admins only
    "settings.members": ADMIN,
    "settings.member_role": ADMIN,
    "settings.member_remove": ADMIN,
    # buyers: reading is for every member, writing for buyers and admins
    "settings.audit": BUYER,
}


def rule_for(endpoint: str) -> str | None:
    if endpoint in ACCESS:
        return ACCESS[endpoint]
    if endpoint.startswith(("setup.", "api.", "conversions.", "reports.", "test_visit.")):
        return BUYER  # reads by members are checked below; writes need a buyer
    return None


def all_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules()]


def test_every_route_has_an_access_rule(app: Flask) -> None:
    missing = sorted({r.endpoint for r in all_rules(app) if rule_for(r.endpoint) is None})
    assert not missing, f"routes without an access rule in tests/test_route_access.py: {missing}"


def test_public_endpoints_are_exactly_the_listed_ones(app: Flask) -> None:
    public_views = {
        endpoint for endpoint, view in app.view_functions.items() if getattr(view, "_public", False)
    }
    listed = {e for e, rule in ACCESS.items() if rule == PUBLIC and not e.startswith("api.")}
    listed.discard("static")
    assert public_views == listed


def _url(rule: Rule, ids: dict[str, int]) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if converter == "path":
            return "app.css"
        if name == "token":
            return "x"
        if name in ("key",):
            return "nokey"
        return str(ids.get(name, 1))

    return re.sub(r"<([^>]+)>", fill, rule.rule)


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _send(client: FlaskClient | ApiClient, method: str, url: str) -> Any:
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, json={}) if url.startswith("/api/") else client.post(url, data={})
    if method == "PATCH":
        return client.patch(url, json={})
    return client.delete(url)


@pytest.fixture
def objects(make_campaign: Callable[..., Campaign]) -> dict[str, int]:
    campaign = make_campaign()
    return {
        "object_id": campaign.id,
        "campaign_id": campaign.id,
        "update_id": 1,
        "type_id": 1,
        "slot": 1,
    }


def test_anonymous_requests_go_to_login_or_get_401(
    app: Flask, client: FlaskClient, objects: dict[str, int]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    for rule in all_rules(app):
        if rule_for(rule.endpoint) == PUBLIC:
            continue
        for method in _methods(rule):
            url = _url(rule, objects)
            response = _send(client, method, url)
            if rule.endpoint.startswith("api."):
                assert response.status_code == 401, (method, url)
            else:
                assert response.status_code == 302, (method, url, response.status_code)
                assert response.headers["Location"].startswith("/login"), (method, url)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BUYER])
def test_roles_below_the_rule_are_refused(
    app: Flask,
    client: FlaskClient,
    login: Callable[..., User],
    objects: dict[str, int],
    role: Role,
) -> None:
    login(role)
    app.config["WTF_CSRF_ENABLED"] = False  # roles are under test here, not CSRF
    for rule in all_rules(app):
        needed = rule_for(rule.endpoint)
        if needed in (PUBLIC, MEMBER) or rule.endpoint.startswith("api."):
            continue
        for method in _methods(rule):
            writes = method != "GET"
            refused = needed == ADMIN or (needed == BUYER and writes and role is Role.VIEWER)
            if needed == BUYER and rule.endpoint == "settings.audit" and role is Role.VIEWER:
                refused = True
            if not refused:
                continue
            url = _url(rule, objects)
            response = _send(client, method, url)
            assert response.status_code == 403, (role.value, method, url, response.status_code)


def test_viewer_tokens_cannot_write_through_the_api(
    app: Flask, api: Callable[..., ApiClient], objects: dict[str, int]
) -> None:
    viewer = api(Role.VIEWER)
    for rule in all_rules(app):
        if not rule.endpoint.startswith("api.") or rule_for(rule.endpoint) != BUYER:
            continue
        for method in _methods(rule):
            if method == "GET":
                continue
            url = _url(rule, objects)
            response = _send(viewer, method, url)
            assert response.status_code == 403, (method, url, response.status_code)
