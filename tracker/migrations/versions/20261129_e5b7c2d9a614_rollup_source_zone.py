"""A rollup of source by zone (var1) and device without campaigns, for the zone report across
campaigns; filled from ``rollup_zone`` (raw visits may already be pruned), keeping visit rows
and conversion rows apart as every rollup does.

Revision ID: e5b7c2d9a614
Revises: c4e8a1f27b90
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e5b7c2d9a614"
down_revision = "c4e8a1f27b90"
branch_labels = None
depends_on = None

SUMS = "visits, unique_visits, clicks, cost, conversions, revenue, conversion_cost"
KEYS = "workspace_id, grain, bucket, is_bot, traffic_source_id, var1, device_type"


def upgrade():
    op.create_table(
        "rollup_source_zone",
        sa.Column("var1", sa.String(length=255), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("unique_visits", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("conversion_cost", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["traffic_source_id"],
            ["traffic_source.id"],
            name=op.f("fk_rollup_source_zone_traffic_source_id_traffic_source"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_rollup_source_zone_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_source_zone")),
    )
    op.create_index(
        "ix_rollup_source_zone_bucket",
        "rollup_source_zone",
        ["workspace_id", "grain", "bucket"],
        unique=False,
    )
    # What is rolled up already, campaigns merged; a conversion row (no visits) stays one.
    op.execute(
        f"INSERT INTO rollup_source_zone ({KEYS}, {SUMS}) "
        f"SELECT {KEYS}, sum(visits), sum(unique_visits), sum(clicks), sum(cost), "
        "sum(conversions), sum(revenue), sum(conversion_cost) FROM rollup_zone "
        f"GROUP BY {KEYS}, visits = 0 ORDER BY grain, bucket"
    )


def downgrade():
    op.drop_index("ix_rollup_source_zone_bucket", table_name="rollup_source_zone")
    op.drop_table("rollup_source_zone")
