"""Alembic environment: migrations run against the app's engine and metadata."""

from __future__ import annotations

from alembic import context
from flask import current_app

config = context.config
store = current_app.extensions["migrate"].db
target_metadata = store.metadata


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
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
