"""Whether a visit is unique before it is stored, for flows whose rules route by it.

The stored flag is computed by the visit's own INSERT (``recorder``); a rule on ``unique`` needs
the answer earlier, so it costs one indexed read (``ix_visit_unique_key``), paid only by
campaigns whose flow has such a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from tracker.models.events import user_agent_hash
from tracker.tracking.recorder import UNIQUE_WINDOW, VISIT


def seen_recently(
    conn: Connection, campaign_id: int, ip: str, user_agent: str, at: datetime
) -> bool:
    """True when the campaign stored a visit of this IP and user agent in the 24 h before
    ``at``."""
    query = (
        select(VISIT.c.id)
        .where(
            VISIT.c.campaign_id == campaign_id,
            VISIT.c.ip == ip,
            VISIT.c.user_agent_hash == user_agent_hash(user_agent),
            VISIT.c.created_at >= at - UNIQUE_WINDOW,
            VISIT.c.created_at <= at,
            VISIT.c.user_agent == user_agent,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def is_unique_visit(engine: Engine, visit: Mapping[str, Any]) -> bool:
    """Whether the visit about to be stored (its values) will count as unique."""
    with engine.connect() as conn:
        return not seen_recently(
            conn,
            visit["campaign_id"],
            visit["ip"],
            visit["user_agent"],
            visit["created_at"],
        )
