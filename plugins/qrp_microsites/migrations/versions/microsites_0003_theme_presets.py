"""microsites: looks saved under a name for the whole workspace (theme presets)

Revision ID: microsites_0003
Revises: microsites_0002
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "microsites_0003"
down_revision = "microsites_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "microsites_theme_presets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("theme", sa.JSON(), nullable=False),
        sa.Column("custom_css", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_microsites_theme_presets_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_microsites_theme_presets_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_microsites_theme_presets")),
        sa.UniqueConstraint("workspace_id", "name",
                            name=op.f("uq_microsites_theme_presets_workspace_id")),
    )
    op.create_index(op.f("ix_microsites_theme_presets_workspace_id"),
                    "microsites_theme_presets", ["workspace_id"])


def downgrade():
    op.drop_table("microsites_theme_presets")
