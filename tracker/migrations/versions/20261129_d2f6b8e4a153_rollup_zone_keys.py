"""Zone keys: a number for each (traffic source, var1, device type) of the zone rollups, and
that number on their rows, so a zone report groups by one integer. Filled from the rollups
themselves (raw visits may already be pruned); the column is NOT NULL once filled, so a process
of the previous version that rolls up before its restart fails and leaves the hour to the new
one, rather than write rows without a key.

Revision ID: d2f6b8e4a153
Revises: a9c3e5f1d207
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d2f6b8e4a153"
down_revision = "a9c3e5f1d207"
branch_labels = None
depends_on = None

TABLES = ("rollup_zone", "rollup_source_zone")


def upgrade():
    op.create_table(
        "rollup_zone_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.Column("var1", sa.String(length=255), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_zone_key")),
        sa.UniqueConstraint(
            "traffic_source_id",
            "var1",
            "device_type",
            name=op.f("uq_rollup_zone_key_traffic_source_id_var1_device_type"),
        ),
    )
    op.execute(
        "INSERT INTO rollup_zone_key (traffic_source_id, var1, device_type) "
        + " UNION ".join(
            f"SELECT coalesce(traffic_source_id, 0), var1, device_type FROM {table}"
            for table in TABLES
        )
    )
    for table in TABLES:
        op.add_column(table, sa.Column("zone_key_id", sa.Integer(), nullable=True))
        op.execute(
            f"UPDATE {table} SET zone_key_id = (SELECT k.id FROM rollup_zone_key k "
            f"WHERE k.traffic_source_id = coalesce({table}.traffic_source_id, 0) "
            f"AND k.var1 = {table}.var1 AND k.device_type = {table}.device_type)"
        )
        # SQLite: a new copy of the table (nothing refers to a rollup row).
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("zone_key_id", existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_zone_key_id_rollup_zone_key"),
                "rollup_zone_key",
                ["zone_key_id"],
                ["id"],
            )


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(
                op.f(f"fk_{table}_zone_key_id_rollup_zone_key"), type_="foreignkey"
            )
            batch_op.drop_column("zone_key_id")
    op.drop_table("rollup_zone_key")
