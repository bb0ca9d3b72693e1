"""The postback log keeps two indexes (workspace and time, click ID): every postback writes a row,
and each index was one more page written per commit.

Revision ID: b81d4e0c7f35
Revises: 7a3f2c9e41d8
Create Date: 2026-11-29
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "b81d4e0c7f35"
down_revision = "7a3f2c9e41d8"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_postback_log_created", table_name="postback_log")
    op.drop_index("ix_postback_log_workspace_id", table_name="postback_log")


def downgrade():
    op.create_index("ix_postback_log_workspace_id", "postback_log", ["workspace_id"], unique=False)
    op.create_index("ix_postback_log_created", "postback_log", ["created_at"], unique=False)
