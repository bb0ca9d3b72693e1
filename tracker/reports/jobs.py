"""The report jobs the background worker runs: rollup refresh and raw visit retention."""

from __future__ import annotations

import logging

from flask import Flask

from tracker.config import Settings
from tracker.extensions import db
from tracker.reports.rollups import prune_raw_visits, refresh_rollups

log = logging.getLogger(__name__)

REFRESH_EVERY = 2.0  # seconds: a late postback shows in sealed hours within this
PRUNE_EVERY = 3600.0


def refresh_job(app: Flask) -> int:
    """Roll up newly sealed hours and rebuild those with late clicks or conversions."""
    outcome = refresh_rollups(db.session)
    db.session.commit()
    return outcome.sealed_hours + outcome.rebuilt_hours


def retention_job(app: Flask) -> int:
    """Delete raw visits older than TRACKER_VISIT_RETENTION_DAYS (rollups keep the totals)."""
    settings: Settings = app.config["SETTINGS"]
    deleted = prune_raw_visits(db.session, settings.visit_retention_days)
    db.session.commit()
    if deleted:
        log.info(
            "visits: %d raw visits older than %d days deleted",
            deleted,
            settings.visit_retention_days,
        )
    return deleted


def register_jobs(app: Flask) -> None:
    """Give the worker the report jobs (once per app)."""
    from tracker.conversions.worker import add_worker_job

    add_worker_job(app, "report rollups", refresh_job, REFRESH_EVERY)
    add_worker_job(app, "visit retention", retention_job, PRUNE_EVERY)
