"""qr: own slugs (short codes up to 64 characters) and the old slugs kept as aliases

Revision ID: qr_0006
Revises: qr_0005
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0006"
down_revision = "qr_0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.alter_column("short_code", existing_type=sa.String(length=16),
                              type_=sa.String(length=64), existing_nullable=True)
    op.create_table(
        "qr_slug_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["code_id"], ["qr_codes.id"],
                                name=op.f("fk_qr_slug_aliases_code_id_qr_codes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_qr_slug_aliases_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_slug_aliases")),
        sa.UniqueConstraint("slug", name=op.f("uq_qr_slug_aliases_slug")),
    )
    with op.batch_alter_table("qr_slug_aliases") as batch_op:
        batch_op.create_index(batch_op.f("ix_qr_slug_aliases_workspace_id"), ["workspace_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_qr_slug_aliases_code_id"), ["code_id"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("qr_slug_aliases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_slug_aliases_code_id"))
        batch_op.drop_index(batch_op.f("ix_qr_slug_aliases_workspace_id"))
    op.drop_table("qr_slug_aliases")
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.alter_column("short_code", existing_type=sa.String(length=64),
                              type_=sa.String(length=16), existing_nullable=True)
