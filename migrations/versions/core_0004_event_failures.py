"""core: event_failures (receivers failing on an event; dead letters once parked)

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-28 10:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_failures",
        sa.Column("group", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("group", "event_id", name=op.f("pk_event_failures")),
    )
    with op.batch_alter_table("event_failures") as batch_op:
        batch_op.create_index(batch_op.f("ix_event_failures_parked_at"), ["parked_at"])


def downgrade():
    op.drop_table("event_failures")
