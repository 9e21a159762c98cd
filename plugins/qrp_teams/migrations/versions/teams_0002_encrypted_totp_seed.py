"""teams: room for the encrypted authenticator seed

Revision ID: teams_0002
Revises: teams_0001
Create Date: 2026-11-28

"""
import sqlalchemy as sa
from alembic import op

revision = "teams_0002"
down_revision = "teams_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("teams_second_factors") as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)


def downgrade():
    with op.batch_alter_table("teams_second_factors") as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)
