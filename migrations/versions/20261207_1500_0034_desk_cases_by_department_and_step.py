"""desk cases indexed by department and step

A handler's desk counts its departments' cases by step and lists those dispatched to it. With only the department
index, both read every case the department ever had (about 72,000 a department after a year at 16,000 cases a day
across 39 departments): bench/desk.py measured the handler's page at p50 208 ms on SQLite, 42 ms with this index.
The new index leads with department_id, so it takes the place of the department index.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 15:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('desk_cases') as batch_op:
        batch_op.create_index('ix_desk_cases_department_step', ['department_id', 'step'], unique=False)
        batch_op.drop_index('ix_desk_cases_department_id')


def downgrade() -> None:
    with op.batch_alter_table('desk_cases') as batch_op:
        batch_op.create_index('ix_desk_cases_department_id', ['department_id'], unique=False)
        batch_op.drop_index('ix_desk_cases_department_step')
