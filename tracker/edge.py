"""The lean path: the public endpoints that must answer in microseconds (a visitor's redirect)
are served straight from the WSGI environ, ahead of Flask's request context, session, login,
CSRF and security hooks. On a bare redirect that machinery costs more than the tracking work
itself (bench/RESULTS.md, "Clicks"), and none of it applies to a public endpoint.

Each such endpoint is still a Flask route (``url_for``, the API description, the access rules,
any request the lean path declines): its view calls the same handler with ``request.environ``
and turns the ``Answer`` into a Flask response, so there is one implementation of each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from flask import Response
from werkzeug.http import HTTP_STATUS_CODES

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

NO_STORE = "no-store, no-cache, must-revalidate, max-age=0"
HTML = "text/html; charset=utf-8"
# What add_security_headers gives a public endpoint's answer in the Flask path.
ALWAYS = ("X-Content-Type-Options", "nosniff")
_STATUS_LINES = {code: f"{code} {phrase.upper()}" for code, phrase in HTTP_STATUS_CODES.items()}
_ERROR_BODY = (
    b'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    b'<meta name="robots" content="noindex, nofollow">\n<title>Error</title>\n</head>\n'
    b"<body>\n<h1>Something went wrong</h1>\n"
    b"<p>The error is logged. Please try again in a moment.</p>\n</body>\n</html>\n"
)


@dataclass(slots=True)
class Answer:
    """A response as the lean path writes it: status, headers (without Content-Length), body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def to_flask(self) -> Response:
        """The same answer for the Flask route of the endpoint."""
        return Response(self.body, status=self.status, headers=self.headers)


# A route's handler: the environ and the path's remainder after its prefix ("" for an exact
# path); None declines the request, which Flask then answers (its 404 for a malformed path).
Handler = Callable[["WSGIEnvironment", str], Answer | None]


def path_parameter(raw: str) -> str:
    """A path segment as Flask's router reads it (WSGI's latin-1 text holds UTF-8 bytes)."""
    return raw if raw.isascii() else raw.encode("latin-1").decode(errors="replace")


def query_values(environ: WSGIEnvironment) -> dict[str, str]:
    """The query string's parameters, the first value of each, decoded as Flask's
    ``request.args`` decodes them (undecodable bytes stay percent-encoded)."""
    query: str = environ.get("QUERY_STRING", "")
    if not query:
        return {}
    if not query.isascii():
        query = query.encode("latin-1").decode(errors="replace")
    values: dict[str, str] = {}
    if "%" not in query and "+" not in query:
        # Nothing to decode (most tracking links): parse_qsl's split, at a fifth of its cost.
        for pair in query.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                if name not in values:
                    values[name] = value
        return values
    for name, value in parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"):
        if name not in values:
            values[name] = value
    return values


class LeanEdge:
    """WSGI middleware in front of ``app.wsgi_app``: GET and HEAD on its routes are answered
    here, everything else (and any request a handler declines) goes on to Flask."""

    def __init__(self, wrapped: WSGIApplication) -> None:
        self.wrapped = wrapped
        self._exact: dict[str, Handler] = {}
        self._prefixed: list[tuple[str, Handler]] = []

    def add(self, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Serve ``path`` (or, with ``prefix``, one path segment after it) with ``handler``."""
        if prefix:
            self._prefixed.append((path, handler))
        else:
            self._exact[path] = handler

    def _match(self, path: str) -> tuple[Handler, str] | None:
        handler = self._exact.get(path)
        if handler is not None:
            return handler, ""
        for prefix, handler in self._prefixed:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if rest and "/" not in rest:
                    return handler, path_parameter(rest)
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            found = self._match(environ.get("PATH_INFO", ""))
            if found is not None:
                handler, parameter = found
                try:
                    answer = handler(environ, parameter)
                except Exception:
                    # As Flask's own handler would: logged, answered, the worker lives on.
                    log.exception("unhandled error on %s", environ.get("PATH_INFO"))
                    answer = Answer(500, [("Content-Type", HTML)], _ERROR_BODY)
                if answer is not None:
                    return self._send(answer, method == "HEAD", start_response)
        return self.wrapped(environ, start_response)

    @staticmethod
    def _send(answer: Answer, head: bool, start_response: StartResponse) -> list[bytes]:
        headers = answer.headers
        headers.append(ALWAYS)
        headers.append(("Content-Length", str(len(answer.body))))
        start_response(_STATUS_LINES[answer.status], headers)
        return [] if head or not answer.body else [answer.body]


def lean_edge(app: Any) -> LeanEdge:
    """The app's lean path, put in front of its WSGI app on first use."""
    edge = app.wsgi_app
    if not isinstance(edge, LeanEdge):
        edge = app.wsgi_app = LeanEdge(app.wsgi_app)
    return edge
