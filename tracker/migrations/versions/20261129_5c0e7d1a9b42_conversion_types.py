"""Conversion types (buyer-defined et values), a conversion's type and how it arrived, and the
postback log searchable by workspace and time.

Revision ID: 5c0e7d1a9b42
Revises: 24e2f751875d
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5c0e7d1a9b42"
down_revision = "24e2f751875d"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversion_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("et_values", sa.JSON(), nullable=False),
        sa.Column("counts_as_conversion", sa.Boolean(), nullable=False),
        sa.Column("counts_in_revenue", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_conversion_type_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_type")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_conversion_type_workspace_id_name")
        ),
    )
    op.create_index(
        op.f("ix_conversion_type_workspace_id"), "conversion_type", ["workspace_id"], unique=False
    )

    # Plain ALTER TABLE ADD COLUMN (no batch rebuild): on SQLite, rebuilding the conversion
    # table drops the old one, which would null the postback log's and outbox's links to it.
    op.add_column("conversion", sa.Column("conversion_type_id", sa.Integer(), nullable=True))
    op.add_column(
        "conversion",
        sa.Column("counts_as_conversion", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "conversion",
        sa.Column("counts_in_revenue", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "conversion",
        sa.Column("source", sa.String(length=16), server_default="postback", nullable=False),
    )
    op.create_index(
        "ix_postback_log_workspace_created",
        "postback_log",
        ["workspace_id", "created_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_postback_log_workspace_created", table_name="postback_log")
    with op.batch_alter_table("conversion", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("counts_in_revenue")
        batch_op.drop_column("counts_as_conversion")
        batch_op.drop_column("conversion_type_id")
    op.drop_index(op.f("ix_conversion_type_workspace_id"), table_name="conversion_type")
    op.drop_table("conversion_type")
