"""qr: folders of codes, and the bulk upload a code came from

Revision ID: qr_0005
Revises: qr_0004
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0005"
down_revision = "qr_0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "qr_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_qr_folders_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_folders")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_qr_folders_workspace_id")),
    )
    with op.batch_alter_table("qr_folders") as batch_op:
        batch_op.create_index(batch_op.f("ix_qr_folders_workspace_id"), ["workspace_id"],
                              unique=False)
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("folder_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("batch", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_qr_codes_folder_id_qr_folders"),
                                    "qr_folders", ["folder_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_qr_codes_folder_id"), ["folder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_qr_codes_batch"), ["batch"], unique=False)


def downgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_codes_batch"))
        batch_op.drop_index(batch_op.f("ix_qr_codes_folder_id"))
        batch_op.drop_constraint(batch_op.f("fk_qr_codes_folder_id_qr_folders"),
                                 type_="foreignkey")
        batch_op.drop_column("batch")
        batch_op.drop_column("folder_id")
    with op.batch_alter_table("qr_folders") as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_folders_workspace_id"))
    op.drop_table("qr_folders")
