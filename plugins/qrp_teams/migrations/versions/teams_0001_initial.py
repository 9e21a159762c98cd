"""teams: invitations, workspace sign-in rule, audit log, second factors, recovery codes

Revision ID: teams_0001
Revises:
Create Date: 2026-11-28

"""
import sqlalchemy as sa
from alembic import op

revision = "teams_0001"
down_revision = None
branch_labels = ("teams",)
depends_on = "core_0001"


def upgrade():
    op.create_table('teams_audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_token_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=500), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_teams_audit_entries_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams_audit_entries')),
    sa.UniqueConstraint('event_id', name=op.f('uq_teams_audit_entries_event_id'))
    )
    with op.batch_alter_table('teams_audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_audit_entries_event_type'), ['event_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_teams_audit_entries_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_teams_audit_entries_workspace_time', ['workspace_id', 'occurred_at'], unique=False)

    op.create_table('teams_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('send_count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], name=op.f('fk_teams_invitations_accepted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_teams_invitations_invited_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_teams_invitations_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams_invitations'))
    )
    with op.batch_alter_table('teams_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_invitations_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('teams_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_teams_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams_recovery_codes'))
    )
    with op.batch_alter_table('teams_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_recovery_codes_user_id'), ['user_id'], unique=False)

    op.create_table('teams_second_factors',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phone_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sms_code_hash', sa.String(length=64), nullable=True),
    sa.Column('sms_code_phone', sa.String(length=20), nullable=True),
    sa.Column('sms_code_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_teams_second_factors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_teams_second_factors'))
    )
    op.create_table('teams_workspace_security',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('require_two_factor', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_teams_workspace_security_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams_workspace_security')),
    sa.UniqueConstraint('workspace_id', name=op.f('uq_teams_workspace_security_workspace_id'))
    )
    with op.batch_alter_table('teams_workspace_security', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_workspace_security_workspace_id'), ['workspace_id'], unique=False)



def downgrade():
    with op.batch_alter_table('teams_workspace_security', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_workspace_security_workspace_id'))

    op.drop_table('teams_workspace_security')
    op.drop_table('teams_second_factors')
    with op.batch_alter_table('teams_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_recovery_codes_user_id'))

    op.drop_table('teams_recovery_codes')
    with op.batch_alter_table('teams_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_invitations_workspace_id'))

    op.drop_table('teams_invitations')
    with op.batch_alter_table('teams_audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_teams_audit_entries_workspace_time')
        batch_op.drop_index(batch_op.f('ix_teams_audit_entries_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_teams_audit_entries_event_type'))

    op.drop_table('teams_audit_entries')
