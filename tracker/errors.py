"""Error answers: JSON ``{"error": {...}}`` for the API and clients that prefer JSON, a page
otherwise. Never a bare 500 for what a user or a network can send."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from tracker.extensions import db
from tracker.web import wants_json

log = logging.getLogger(__name__)


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, object]:
    """The API's one error shape."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _code_for(exc: HTTPException) -> str:
    name = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    return name


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error, and any unexpected exception, in the client's format."""

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        message = exc.description or exc.name
        if wants_json():
            response = jsonify(error_body(_code_for(exc), message))
            response.status_code = status
            if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
                response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
            return response
        return render_template("error.html", status=status, title=exc.name, message=message), status

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        db.session.rollback()
        return handle_http_error(InternalServerError())
