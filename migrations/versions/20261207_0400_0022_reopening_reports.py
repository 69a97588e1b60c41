"""reopening reports: the outbox of reopenings for outside case systems; reopenings counted by time

A resident may reopen a closed report (citizen.services.conversation). The built-in desk reworks its case at
once; an Open311 or webhook case system gets a new request referring to the old one, sent from
``case_reopenings`` (an outbox like ``case_deliveries``: a report may be reopened more than once, so it cannot
share that table's one row per report). The monthly figures count reopenings, steps from closed back to
in progress, by time: an index on the steps' transition and time.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_reopenings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('case_system', sa.String(length=16), nullable=False),
    sa.Column('previous_external_id', sa.String(length=64), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_reopenings')),
    sa.UniqueConstraint('report_id', 'sequence', name=op.f('uq_case_reopenings_report_id'))
    )
    with op.batch_alter_table('case_reopenings', schema=None) as batch_op:
        batch_op.create_index('ix_case_reopenings_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_reopenings_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_reopenings_external_id'), ['external_id'], unique=False)
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.create_index('ix_report_events_transition', ['from_status', 'to_status', 'occurred_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.drop_index('ix_report_events_transition')
    with op.batch_alter_table('case_reopenings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_reopenings_external_id'))
        batch_op.drop_index(batch_op.f('ix_case_reopenings_report_id'))
        batch_op.drop_index('ix_case_reopenings_due')
    op.drop_table('case_reopenings')
