"""Spans instead of weeks in every rollup: rows of 2, 4, 8, 16, 32 and 64 UTC days (grain =
that many days in seconds, aligned on the epoch), summed from the visit rows of the days of the
spans already sealed. Any range of whole days is then the longest spans that fit and at most two
of each shorter span and two days; weeks left up to twelve single days around them.

Spans hold no conversion rows (weeks did): a late postback would rebuild up to six of them.
Reports read the conversion rows of the spans' days instead, through an index of their own.

Rollup money columns widen from 14 to 18 digits: 64 days of one busy campaign may pass the
100 million that a single payout or cost never does.

Revision ID: b7e1c9d3f502
Revises: d2f6b8e4a153
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7e1c9d3f502"
down_revision = "d2f6b8e4a153"
branch_labels = None
depends_on = None

DAY = 86400
WEEK_DAYS = 7
SPAN_DAYS = (2, 4, 8, 16, 32, 64)
SUMS = "visits, unique_visits, clicks, cost, conversions, revenue, conversion_cost"
MONEY_COLUMNS = ("cost", "revenue", "conversion_cost")
KEYS = {
    "rollup_entity": "campaign_id, traffic_source_id, offer_id, lander_id, flow_id",
    "rollup_geo": "campaign_id, traffic_source_id, offer_id, lander_id, country, device_type, os",
    "rollup_zone": "campaign_id, traffic_source_id, var1, device_type, zone_key_id",
    "rollup_source_zone": "traffic_source_id, var1, device_type, zone_key_id",
}


def _sum_days(table: str, keys: str, days: int, visit_rows_only: bool) -> None:
    """Rows of ``days`` days from the day rows, for the buckets that ended before the rollups'
    sealed hour, as a refresh builds them: visit rows only, or visit and conversion rows apart."""
    grain = days * DAY
    which, apart = ("AND visits > 0 ", "") if visit_rows_only else ("", ", visits = 0")
    op.execute(
        f"INSERT INTO {table} (grain, workspace_id, bucket, is_bot, {keys}, {SUMS}) "
        f"SELECT {grain}, workspace_id, bucket / {days} AS span, is_bot, {keys}, sum(visits), "
        "sum(unique_visits), sum(clicks), sum(cost), sum(conversions), sum(revenue), "
        f"sum(conversion_cost) FROM {table} WHERE grain = {DAY} {which}AND bucket < "
        f"(SELECT sealed_until / {grain} * {days} FROM rollup_state WHERE id = 1) "
        f"GROUP BY workspace_id, bucket / {days}, is_bot, {keys}{apart} ORDER BY span"
    )


def _delete_grains(table: str, days: tuple[int, ...]) -> None:
    grains = ", ".join(str(d * DAY) for d in days)
    op.execute(f"DELETE FROM {table} WHERE grain IN ({grains})")


def _money_digits(table: str, before: int, after: int) -> None:
    with op.batch_alter_table(table) as batch_op:
        for column in MONEY_COLUMNS:
            batch_op.alter_column(
                column,
                existing_type=sa.Numeric(before, 6),
                type_=sa.Numeric(after, 6),
                existing_nullable=False,
            )


def upgrade():
    for table, keys in KEYS.items():
        _money_digits(table, 14, 18)
        conversion_rows = sa.text("visits = 0")
        op.create_index(
            op.f(f"ix_{table}_conversion_rows"),
            table,
            ["workspace_id", "grain", "bucket"],
            sqlite_where=conversion_rows,
            postgresql_where=conversion_rows,
        )
        _delete_grains(table, (WEEK_DAYS,))
        for days in SPAN_DAYS:
            _sum_days(table, keys, days, visit_rows_only=True)


def downgrade():
    for table, keys in KEYS.items():
        _delete_grains(table, SPAN_DAYS)
        _sum_days(table, keys, WEEK_DAYS, visit_rows_only=False)
        op.drop_index(op.f(f"ix_{table}_conversion_rows"), table_name=table)
        _money_digits(table, 18, 14)
