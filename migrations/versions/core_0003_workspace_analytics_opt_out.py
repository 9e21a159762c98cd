"""core: workspaces.analytics_opt_out (a workspace can keep out of product analytics)

Revision ID: core_0003
Revises: core_0001
Create Date: 2026-11-28 08:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("analytics_opt_out", sa.Boolean(), server_default="0",
                                      nullable=False))


def downgrade():
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("analytics_opt_out")
