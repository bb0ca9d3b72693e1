"""The tracker: a self-hosted campaign tracker. ``create_app`` builds the Flask application."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from tracker.config import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, **flask_config: Any) -> Flask:
    """Build the application: settings, store, extensions, blueprints, error pages, CLI."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    _configure(app, settings, flask_config)
    _init_store(app)
    _init_auth(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_template_helpers(app)
    return app


def _configure(app: Flask, settings: Settings, flask_config: dict[str, Any]) -> None:
    from tracker.web import IdConverter

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.resolved_secret_key(),
        SQLALCHEMY_DATABASE_URI=settings.resolved_database_url(),
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.resolved_database_url()),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # a form left open all day still submits; the session bounds it
        # Tracking and postback URLs carry long sub IDs, never megabytes.
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_config)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # The busy timeout makes writers queue on SQLite's one lock instead of failing.
        return {"connect_args": {"timeout": 30}}
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    if not url.startswith("postgresql"):
        return options
    # A store that vanished from the network must fail a caller in seconds, not after the
    # kernel's TCP timeouts (minutes): the hot path then serves from its caches and the spool.
    connect_args = {
        "connect_timeout": 3,
        "tcp_user_timeout": 5000,  # ms a sent query may go unacknowledged
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    return {**options, "connect_args": connect_args}


def _init_store(app: Flask) -> None:
    from tracker import models  # noqa: F401  (registers every table on the metadata)
    from tracker.audit import init_audit
    from tracker.extensions import db, migrate
    from tracker.store import configure_engine

    init_audit()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    with app.app_context():
        configure_engine(db.engine)


def _init_auth(app: Flask) -> None:
    from tracker.auth.sessions import init_auth
    from tracker.extensions import csrf
    from tracker.security import init_security

    csrf.init_app(app)
    init_auth(app)
    init_security(app)


def _register_blueprints(app: Flask) -> None:
    from tracker.api import api_bp
    from tracker.auth.views import auth_bp
    from tracker.conversions.views import conversions_bp
    from tracker.health import health_bp
    from tracker.home import home_bp
    from tracker.settings.views import settings_bp
    from tracker.tracking.views import tracking_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(tracking_bp)
    app.register_blueprint(conversions_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(__import__("tracker.reports.views", fromlist=["_"]).reports_bp)
    app.register_blueprint(__import__("tracker.setup.views", fromlist=["_"]).setup_bp)
    app.register_blueprint(__import__("tracker.tracking.test_views", fromlist=["_"]).test_visit_bp)


def _register_error_handlers(app: Flask) -> None:
    from tracker.errors import register_error_handlers

    register_error_handlers(app)


def _register_template_helpers(app: Flask) -> None:
    from tracker.templating import register_template_helpers

    register_template_helpers(app)
