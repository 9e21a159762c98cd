"""assets: the media library (files, tags, usages, presigned uploads)

Revision ID: assets_0001
Revises:
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "assets_0001"
down_revision = None
branch_labels = ("assets",)
depends_on = "core_0001"


def _workspace(table: str):
    return [sa.Column("workspace_id", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                    name=op.f(f"fk_{table}_workspace_id_workspaces"),
                                    ondelete="CASCADE")]


def upgrade():
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("thumbnails", sa.JSON(), nullable=False),
        sa.Column("thumbnail_job_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        *_workspace("assets"),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"],
                                name=op.f("fk_assets_uploaded_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    op.create_index(op.f("ix_assets_workspace_id"), "assets", ["workspace_id"])
    op.create_index(op.f("ix_assets_key"), "assets", ["key"])
    op.create_index("ix_assets_workspace_created", "assets", ["workspace_id", "created_at"])

    op.create_table(
        "assets_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        *_workspace("assets_tags"),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"],
                                name=op.f("fk_assets_tags_asset_id_assets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets_tags")),
        sa.UniqueConstraint("asset_id", "tag", name=op.f("uq_assets_tags_asset_id")),
    )
    op.create_index(op.f("ix_assets_tags_asset_id"), "assets_tags", ["asset_id"])
    op.create_index(op.f("ix_assets_tags_workspace_id"), "assets_tags", ["workspace_id"])
    op.create_index("ix_assets_tags_workspace_tag", "assets_tags", ["workspace_id", "tag"])

    op.create_table(
        "assets_usages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=50), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("href", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        *_workspace("assets_usages"),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"],
                                name=op.f("fk_assets_usages_asset_id_assets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets_usages")),
        sa.UniqueConstraint("asset_id", "consumer", "ref_id",
                            name=op.f("uq_assets_usages_asset_id")),
    )
    op.create_index(op.f("ix_assets_usages_asset_id"), "assets_usages", ["asset_id"])
    op.create_index(op.f("ix_assets_usages_workspace_id"), "assets_usages", ["workspace_id"])
    op.create_index("ix_assets_usages_consumer_ref", "assets_usages",
                    ["workspace_id", "consumer", "ref_id"])

    op.create_table(
        "assets_uploads",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *_workspace("assets_uploads"),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"],
                                name=op.f("fk_assets_uploads_asset_id_assets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets_uploads")),
    )
    op.create_index(op.f("ix_assets_uploads_workspace_id"), "assets_uploads", ["workspace_id"])


def downgrade():
    op.drop_table("assets_uploads")
    op.drop_table("assets_usages")
    op.drop_table("assets_tags")
    op.drop_table("assets")
