"""microsites: page views and block clicks from the stream (microsites_hits)

Revision ID: microsites_0002
Revises: microsites_0001
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "microsites_0002"
down_revision = "microsites_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "microsites_hits",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("microsite_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("classification", sa.String(length=10), nullable=False),
        sa.Column("block_id", sa.String(length=24), nullable=True),
        sa.Column("visitor_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["microsite_id"], ["microsites.id"],
                                name=op.f("fk_microsites_hits_microsite_id_microsites"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_microsites_hits_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_microsites_hits")),
    )
    op.create_index(op.f("ix_microsites_hits_workspace_id"), "microsites_hits", ["workspace_id"])
    op.create_index("ix_microsites_hits_site_day", "microsites_hits", ["microsite_id", "day"])


def downgrade():
    op.drop_table("microsites_hits")
