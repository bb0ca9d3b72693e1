"""Security headers for the buyer's pages; the tracking endpoints are left as networks and
landers need them (their redirects and pixels must work inside any page)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, abort, current_app, request

# No inline scripts or styles anywhere in the UI: every script and stylesheet is a file of ours.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _is_tracking_endpoint() -> bool:
    """Public endpoints other than the login page: redirects, pixels, postbacks, health."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "auth.login" or endpoint == "static":
        return False
    view = current_app.view_functions.get(endpoint)
    return bool(getattr(view, "_public", False))


def add_security_headers(response: Response) -> Response:
    """nosniff everywhere; CSP, framing and referrer rules on the UI and the API."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if _is_tracking_endpoint():
        return response
    for name, value in UI_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static" and response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# Endpoints that take pasted files and drop NUL characters themselves (with their own message).
NUL_CLEANING_ENDPOINTS = frozenset({"static", "conversions.upload", "reports.import_costs"})


def _has_nul(pairs: Iterable[tuple[str, str]]) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def refuse_nul_characters() -> None:
    """400 for a NUL character in a page's parameters or form fields: no text column can hold
    one (PostgreSQL refuses it outright). The tracking endpoints strip them instead (visitors
    and networks are never turned away for junk in a sub ID), and the API names the field."""
    if (
        _is_tracking_endpoint()
        or request.endpoint in NUL_CLEANING_ENDPOINTS
        or request.path.startswith("/api/")
    ):
        return
    found = _has_nul(request.args.items(multi=True))
    if not found and request.method == "POST":
        found = _has_nul(request.form.items(multi=True))
    if found:
        abort(400, description="A NUL character is not allowed in any field.")


def init_security(app: Flask) -> None:
    """Attach the headers to every response; refuse NUL characters before any view runs."""
    app.before_request(refuse_nul_characters)
    app.after_request(add_security_headers)
