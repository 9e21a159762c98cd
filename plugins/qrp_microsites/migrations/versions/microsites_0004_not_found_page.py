"""microsites: a workspace's "not found" page is one of its microsites

Revision ID: microsites_0004
Revises: microsites_0003
Create Date: 2026-12-04

"""
import sqlalchemy as sa
from alembic import op

revision = "microsites_0004"
down_revision = "microsites_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("microsites") as batch:
        batch.add_column(sa.Column("not_found_page", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("microsites") as batch:
        batch.drop_column("not_found_page")
