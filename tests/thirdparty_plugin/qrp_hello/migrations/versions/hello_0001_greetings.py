"""hello: greetings

Revision ID: hello_0001
Revises:
Create Date: 2026-11-28

"""
import sqlalchemy as sa
from alembic import op

revision = "hello_0001"
down_revision = None
branch_labels = ("hello",)
depends_on = "core_0001"


def upgrade():
    op.create_table(
        "hello_greetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_hello_greetings_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hello_greetings")),
    )
    with op.batch_alter_table("hello_greetings") as batch_op:
        batch_op.create_index(batch_op.f("ix_hello_greetings_workspace_id"), ["workspace_id"])


def downgrade():
    op.drop_table("hello_greetings")
