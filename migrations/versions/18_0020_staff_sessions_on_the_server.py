"""staff sessions kept on the server; no account lockout columns

Signing out ended a staff session only in the browser: a saved cookie still opened the admin for the
rest of its eight hours. Sessions are now rows (the cookie carries a token whose hash is kept), ended
by signing out, a password change or a deactivation, which replaces staff_accounts.session_version.
Failed sign-ins are throttled per username and address outside the database (core.ratelimit), so the
account lockout's failed_login_count and locked_until go: anyone could lock a colleague out with them.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 22:10:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], name=op.f('fk_staff_sessions_staff_id_staff_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_staff_sessions_token_hash')),
    )
    op.create_index(op.f('ix_staff_sessions_staff_id'), 'staff_sessions', ['staff_id'], unique=False)
    with op.batch_alter_table('staff_accounts') as batch_op:
        batch_op.drop_column('failed_login_count')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('session_version')


def downgrade():
    with op.batch_alter_table('staff_accounts') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_login_count', sa.Integer(), nullable=False, server_default='0'))
    op.drop_index(op.f('ix_staff_sessions_staff_id'), table_name='staff_sessions')
    op.drop_table('staff_sessions')
