"""the working week edited in the admin; 督办 notices by department id; old cases find their department

An administrator's weekdays and working periods of the desk's calendar (``case_working_week``, one row; without
it the shipped ``cases/data/time_limits.json`` applies). A 督办 notice keeps the id of the department it notified,
so that department's handlers see it. Cases dispatched before 0026 kept only a department's name: each whose name
is exactly that of one department in the directory gets its id (so its handlers see it), and so does each 督办
notice; names no department has are left as they were.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None

# The one department named exactly as a row's department name, where the row has a name and no id yet. Names are
# unique in the directory (uq_case_departments_name), so a name matches one department or none.
_BACKFILL = """
UPDATE {table} SET department_id = (
    SELECT case_departments.id FROM case_departments WHERE case_departments.name = {table}.department)
WHERE department_id IS NULL AND department IS NOT NULL
  AND (SELECT COUNT(*) FROM case_departments WHERE case_departments.name = {table}.department) = 1
"""


def upgrade():
    op.create_table('case_working_week',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('weekdays', sa.JSON(), nullable=False),
    sa.Column('periods', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_working_week'))
    )
    with op.batch_alter_table('desk_supervisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_desk_supervisions_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_desk_supervisions_department_id_case_departments'),
                                    'case_departments', ['department_id'], ['id'])
    op.execute(_BACKFILL.format(table='desk_cases'))
    op.execute(_BACKFILL.format(table='desk_supervisions'))


def downgrade():
    # The backfilled ids of desk_cases stay: 0026's column, and right.
    with op.batch_alter_table('desk_supervisions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_desk_supervisions_department_id_case_departments'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_desk_supervisions_department_id'))
        batch_op.drop_column('department_id')
    op.drop_table('case_working_week')
