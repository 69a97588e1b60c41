"""facility densities per coarse grid cell (the nearest query's first level); kind extents dropped

Follows 0010. The per-kind bounding boxes were the nearest query's only density estimate; the
counts per coarse cell replace them.

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-29 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None

EXTENT_COLUMNS = ('min_lat', 'max_lat', 'min_lng', 'max_lng')
# A facility's cell at facilities.spatial.DENSITY_LEVEL (13) is its cell (level 24) divided by 4^(24 - 13).
CELLS_PER_DENSITY_CELL = 4 ** 11


def upgrade():
    op.create_table('facility_densities',
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('cell', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('facility_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'cell', name=op.f('pk_facility_densities'))
    )
    op.execute("INSERT INTO facility_densities (scope, cell, facility_count)"
               f" SELECT kind_code, cell / {CELLS_PER_DENSITY_CELL}, count(*) FROM facilities"
               f" WHERE status = 'in_service' GROUP BY kind_code, cell / {CELLS_PER_DENSITY_CELL}")
    op.execute("INSERT INTO facility_densities (scope, cell, facility_count)"
               " SELECT '*', d.cell, sum(d.facility_count) FROM facility_densities d"
               " JOIN facility_kinds k ON k.code = d.scope WHERE k.shown_to_residents GROUP BY d.cell")
    # Not a batch (SQLite would copy the table, which the facilities' foreign keys forbid): SQLite since 3.35
    # drops a plain column in place.
    for column in EXTENT_COLUMNS:
        op.drop_column('facility_kinds', column)


def downgrade():
    for column in EXTENT_COLUMNS:
        op.add_column('facility_kinds', sa.Column(column, sa.Double(), nullable=True))
    op.drop_table('facility_densities')
