"""microsites: pages, their versions (draft snapshots, published renders) and leads

Revision ID: microsites_0001
Revises: (branch base; depends on core_0001)
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "microsites_0001"
down_revision = None
branch_labels = ("microsites",)
depends_on = "core_0001"


def _workspace(table: str):
    return [sa.Column("workspace_id", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                    name=op.f(f"fk_{table}_workspace_id_workspaces"),
                                    ondelete="CASCADE")]


def _created_by(table: str):
    return [sa.Column("created_by_id", sa.Integer(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True),
                      server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
            sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                    name=op.f(f"fk_{table}_created_by_id_users"),
                                    ondelete="SET NULL")]


def upgrade():
    op.create_table(
        "microsites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("theme", sa.JSON(), nullable=False),
        sa.Column("seo", sa.JSON(), nullable=False),
        sa.Column("noindex", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("custom_css", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("changed_since_publish", sa.Boolean(), nullable=False),
        sa.Column("published_version_id", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        *_created_by("microsites"),
        *_workspace("microsites"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_microsites")),
        sa.UniqueConstraint("slug", name=op.f("uq_microsites_slug")),
    )
    op.create_index(op.f("ix_microsites_workspace_id"), "microsites", ["workspace_id"])
    op.create_index("ix_microsites_workspace_created", "microsites",
                    ["workspace_id", "created_at"])

    op.create_table(
        "microsites_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("microsite_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("theme", sa.JSON(), nullable=False),
        sa.Column("seo", sa.JSON(), nullable=False),
        sa.Column("custom_css", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("css", sa.Text(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        *_created_by("microsites_versions"),
        *_workspace("microsites_versions"),
        sa.ForeignKeyConstraint(["microsite_id"], ["microsites.id"],
                                name=op.f("fk_microsites_versions_microsite_id_microsites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_microsites_versions")),
        sa.UniqueConstraint("microsite_id", "number",
                            name=op.f("uq_microsites_versions_microsite_id")),
    )
    op.create_index(op.f("ix_microsites_versions_microsite_id"), "microsites_versions",
                    ["microsite_id"])
    op.create_index(op.f("ix_microsites_versions_workspace_id"), "microsites_versions",
                    ["workspace_id"])
    op.create_index("ix_microsites_versions_site_kind", "microsites_versions",
                    ["microsite_id", "kind"])
    with op.batch_alter_table("microsites") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_microsites_published_version_id_microsites_versions"),
            "microsites_versions", ["published_version_id"], ["id"], ondelete="SET NULL",
            use_alter=True)

    op.create_table(
        "microsites_leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("microsite_id", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.String(length=24), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        *_workspace("microsites_leads"),
        sa.ForeignKeyConstraint(["microsite_id"], ["microsites.id"],
                                name=op.f("fk_microsites_leads_microsite_id_microsites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_microsites_leads")),
    )
    op.create_index(op.f("ix_microsites_leads_microsite_id"), "microsites_leads",
                    ["microsite_id"])
    op.create_index(op.f("ix_microsites_leads_workspace_id"), "microsites_leads",
                    ["workspace_id"])
    op.create_index("ix_microsites_leads_site_created", "microsites_leads",
                    ["microsite_id", "created_at"])


def downgrade():
    with op.batch_alter_table("microsites") as batch_op:
        batch_op.drop_constraint(op.f("fk_microsites_published_version_id_microsites_versions"),
                                 type_="foreignkey")
    op.drop_table("microsites_leads")
    op.drop_table("microsites_versions")
    op.drop_table("microsites")
