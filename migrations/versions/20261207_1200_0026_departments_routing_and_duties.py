"""departments, routing rules and separate duties on the case desk

The desk dispatches to a directory of departments (with routing rules proposing one by category and district)
instead of a typed name; handlers are members of departments; each desk step records the role it was taken in
and the department holding the case.
The desk case keeps the department's name beside its id, for display and reports. desk_cases is rebuilt on SQLite
by the foreign key: it keeps AUTOINCREMENT (0025).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 11:13:14.287170

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_departments')),
    sa.UniqueConstraint('name', name=op.f('uq_case_departments_name'))
    )
    op.create_table('case_department_members',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['case_departments.id'], name=op.f('fk_case_department_members_department_id_case_departments')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], name=op.f('fk_case_department_members_staff_id_staff_accounts')),
    sa.PrimaryKeyConstraint('staff_id', 'department_id', name=op.f('pk_case_department_members'))
    )
    with op.batch_alter_table('case_department_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_department_members_department_id'), ['department_id'], unique=False)

    op.create_table('case_routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('category_prefix', sa.String(length=8), nullable=False),
    sa.Column('district', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['case_departments.id'], name=op.f('fk_case_routing_rules_department_id_case_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_routing_rules')),
    sa.UniqueConstraint('category_prefix', 'district', name=op.f('uq_case_routing_rules_category_prefix'))
    )
    with op.batch_alter_table('case_routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_routing_rules_department_id'), ['department_id'], unique=False)

    with op.batch_alter_table('desk_case_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_role', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_desk_case_steps_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_desk_case_steps_department_id_case_departments'), 'case_departments', ['department_id'], ['id'])

    with op.batch_alter_table('desk_cases', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_desk_cases_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_desk_cases_department_id_case_departments'), 'case_departments', ['department_id'], ['id'])



def downgrade():
    with op.batch_alter_table('desk_cases', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_desk_cases_department_id_case_departments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_desk_cases_department_id'))
        batch_op.drop_column('department_id')

    with op.batch_alter_table('desk_case_steps', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_desk_case_steps_department_id_case_departments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_desk_case_steps_department_id'))
        batch_op.drop_column('department_id')
        batch_op.drop_column('actor_role')

    with op.batch_alter_table('case_routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_routing_rules_department_id'))

    op.drop_table('case_routing_rules')
    with op.batch_alter_table('case_department_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_department_members_department_id'))

    op.drop_table('case_department_members')
    op.drop_table('case_departments')
