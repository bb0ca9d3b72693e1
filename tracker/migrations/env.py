"""Alembic environment: migrations run against the app's engine and metadata."""

from __future__ import annotations

from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

config = context.config
store = current_app.extensions["migrate"].db
target_metadata = store.metadata


def render_item(kind: str, obj: Any, _context: Any) -> str | bool:
    """Render our column types by their plain SQL type, so migrations never import the app."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{type(obj.impl_instance).__name__}()"
    return False


def run_offline() -> None:
    """Emit SQL for the configured URL without connecting."""
    context.configure(
        url=store.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=store.engine.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the store; SQLite gets batch mode (it cannot ALTER most things in place)."""
    with store.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
