"""qr: a dynamic code's redirect rules and A/B variants

Revision ID: qr_0003
Revises: qr_0002
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0003"
down_revision = "qr_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("rules", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("variants", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_column("variants")
        batch_op.drop_column("rules")
