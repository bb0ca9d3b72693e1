"""Conversion commands: ``tracker worker`` and ``tracker bench postbacks``.

Imported at the bottom of ``tracker.cli``, it attaches its commands to the ``tracker`` group; the
``bench`` group is shared (whichever module comes first creates it, the others attach).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
from pathlib import Path
from types import ModuleType

import click

from tracker.cli import _build_app, _fails_cleanly, _say, main

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


@main.command("worker")
@click.option("--once", is_flag=True, help="Run every job once, print what each did, and exit.")
@_fails_cleanly
def worker(once: bool) -> None:
    """Run the background worker alone: forward conversions, prune the postback log."""
    from tracker.conversions.worker import run_worker, stop_on_signals

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s [worker] %(message)s"
    )
    app = _build_app()
    stop = threading.Event()
    if once:
        totals = run_worker(app, stop, once=True)
        click.echo(json.dumps(totals))
        return
    stop_on_signals(stop)
    _say("worker running: forwarding conversions (Ctrl-C or SIGTERM stops it)")
    run_worker(app, stop)
    _say("worker stopped")


def bench_group() -> click.Group:
    """The shared ``tracker bench`` group, created on first use."""
    existing = main.commands.get("bench")
    if isinstance(existing, click.Group):
        return existing

    @main.group("bench")
    def bench() -> None:
        """Benchmarks of bench/: each builds its own store and prints its figures."""

    return bench


def _load_bench_module(name: str) -> ModuleType:
    path = BENCH_DIR / f"{name}.py"
    if not path.exists():
        raise click.ClickException(f"{path} not found: benchmarks run from a checkout")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@bench_group().command("postbacks")
@click.option(
    "--visits",
    type=click.IntRange(1000, 50_000_000),
    default=1_000_000,
    show_default=True,
    help="Visits in the store the postbacks look up.",
)
@click.option(
    "--postbacks",
    type=click.IntRange(100, 10_000_000),
    default=20_000,
    show_default=True,
    help="Postbacks sent (10 % duplicates, 5 % unknown click IDs).",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--database-url",
    default="",
    help="The store to fill (default: a SQLite file under instance/bench/). A PostgreSQL "
    "database is emptied first: its name must contain 'bench'.",
)
@click.option(
    "--reuse/--fresh",
    default=False,
    show_default=True,
    help="Reuse the visits of an earlier run in the same store.",
)
@click.option("--results", type=click.Path(path_type=Path), default=None, help="Append here.")
def bench_postbacks(
    visits: int,
    postbacks: int,
    concurrency: int,
    workers: int,
    database_url: str,
    reuse: bool,
    results: Path | None,
) -> None:
    """Postbacks/s and p99 under `tracker serve`, against a bare Flask app; counts every row."""
    module = _load_bench_module("postbacks")
    summary = module.run(
        visits=visits,
        postbacks=postbacks,
        concurrency=concurrency,
        workers=workers,
        database_url=database_url,
        reuse=reuse,
        say=_say,
    )
    click.echo(summary.markdown())
    if results is not None:
        with results.open("a") as fh:
            fh.write("\n" + summary.markdown() + "\n")
        _say(f"appended to {results}")
    if not summary.exact:
        raise click.ClickException("stored conversions do not match the accepted postbacks")
