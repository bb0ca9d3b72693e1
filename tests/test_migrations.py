"""Migrations: one head, they build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from tracker.extensions import db as store

MIGRATIONS = Path(__file__).parents[1] / "tracker" / "migrations"


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_there_is_exactly_one_head() -> None:
    heads = _scripts().get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; merge them"


def test_the_store_is_at_the_head(app: Flask) -> None:
    """The session's store was built by `upgrade` alone (see conftest.database_url)."""
    with store.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert set(current) == set(_scripts().get_heads())


def test_migrations_match_the_models(app: Flask) -> None:
    """A model change without its migration fails here, on both backends."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, store.metadata)
    assert differences == [], differences
