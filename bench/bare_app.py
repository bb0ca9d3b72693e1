"""The yardstick of ``bench/clicks.py``: a Flask app that only answers 302, served by the same
gunicorn set-up as the tracker (``bench/clicks.py`` starts it)."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.get("/c/<key>")
def visit(key: str) -> Response:
    """Redirect, and nothing else."""
    return Response(status=302, headers={"Location": "https://offer.example/?cid=bare"})
