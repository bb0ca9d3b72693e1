"""Week rows in every rollup (grain 604800: 7 UTC days from the epoch's Thursday), summed
from the day rows of the weeks already sealed; a 30-day report then reads three or four weeks
and a few days instead of thirty days. Visit rows and conversion rows (no visits) stay apart.

Revision ID: f3a9d6e1b720
Revises: e5b7c2d9a614
Create Date: 2026-11-29
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "f3a9d6e1b720"
down_revision = "e5b7c2d9a614"
branch_labels = None
depends_on = None

WEEK = 604800
DAY = 86400
SUMS = "visits, unique_visits, clicks, cost, conversions, revenue, conversion_cost"
KEYS = {
    "rollup_entity": "campaign_id, traffic_source_id, offer_id, lander_id, flow_id",
    "rollup_geo": "campaign_id, traffic_source_id, offer_id, lander_id, country, device_type, os",
    "rollup_zone": "campaign_id, traffic_source_id, var1, device_type",
    "rollup_source_zone": "traffic_source_id, var1, device_type",
}


def upgrade():
    for table, keys in KEYS.items():
        # The weeks that ended before the rollups' sealed hour, as a refresh builds them.
        op.execute(
            f"INSERT INTO {table} (grain, workspace_id, bucket, is_bot, {keys}, {SUMS}) "
            f"SELECT {WEEK}, workspace_id, bucket / 7 AS week, is_bot, {keys}, sum(visits), "
            "sum(unique_visits), sum(clicks), sum(cost), sum(conversions), sum(revenue), "
            f"sum(conversion_cost) FROM {table} WHERE grain = {DAY} AND bucket < "
            f"(SELECT sealed_until / {WEEK} * 7 FROM rollup_state WHERE id = 1) "
            f"GROUP BY workspace_id, bucket / 7, is_bot, {keys}, visits = 0 ORDER BY week"
        )


def downgrade():
    for table in KEYS:
        op.execute(f"DELETE FROM {table} WHERE grain = {WEEK}")
