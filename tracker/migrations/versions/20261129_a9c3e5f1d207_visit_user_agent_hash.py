"""visit.user_agent_hash, and the unique-visit index by it: the check that a visit's IP and
user agent were seen in the campaign within 24 h becomes one index seek instead of reading every
visit of that IP (a mobile carrier's NAT sends thousands).

Only visits of the last 25 hours get their hash: older ones are never read by the check.
Visits that processes of the earlier version store between this upgrade and their restart get
no hash: a visitor who returns within the next 24 h is counted unique once more.

Revision ID: a9c3e5f1d207
Revises: f3a9d6e1b720
Create Date: 2026-11-29
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from tracker.models.events import user_agent_hash

# revision identifiers, used by Alembic.
revision = "a9c3e5f1d207"
down_revision = "f3a9d6e1b720"
branch_labels = None
depends_on = None

BACKFILL = timedelta(hours=25)  # the check's 24 h, and an hour for clocks and late writers
BATCH = 10_000

visit = sa.table(
    "visit",
    sa.column("id", sa.BigInteger),
    sa.column("created_at", sa.DateTime),
    sa.column("user_agent", sa.Text),
    sa.column("user_agent_hash", sa.BigInteger),
)


def upgrade():
    op.add_column("visit", sa.Column("user_agent_hash", sa.BigInteger(), nullable=True))
    op.drop_index("ix_visit_unique_key", table_name="visit")
    bind = op.get_bind()
    since = datetime.now(UTC).replace(tzinfo=None) - BACKFILL  # stored as naive UTC
    fill = (
        sa.update(visit)
        .where(visit.c.id == sa.bindparam("visit_id"))
        .values(user_agent_hash=sa.bindparam("hash"))
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(visit.c.id, visit.c.user_agent)
            .where(visit.c.created_at >= since, visit.c.id > last)
            .order_by(visit.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            fill, [{"visit_id": id_, "hash": user_agent_hash(agent or "")} for id_, agent in rows]
        )
        last = rows[-1][0]
    op.create_index(
        "ix_visit_unique_key",
        "visit",
        ["campaign_id", "ip", "user_agent_hash", "created_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_visit_unique_key", table_name="visit")
    # Plain ALTER TABLE on both stores (SQLite 3.35+): a batch "move and copy" would drop the
    # old visit table, and with foreign keys on that deletes every conversion by cascade.
    op.execute("ALTER TABLE visit DROP COLUMN user_agent_hash")
    op.create_index(
        "ix_visit_unique_key", "visit", ["campaign_id", "ip", "created_at"], unique=False
    )
