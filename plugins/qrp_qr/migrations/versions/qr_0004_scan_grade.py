"""qr: the robustness grade of a code's and a design template's design

Revision ID: qr_0004
Revises: qr_0003
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0004"
down_revision = "qr_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("scan_grade", sa.JSON(), nullable=True))
    with op.batch_alter_table("qr_design_templates") as batch_op:
        batch_op.add_column(sa.Column("scan_grade", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("qr_design_templates") as batch_op:
        batch_op.drop_column("scan_grade")
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_column("scan_grade")
