"""analytics: raw scans (monthly partitions on PostgreSQL), rollups, settings, anomalies, alerts

Revision ID: analytics_0001
Revises: (branch base; depends on core_0001)
Create Date: 2026-11-28 10:00:00

On PostgreSQL ``analytics_scans`` is a table partitioned by range of ``occurred_at``; its
monthly partitions are created on demand by ingest (``qrp_analytics.ingest.ensure_partitions``)
in the schema ``analytics_partitions``, which keeps them out of the model comparison of the
public schema, and dropped whole by the retention purge. On SQLite it is a plain table.
"""
import sqlalchemy as sa
from alembic import op

revision = 'analytics_0001'
down_revision = None
branch_labels = ('analytics',)
depends_on = 'core_0001'

PARTITION_SCHEMA = 'analytics_partitions'


def _workspace_fk(table):
    return sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                   name=op.f(f'fk_{table}_workspace_id_workspaces'),
                                   ondelete='CASCADE')


def _counts():
    return [sa.Column(name, sa.Integer(), nullable=False)
            for name in ('scans', 'humans', 'uniques', 'bots', 'previews', 'heads')]


def _breakdown_counts():
    return [sa.Column(name, sa.Integer(), nullable=False)
            for name in ('humans', 'uniques', 'others')]


def _workspace_index(table):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{table}_workspace_id'), ['workspace_id'],
                              unique=False)


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    if postgresql:
        op.execute(f'CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}')

    # postgresql_partition_by only applies on PostgreSQL; SQLite gets a plain table.
    op.create_table(
        'analytics_scans',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=4), nullable=False),
        sa.Column('classification', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('counted', sa.Boolean(), nullable=False),
        sa.Column('is_unique', sa.Boolean(), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=True),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('device', sa.String(length=20), nullable=True),
        sa.Column('os', sa.String(length=60), nullable=True),
        sa.Column('browser', sa.String(length=60), nullable=True),
        sa.Column('referrer_domain', sa.String(length=255), nullable=True),
        sa.Column('user_agent', sa.String(length=512), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_scans'),
        sa.PrimaryKeyConstraint('event_id', 'occurred_at', name=op.f('pk_analytics_scans')),
        postgresql_partition_by='RANGE (occurred_at)',
    )
    with op.batch_alter_table('analytics_scans', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_scans_workspace_time',
                              ['workspace_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_analytics_scans_code_time', ['code_id', 'occurred_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_analytics_scans_workspace_id'), ['workspace_id'],
                              unique=False)

    op.create_table(
        'analytics_code_hourly',
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        *_counts(),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_code_hourly'),
        sa.PrimaryKeyConstraint('code_id', 'hour', name=op.f('pk_analytics_code_hourly')),
    )
    with op.batch_alter_table('analytics_code_hourly', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_code_hourly_workspace_hour',
                              ['workspace_id', 'hour'], unique=False)
    _workspace_index('analytics_code_hourly')

    op.create_table(
        'analytics_code_daily',
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *_counts(),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_code_daily'),
        sa.PrimaryKeyConstraint('code_id', 'day', name=op.f('pk_analytics_code_daily')),
    )
    with op.batch_alter_table('analytics_code_daily', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_code_daily_workspace_day',
                              ['workspace_id', 'day'], unique=False)
    _workspace_index('analytics_code_daily')

    op.create_table(
        'analytics_workspace_hourly',
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        *_counts(),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_workspace_hourly'),
        sa.PrimaryKeyConstraint('workspace_id', 'hour',
                                name=op.f('pk_analytics_workspace_hourly')),
    )
    _workspace_index('analytics_workspace_hourly')

    op.create_table(
        'analytics_code_breakdown',
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('dimension', sa.String(length=12), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        *_breakdown_counts(),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_code_breakdown'),
        sa.PrimaryKeyConstraint('code_id', 'day', 'dimension', 'value',
                                name=op.f('pk_analytics_code_breakdown')),
    )
    _workspace_index('analytics_code_breakdown')

    op.create_table(
        'analytics_workspace_breakdown',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('dimension', sa.String(length=12), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        *_breakdown_counts(),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_workspace_breakdown'),
        sa.PrimaryKeyConstraint('workspace_id', 'day', 'dimension', 'value',
                                name=op.f('pk_analytics_workspace_breakdown')),
    )
    _workspace_index('analytics_workspace_breakdown')

    op.create_table(
        'analytics_daily_visitors',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('visitor_hash', sa.String(length=32), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_daily_visitors'),
        sa.PrimaryKeyConstraint('day', 'code_id', 'visitor_hash',
                                name=op.f('pk_analytics_daily_visitors')),
    )
    _workspace_index('analytics_daily_visitors')

    op.create_table(
        'analytics_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('record_referrer', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('record_user_agent', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('record_country', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('retention_days', sa.Integer(), nullable=True),
        sa.Column('bot_user_agent_patterns', sa.JSON(), nullable=False),
        sa.Column('bot_countries', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_settings'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_settings')),
        sa.UniqueConstraint('workspace_id', name=op.f('uq_analytics_settings_workspace_id')),
    )
    _workspace_index('analytics_settings')

    op.create_table(
        'analytics_test_devices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('ip_hash', sa.String(length=64), nullable=False),
        sa.Column('user_agent_hash', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True),
                  server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_test_devices'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_test_devices')),
        sa.UniqueConstraint('workspace_id', 'day', 'ip_hash', 'user_agent_hash',
                            name=op.f('uq_analytics_test_devices_workspace_id')),
    )
    _workspace_index('analytics_test_devices')

    op.create_table(
        'analytics_anomalies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('observed', sa.Float(), nullable=False),
        sa.Column('expected', sa.Float(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_anomalies'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_anomalies')),
        sa.UniqueConstraint('code_id', 'kind', 'started_at',
                            name=op.f('uq_analytics_anomalies_code_id')),
    )
    with op.batch_alter_table('analytics_anomalies', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_anomalies_workspace_detected',
                              ['workspace_id', 'detected_at'], unique=False)
    _workspace_index('analytics_anomalies')

    op.create_table(
        'analytics_alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=True),
        sa.Column('cooldown_hours', sa.Integer(), server_default='24', nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True),
                  server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        _workspace_fk('analytics_alert_rules'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_alert_rules')),
    )
    _workspace_index('analytics_alert_rules')

    op.create_table(
        'analytics_alert_firings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('anomaly_id', sa.Integer(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.String(length=36), nullable=True),
        sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['anomaly_id'], ['analytics_anomalies.id'],
                                name=op.f('fk_analytics_alert_firings_anomaly_id_analytics_anomalies'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_id'], ['analytics_alert_rules.id'],
                                name=op.f('fk_analytics_alert_firings_rule_id_analytics_alert_rules'),
                                ondelete='CASCADE'),
        _workspace_fk('analytics_alert_firings'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_alert_firings')),
        sa.UniqueConstraint('rule_id', 'anomaly_id',
                            name=op.f('uq_analytics_alert_firings_rule_id')),
    )
    with op.batch_alter_table('analytics_alert_firings', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_alert_firings_rule_code',
                              ['rule_id', 'code_id', 'fired_at'], unique=False)
    _workspace_index('analytics_alert_firings')


def downgrade():
    for table in ('analytics_alert_firings', 'analytics_alert_rules', 'analytics_anomalies',
                  'analytics_test_devices', 'analytics_settings', 'analytics_daily_visitors',
                  'analytics_workspace_breakdown', 'analytics_code_breakdown',
                  'analytics_workspace_hourly', 'analytics_code_daily',
                  'analytics_code_hourly', 'analytics_scans'):
        op.drop_table(table)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE')
