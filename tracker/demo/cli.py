"""The ``tracker demo`` command."""

from __future__ import annotations

import sys
from typing import Any

import click

from tracker.demo.service import MAX_DAYS, MAX_VISITS, DemoOptions, ProgressBar


def tqdm_progress(description: str, total: int) -> ProgressBar:
    """A tqdm bar on stderr (only where stderr is a terminal: logs stay clean)."""
    from tqdm import tqdm

    bar: Any = tqdm(
        total=total,
        desc=description,
        unit="",
        unit_scale=True,
        file=sys.stderr,
        disable=None,
        leave=False,
        dynamic_ncols=True,
    )
    return bar


def run_demo(options: DemoOptions) -> str:
    """Build the demo data in the store of the current app and commit; the summary line."""
    from flask import current_app

    from tracker.demo.service import DemoRefused, build_demo
    from tracker.extensions import db as store

    try:
        summary = build_demo(
            store.session, current_app.config["SETTINGS"], options, progress=tqdm_progress
        )
    except DemoRefused as exc:
        store.session.rollback()
        raise click.ClickException(str(exc)) from exc
    except BaseException:
        store.session.rollback()
        raise
    store.session.commit()
    return summary.line()


def quickstart_demo() -> None:
    """``tracker quickstart --demo``: demo data into an empty store; a store with campaigns
    is left as it is (quickstart then serves it)."""
    from tracker.cli import _say
    from tracker.demo.service import DemoRefused

    try:
        _say(run_demo(DemoOptions()))
    except click.ClickException as exc:
        if not isinstance(exc.__cause__, DemoRefused):
            raise
        _say(f"no demo data added: {exc.message}")


@click.command("demo")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same month.")
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    default=30,
    show_default=True,
    help="How many days of traffic, up to now.",
)
@click.option(
    "--visits",
    type=click.IntRange(1, MAX_VISITS),
    default=50_000,
    show_default=True,
    help="How many visits in all.",
)
@click.option("--force", is_flag=True, help="Add the demo data even if the store has campaigns.")
def demo(seed: int, days: int, visits: int, force: bool) -> None:
    """Fill the store with a realistic month of demo data (sources, offers, a flow, campaigns,
    visits, clicks, conversions, costs); prints a one-line summary."""
    from tracker.cli import _app_context, _fails_cleanly, _say

    @_fails_cleanly
    def build() -> str:
        with _app_context():
            return run_demo(DemoOptions(seed=seed, days=days, visits=visits, force=force))

    _say(f"making {visits:,} visits over {days} days (seed {seed})…")
    click.echo(build())
