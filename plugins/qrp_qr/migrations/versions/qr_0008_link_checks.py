"""qr: the scheduled destination check's findings on each code

Revision ID: qr_0008
Revises: qr_0007
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

revision = "qr_0008"
down_revision = "qr_0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.add_column(sa.Column("link_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("link_problem", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("link_checked_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("link_broken_since", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("link_notified_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_qr_codes_link_checked_at"), ["link_checked_at"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("qr_codes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_codes_link_checked_at"))
        for column in ("link_notified_at", "link_broken_since", "link_checked_at",
                       "link_problem", "link_status"):
            batch_op.drop_column(column)
