"""desk time limits: deadlines, 督办, working calendar, urgent categories

Each desk case carries the deadline of its current step and whether the sweep found it overdue; each step record
the deadline of the step it ended; 督办 entries are the departments' notices. Administrators override the shipped
time limits (cases/data/time_limits.json) and list holidays and 调休 working days. Categories may be urgent (急要件).

Cases open when this runs get no deadline until their next step starts: the limits did not exist when they began.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 12:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('categories') as batch_op:
        batch_op.add_column(sa.Column('is_urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
    # SQLite rebuilds the table: its ids stay never reused (AUTOINCREMENT), as revision 0025 made them.
    with op.batch_alter_table('desk_cases', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('step_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('due_in_working_hours', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('is_urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_desk_cases_due_at'), ['due_at'], unique=False)
    with op.batch_alter_table('desk_case_steps') as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('desk_supervisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['desk_cases.id'], name=op.f('fk_desk_supervisions_case_id_desk_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_supervisions')),
    sa.UniqueConstraint('case_id', 'due_at', name=op.f('uq_desk_supervisions_case_id'))
    )
    with op.batch_alter_table('desk_supervisions') as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_supervisions_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_desk_supervisions_unread', ['read_at', 'department'], unique=False)
    op.create_table('case_time_limits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('working_hours', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_time_limits')),
    sa.UniqueConstraint('scope', 'step', name=op.f('uq_case_time_limits_scope'))
    )
    op.create_table('case_calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_case_calendar_days'))
    )


def downgrade():
    op.drop_table('case_calendar_days')
    op.drop_table('case_time_limits')
    with op.batch_alter_table('desk_supervisions') as batch_op:
        batch_op.drop_index('ix_desk_supervisions_unread')
        batch_op.drop_index(batch_op.f('ix_desk_supervisions_case_id'))
    op.drop_table('desk_supervisions')
    with op.batch_alter_table('desk_case_steps') as batch_op:
        batch_op.drop_column('due_at')
    with op.batch_alter_table('desk_cases', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_cases_due_at'))
        batch_op.drop_column('is_urgent')
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('due_in_working_hours')
        batch_op.drop_column('due_at')
        batch_op.drop_column('step_started_at')
    with op.batch_alter_table('categories') as batch_op:
        batch_op.drop_column('is_urgent')
