"""analytics: the raw scans keep one index that starts with workspace_id

Revision ID: analytics_0003
Revises: analytics_0002
Create Date: 2026-12-05

``(workspace_id, occurred_at)`` serves every query on a workspace's scans; the index on
``workspace_id`` alone was maintained by every scan stored and needed by none (on PostgreSQL,
dropping the partitioned index drops each month's).
"""
from alembic import op

revision = 'analytics_0003'
down_revision = 'analytics_0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('analytics_scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_scans_workspace_id'))


def downgrade():
    with op.batch_alter_table('analytics_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_scans_workspace_id'), ['workspace_id'],
                              unique=False)
