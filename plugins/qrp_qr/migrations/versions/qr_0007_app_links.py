"""qr: "open in app" deep links of dynamic codes

Revision ID: qr_0007
Revises: qr_0006
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0007"
down_revision = "qr_0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("app_link", sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_column("app_link")
