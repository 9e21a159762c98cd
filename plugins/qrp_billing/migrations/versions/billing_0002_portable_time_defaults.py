"""billing: time columns default to CURRENT_TIMESTAMP, not PostgreSQL's now()

On the embedded SQLite database, now() is no function: every billing account, Stripe event
and quota notice failed to insert (``flask billing set-plan``, the trial, the hourly quota
warnings). CURRENT_TIMESTAMP is the same moment on PostgreSQL.

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None

COLUMNS = (("billing_accounts", "updated_at"), ("billing_stripe_events", "received_at"),
           ("billing_quota_notices", "sent_at"))


def _set_default(default: str) -> None:
    for table, column in COLUMNS:
        # SQLite cannot change a default in place: batch mode copies the table.
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=sa.DateTime(timezone=True),
                                  existing_nullable=False, server_default=sa.text(default))


def upgrade():
    _set_default("CURRENT_TIMESTAMP")


def downgrade():
    _set_default("now()")
