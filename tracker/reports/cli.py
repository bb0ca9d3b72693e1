"""Report commands: ``tracker bench reports`` and ``tracker reports refresh|prune``.

Imported at the bottom of ``tracker.cli``, it attaches its commands to the ``tracker`` group; the
``bench`` group is shared (whichever module comes first creates it, the others attach).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tracker.cli import _app_context, _fails_cleanly, _say, bench_group, load_bench_module, main


def _prepare_store(url: str, fresh: bool) -> None:
    from sqlalchemy import create_engine, make_url, text

    parsed = make_url(url)
    if not fresh:
        return
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    if "bench" not in (parsed.database or ""):
        raise click.ClickException("--fresh empties the database: its name must contain 'bench'")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@bench_group().command("reports")
@click.option(
    "--visits", type=click.IntRange(1000, 50_000_000), default=1_000_000, show_default=True
)
@click.option(
    "--database-url",
    default=None,
    help="The benchmark's own store (default: SQLite instance/bench-reports.db). "
    "A PostgreSQL database's name must contain 'bench'.",
)
@click.option(
    "--fresh/--reuse",
    default=True,
    show_default=True,
    help="Start from an empty store, or time the data already there.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--raw", "raw_only", is_flag=True, help="Time the reports from raw visits alone (no rollups)."
)
@click.option("--rebuild-rollups", is_flag=True, help="Empty the rollups and build them anew.")
@_fails_cleanly
def bench_reports(
    visits: int,
    database_url: str | None,
    fresh: bool,
    seed: int,
    raw_only: bool,
    rebuild_rollups: bool,
) -> None:
    """Generate realistic visits and conversions, then time 30-day reports cold and warm (the
    API's, and the report page's own requests down the zone path)."""
    import random
    import time

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, delete, select, text
    from tqdm import tqdm

    from tracker import create_app
    from tracker.config import Settings
    from tracker.extensions import db as store
    from tracker.models import Workspace
    from tracker.models.rollups import RollupState
    from tracker.reports.rollups import SPECS, refresh_rollups

    bench = load_bench_module("reports")
    url = database_url or f"sqlite:///{Path('instance').resolve() / 'bench-reports.db'}"
    _prepare_store(url, fresh)
    app = create_app(Settings.from_env(database_url=url))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        store.engine.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        workspace_id = conn.execute(select(Workspace.id).order_by(Workspace.id)).scalar()
    if fresh or workspace_id is None:
        setup = bench.make_setup(engine, random.Random(seed))
        workspace_id = setup.workspace_id
        started = time.perf_counter()
        with tqdm(total=visits, unit="visit", unit_scale=True, file=sys.stderr) as bar:
            # PostgreSQL draws the rows itself (minutes for 10 M, not the client's 38).
            generate = (
                bench.generate_in_server if engine.dialect.name == "postgresql" else bench.generate
            )
            generate(engine, setup, visits, seed, bar.update)
        _say(f"generated in {time.perf_counter() - started:.1f} s")
    counts = bench.store_counts(engine)
    _say(
        f"store: {counts[0]:,} visits, {counts[1]:,} conversions ({engine.url.get_backend_name()})"
    )
    with app.app_context():
        if rebuild_rollups:
            for spec in SPECS:
                store.session.execute(delete(spec.table))
            store.session.execute(delete(RollupState))
            store.session.commit()
        started = time.perf_counter()
        if store.session.get_bind().dialect.name == "postgresql":
            # The first build groups every visit at once: let its aggregates stay in memory.
            store.session.execute(text("SET LOCAL work_mem = '256MB'"))
        refresh_rollups(store.session)
        store.session.commit()
        _say(f"rollups refreshed in {time.perf_counter() - started:.1f} s")
        store.engine.dispose()
    # What autovacuum does on PostgreSQL after a large write. Nothing runs ANALYZE on SQLite,
    # so its reports are timed without statistics (those of an earlier run are dropped).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        elif conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first():
            conn.exec_driver_sql("DROP TABLE sqlite_stat1")
    engine.dispose()
    click.echo("| report | rows | visits | tables | cold ms | warm ms |")
    click.echo("|---|---:|---:|---|---:|---:|")
    if raw_only:
        from tracker.reports import rollups

        rollups.plan = lambda session, query: None
    for result in bench.time_reports(url, workspace_id):
        click.echo(
            f"| {result['report']} | {result['rows']:,} | {result['visits']:,} | "
            f"{result['sources']} | {result['cold_ms']:.0f} | {result['warm_ms']:.0f} |"
        )


@main.group("reports")
def reports_group() -> None:
    """Report upkeep: rollups and raw visit retention (the worker runs these too)."""


@reports_group.command("refresh")
@_fails_cleanly
def reports_refresh() -> None:
    """Bring the hourly rollups up to date with the visits and conversions."""
    from tracker.extensions import db as store
    from tracker.reports.rollups import refresh_rollups

    with _app_context():
        outcome: Any = refresh_rollups(store.session)
        store.session.commit()
        click.echo(str(outcome))


@reports_group.command("prune")
@_fails_cleanly
def reports_prune() -> None:
    """Delete raw visits older than TRACKER_VISIT_RETENTION_DAYS (rollups keep their totals)."""
    from flask import current_app

    from tracker.extensions import db as store
    from tracker.reports.rollups import prune_raw_visits

    with _app_context():
        settings = current_app.config["SETTINGS"]
        deleted = prune_raw_visits(store.session, settings.visit_retention_days)
        store.session.commit()
        click.echo(str(deleted))
