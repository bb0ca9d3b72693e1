"""Conversion commands: ``tracker worker`` and ``tracker bench postbacks``.

Imported at the bottom of ``tracker.cli``, it attaches its commands to the ``tracker`` group; the
``bench`` group is shared (whichever module comes first creates it, the others attach).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import click

from tracker.cli import _build_app, _fails_cleanly, _say, bench_group, load_bench_module, main


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


@bench_group().command("postbacks")
@click.option(
    "--visits",
    type=click.IntRange(1000, 50_000_000),
    default=1_000_000,
    show_default=True,
    help="Visits in the store the postbacks look up.",
)
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option(
    "--postbacks",
    type=click.IntRange(500, 1_000_000),
    default=15_000,
    show_default=True,
    help="Postbacks per round (85 % new, 10 % duplicates, 5 % unknown click IDs).",
)
@click.option("--connections", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--database-url",
    default="",
    help="The store to fill (default: a SQLite file in a temporary folder). A PostgreSQL "
    "database is emptied first: its name must contain 'bench'.",
)
@click.option("--reuse", is_flag=True, help="Keep the visits of an earlier run of this store.")
@click.option(
    "--results",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also append the figures to this Markdown file (e.g. bench/RESULTS.md).",
)
def bench_postbacks(
    visits: int,
    rounds: int,
    postbacks: int,
    connections: int,
    workers: int,
    database_url: str,
    reuse: bool,
    results: Path | None,
) -> None:
    """Postbacks/s and p99 under `tracker serve` against a bare Flask app; counts every row."""
    module = load_bench_module("postbacks")
    options = module.Options(
        visits=visits,
        rounds=rounds,
        postbacks=postbacks,
        connections=connections,
        workers=workers,
        database_url=database_url,
        reuse=reuse,
    )
    command = " ".join(["tracker bench postbacks", *sys.argv[3:]]).strip()
    report = module.run(options, say=_say, command=command)
    text = report.markdown()
    click.echo(text)
    if results is not None:
        with results.open("a") as fh:
            fh.write("\n" + text + "\n")
        _say(f"appended to {results}")
    if not report.exact:
        raise click.ClickException("the store does not hold exactly the accepted postbacks")
