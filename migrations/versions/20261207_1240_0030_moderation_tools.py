"""moderation tools: who holds a report in the queue, and why a resident is blocked

`report_assignments` holds the moderator a report is claimed by or assigned to (its own table: taking a
report must not move the report's version under a moderator reading it). A blocked resident keeps the reason
and the time of the block for the admin's list of blocked residents.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 12:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_assignments',
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('assigned_by', sa.String(length=64), nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_assignments_report_id_reports')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'],
                                name=op.f('fk_report_assignments_staff_id_staff_accounts')),
        sa.PrimaryKeyConstraint('report_id', name=op.f('pk_report_assignments')),
    )
    op.create_index(op.f('ix_report_assignments_staff_id'), 'report_assignments', ['staff_id'], unique=False)
    with op.batch_alter_table('residents') as batch_op:
        batch_op.add_column(sa.Column('blocked_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_residents_is_blocked'), ['is_blocked'], unique=False)


def downgrade():
    with op.batch_alter_table('residents') as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_is_blocked'))
        batch_op.drop_column('blocked_at')
        batch_op.drop_column('blocked_reason')
    op.drop_index(op.f('ix_report_assignments_staff_id'), table_name='report_assignments')
    op.drop_table('report_assignments')
