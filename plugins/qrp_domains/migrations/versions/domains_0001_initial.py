"""domains: custom domains and their checks

Revision ID: domains_0001
Revises: (branch base; depends on core_0001)
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "domains_0001"
down_revision = None
branch_labels = ("domains",)
depends_on = "core_0001"


def upgrade():
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("owned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("misconfigured_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_checks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("root_url", sa.Text(), nullable=True),
        sa.Column("not_found_url", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_domains_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_domains_workspace_id")),
    )
    with op.batch_alter_table("domains") as batch_op:
        batch_op.create_index(batch_op.f("ix_domains_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_domains_next_check_at"), ["next_check_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_domains_workspace_id"), ["workspace_id"],
                              unique=False)
    # One workspace at most serves a name; several may wait for it (pending).
    op.create_index("uq_domains_serving_name", "domains", ["name"], unique=True,
                    postgresql_where=sa.text("status <> 'pending'"),
                    sqlite_where=sa.text("status <> 'pending'"))
    op.create_table(
        "domains_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status_before", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("conclusive", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"],
                                name=op.f("fk_domains_checks_domain_id_domains"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_domains_checks_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains_checks")),
    )
    with op.batch_alter_table("domains_checks") as batch_op:
        batch_op.create_index(batch_op.f("ix_domains_checks_domain_id"), ["domain_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_domains_checks_workspace_id"), ["workspace_id"],
                              unique=False)


def downgrade():
    op.drop_table("domains_checks")
    op.drop_index("uq_domains_serving_name", table_name="domains")
    op.drop_table("domains")
