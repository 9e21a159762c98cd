"""billing: accounts, the Stripe webhook inbox, quota notices

Revision ID: billing_0001
Revises:
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = "core_0001"


def upgrade():
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="none", nullable=False),
        sa.Column("subscribed_plan", sa.String(length=20), nullable=True),
        sa.Column("interval", sa.String(length=10), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_used", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_billing_accounts_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
        sa.UniqueConstraint("stripe_customer_id",
                            name=op.f("uq_billing_accounts_stripe_customer_id")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_billing_accounts_workspace_id")),
    )
    with op.batch_alter_table("billing_accounts") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_accounts_stripe_subscription_id"),
                              ["stripe_subscription_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_accounts_workspace_id"), ["workspace_id"],
                              unique=False)

    op.create_table(
        "billing_stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_stripe_events")),
    )
    with op.batch_alter_table("billing_stripe_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_stripe_events_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_stripe_events_workspace_id"),
                              ["workspace_id"], unique=False)

    op.create_table(
        "billing_quota_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quota", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("allowed", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_billing_quota_notices_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_quota_notices")),
        sa.UniqueConstraint("workspace_id", "quota", "threshold", "period",
                            name=op.f("uq_billing_quota_notices_workspace_id")),
    )
    with op.batch_alter_table("billing_quota_notices") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_quota_notices_workspace_id"),
                              ["workspace_id"], unique=False)


def downgrade():
    op.drop_table("billing_quota_notices")
    op.drop_table("billing_stripe_events")
    op.drop_table("billing_accounts")
