"""The conversion table loses its (click_id, txid, et) index: a network that accepts duplicates
finds a visit's earlier conversion by visit_id, and every index was one more page written by each
postback's commit.

Revision ID: c4e8a1f27b90
Revises: b81d4e0c7f35
Create Date: 2026-11-29
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "c4e8a1f27b90"
down_revision = "b81d4e0c7f35"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_conversion_click_txid_et", table_name="conversion")


def downgrade():
    op.create_index(
        "ix_conversion_click_txid_et", "conversion", ["click_id", "txid", "et"], unique=False
    )
