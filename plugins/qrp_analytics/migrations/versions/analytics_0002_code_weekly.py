"""analytics: a code's counts per week (long ranges read the weeks, not every day)

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-12-04

The weeks are filled from the daily rows already there; ingest keeps them from then on.
"""
import sqlalchemy as sa
from alembic import op

revision = 'analytics_0002'
down_revision = 'analytics_0001'
branch_labels = None
depends_on = None

COUNTS = ('scans', 'humans', 'uniques', 'bots', 'previews', 'heads')


def upgrade():
    op.create_table(
        'analytics_code_weekly',
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_analytics_code_weekly_workspace_id_workspaces'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('code_id', 'week', name=op.f('pk_analytics_code_weekly')),
    )
    with op.batch_alter_table('analytics_code_weekly', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_code_weekly_workspace_week',
                              ['workspace_id', 'week'], unique=False)
        batch_op.create_index(batch_op.f('ix_analytics_code_weekly_workspace_id'),
                              ['workspace_id'], unique=False)
    # Monday of the day's week: PostgreSQL's ISO week, SQLite's next Sunday less six days.
    monday = ("date_trunc('week', day)::date" if op.get_bind().dialect.name == 'postgresql'
              else "date(day, 'weekday 0', '-6 days')")
    sums = ', '.join(f'sum({name})' for name in COUNTS)
    op.execute(f"INSERT INTO analytics_code_weekly (workspace_id, code_id, week, "
               f"{', '.join(COUNTS)}) SELECT workspace_id, code_id, {monday}, {sums} "
               f"FROM analytics_code_daily GROUP BY 1, 2, 3")


def downgrade():
    op.drop_table('analytics_code_weekly')
