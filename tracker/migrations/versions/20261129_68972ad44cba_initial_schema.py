"""Initial schema: workspaces and users, setup objects, visits and conversions, logs.

Revision ID: 68972ad44cba
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "68972ad44cba"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_login_failure_email_at", ["email", "created_at"], unique=False)

    op.create_table(
        "setup_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_version")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("name", name=op.f("uq_workspace_name")),
    )
    op.create_table(
        "affiliate_network",
        sa.Column("preset", sa.String(length=40), nullable=True),
        sa.Column("postback_secret", sa.String(length=200), nullable=True),
        sa.Column("allowed_ips", sa.JSON(), nullable=False),
        sa.Column("accept_duplicates", sa.Boolean(), nullable=False),
        sa.Column("status_map", sa.JSON(), nullable=False),
        sa.Column("param_map", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_affiliate_network_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_network")),
    )
    with op.batch_alter_table("affiliate_network", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_affiliate_network_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "flow",
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("default_paths", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_flow_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow")),
    )
    with op.batch_alter_table("flow", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "lander",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("offer_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_lander_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lander")),
    )
    with op.batch_alter_table("lander", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lander_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "buyer", "viewer", name="role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_membership_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_membership_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint(
            "user_id", "workspace_id", name=op.f("uq_membership_user_id_workspace_id")
        ),
    )
    op.create_table(
        "traffic_source",
        sa.Column("preset", sa.String(length=40), nullable=True),
        sa.Column("external_id_param", sa.String(length=100), nullable=False),
        sa.Column("external_id_placeholder", sa.String(length=200), nullable=False),
        sa.Column("cost_param", sa.String(length=100), nullable=False),
        sa.Column("cost_placeholder", sa.String(length=200), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("postback_url", sa.Text(), nullable=False),
        sa.Column("postback_statuses", sa.JSON(), nullable=False),
        sa.Column("postback_first_only", sa.Boolean(), nullable=False),
        sa.Column("postback_success_pattern", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_traffic_source_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_source")),
    )
    with op.batch_alter_table("traffic_source", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_traffic_source_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "campaign",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.Column(
            "cost_model",
            sa.Enum(
                "cpc",
                "cpm",
                "cpa",
                "revshare",
                "auto",
                "none",
                name="costmodel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("cost_value", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("flow_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.JSON(), nullable=True),
        sa.Column(
            "redirect_mode",
            sa.Enum(
                "302", "meta", "double_meta", name="redirectmode", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("critical_client_hints", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_campaign_flow_id_flow"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["traffic_source_id"],
            ["traffic_source.id"],
            name=op.f("fk_campaign_traffic_source_id_traffic_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_campaign_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("key", name=op.f("uq_campaign_key")),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_campaign_traffic_source_id"), ["traffic_source_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "offer",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("affiliate_network_id", sa.Integer(), nullable=True),
        sa.Column("payout", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["affiliate_network_id"],
            ["affiliate_network.id"],
            name=op.f("fk_offer_affiliate_network_id_affiliate_network"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_offer_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer")),
    )
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_offer_affiliate_network_id"), ["affiliate_network_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_offer_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "cost_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("variable", sa.String(length=8), nullable=True),
        sa.Column("variable_value", sa.String(length=255), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("visits_affected", sa.Integer(), nullable=False),
        sa.Column("previous_costs", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_cost_update_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_cost_update_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_cost_update_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_update")),
    )
    with op.batch_alter_table("cost_update", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cost_update_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "visit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("click_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=True),
        sa.Column("flow_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("path", sa.String(length=200), nullable=True),
        sa.Column("lander_id", sa.Integer(), nullable=True),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("is_unique", sa.Boolean(), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("os_version", sa.String(length=32), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("browser_version", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("isp", sa.String(length=200), nullable=False),
        sa.Column("asn", sa.Integer(), nullable=True),
        sa.Column("connection_type", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("referrer", sa.Text(), nullable=False),
        sa.Column("referrer_domain", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("var1", sa.String(length=255), nullable=False),
        sa.Column("var2", sa.String(length=255), nullable=False),
        sa.Column("var3", sa.String(length=255), nullable=False),
        sa.Column("var4", sa.String(length=255), nullable=False),
        sa.Column("var5", sa.String(length=255), nullable=False),
        sa.Column("var6", sa.String(length=255), nullable=False),
        sa.Column("var7", sa.String(length=255), nullable=False),
        sa.Column("var8", sa.String(length=255), nullable=False),
        sa.Column("var9", sa.String(length=255), nullable=False),
        sa.Column("var10", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_visit_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_visit_flow_id_flow"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lander_id"],
            ["lander.id"],
            name=op.f("fk_visit_lander_id_lander"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offer.id"], name=op.f("fk_visit_offer_id_offer"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["traffic_source_id"],
            ["traffic_source.id"],
            name=op.f("fk_visit_traffic_source_id_traffic_source"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_visit_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit")),
        sa.UniqueConstraint("click_id", name=op.f("uq_visit_click_id")),
    )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visit_campaign_created", ["campaign_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_visit_unique_key", ["campaign_id", "ip", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_visit_workspace_created", ["workspace_id", "created_at"], unique=False
        )

    op.create_table(
        "conversion",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("click_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("affiliate_network_id", sa.Integer(), nullable=True),
        sa.Column("txid", sa.String(length=255), nullable=False),
        sa.Column("et", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payout", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("param1", sa.String(length=255), nullable=False),
        sa.Column("param2", sa.String(length=255), nullable=False),
        sa.Column("param3", sa.String(length=255), nullable=False),
        sa.Column("param4", sa.String(length=255), nullable=False),
        sa.Column("param5", sa.String(length=255), nullable=False),
        sa.Column("visit_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["affiliate_network_id"],
            ["affiliate_network.id"],
            name=op.f("fk_conversion_affiliate_network_id_affiliate_network"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_conversion_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offer.id"],
            name=op.f("fk_conversion_offer_id_offer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
            name=op.f("fk_conversion_visit_id_visit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_conversion_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_conversion_dedupe_key")),
    )
    with op.batch_alter_table("conversion", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_campaign_visit_at", ["campaign_id", "visit_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversion_click_txid_et", ["click_id", "txid", "et"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversion_visit_id"), ["visit_id"], unique=False)
        batch_op.create_index(
            "ix_conversion_workspace_created", ["workspace_id", "created_at"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("traffic_source_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("success_pattern", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversion.id"],
            name=op.f("fk_outbox_conversion_id_conversion"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["traffic_source_id"],
            ["traffic_source.id"],
            name=op.f("fk_outbox_traffic_source_id_traffic_source"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_outbox_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_conversion_id"), ["conversion_id"], unique=False
        )
        batch_op.create_index("ix_outbox_status_next", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "postback_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("raw_query", sa.Text(), nullable=False),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column("click_id", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversion.id"],
            name=op.f("fk_postback_log_conversion_id_conversion"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_postback_log_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postback_log")),
    )
    with op.batch_alter_table("postback_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postback_log_click_id"), ["click_id"], unique=False)
        batch_op.create_index("ix_postback_log_created", ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_postback_log_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("postback_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postback_log_workspace_id"))
        batch_op.drop_index("ix_postback_log_created")
        batch_op.drop_index(batch_op.f("ix_postback_log_click_id"))

    op.drop_table("postback_log")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next")
        batch_op.drop_index(batch_op.f("ix_outbox_conversion_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("conversion", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_workspace_created")
        batch_op.drop_index(batch_op.f("ix_conversion_visit_id"))
        batch_op.drop_index("ix_conversion_click_txid_et")
        batch_op.drop_index("ix_conversion_campaign_visit_at")

    op.drop_table("conversion")
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_workspace_created")
        batch_op.drop_index("ix_visit_unique_key")
        batch_op.drop_index("ix_visit_campaign_created")

    op.drop_table("visit")
    with op.batch_alter_table("cost_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_update_campaign_id"))

    op.drop_table("cost_update")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_offer_affiliate_network_id"))

    op.drop_table("offer")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_traffic_source_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_flow_id"))

    op.drop_table("campaign")
    with op.batch_alter_table("traffic_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traffic_source_workspace_id"))

    op.drop_table("traffic_source")
    op.drop_table("membership")
    with op.batch_alter_table("lander", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lander_workspace_id"))

    op.drop_table("lander")
    with op.batch_alter_table("flow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_workspace_id"))

    op.drop_table("flow")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("affiliate_network", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_affiliate_network_workspace_id"))

    op.drop_table("affiliate_network")
    op.drop_table("workspace")
    op.drop_table("user_account")
    op.drop_table("setup_version")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_email_at")

    op.drop_table("login_failure")
