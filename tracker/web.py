"""Request helpers shared by the blueprints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request
from werkzeug.routing import IntegerConverter

from tracker.config import Settings
from tracker.numbers import MAX_ID

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: a number past the store's BIGINT is read as 0, which no object
    has, so the view answers its own 404 rather than run a query that overflows (a 500 on
    SQLite and PostgreSQL alike). (A ``max`` here would make werkzeug answer 405 instead.)"""

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0


def client_ip() -> str:
    """The visitor's IP of the current request (see ``client_ip_of``)."""
    settings: Settings = current_app.config["SETTINGS"]
    return client_ip_of(request.environ, settings.trusted_proxies)


def client_ip_of(environ: WSGIEnvironment, hops: int) -> str:
    """The visitor's IP: the socket's address, or with ``hops`` trusted proxies the N-th
    X-Forwarded-For entry from the right (entries further left are the client's to forge)."""
    remote: str = environ.get("REMOTE_ADDR") or ""
    if hops <= 0:
        return remote
    # The server joins repeated X-Forwarded-For headers into one, comma-separated.
    header: str = environ.get("HTTP_X_FORWARDED_FOR") or ""
    forwarded = [stripped for part in header.split(",") if (stripped := part.strip())]
    if len(forwarded) < hops:
        return forwarded[0] if forwarded else remote
    return forwarded[-hops]


def wants_json() -> bool:
    """True when the client prefers JSON to HTML (API clients, fetch calls)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )
