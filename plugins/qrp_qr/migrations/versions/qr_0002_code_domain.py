"""qr: the custom domain a dynamic code's short link lives on

Revision ID: qr_0002
Revises: qr_0001
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0002"
down_revision = "qr_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("domain", sa.String(length=253), nullable=True))
        batch_op.create_index(batch_op.f("ix_qr_codes_domain"), ["domain"], unique=False)


def downgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_codes_domain"))
        batch_op.drop_column("domain")
