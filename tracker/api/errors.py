"""API errors: one shape, ``{"error": {"code", "message", "fields"}}``, with the right 4xx."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from tracker.errors import error_body


class ApiError(Exception):
    """Raised by API views and services' callers; answered as the one error shape."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def field_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a dotted path: ``rules.0.conditions.1.op``."""
    return ".".join(str(part) for part in loc) or "body"


def from_validation_error(exc: ValidationError) -> ApiError:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        fields.setdefault(field_path(loc), err["msg"])
    first = next(iter(fields.items()))
    return ApiError(422, "invalid", f"{first[0]}: {first[1]}", fields)


def answer(exc: ApiError) -> ResponseReturnValue:
    response = jsonify(error_body(exc.code, exc.message, exc.fields))
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tracker"'
    return response
