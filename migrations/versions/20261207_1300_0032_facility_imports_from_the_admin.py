"""facility imports from the admin: queued, counted, every rejected row kept

An import uploaded in the admin runs as a job: it waits as ``queued``, counts the file's rows first
(``rows_total``, the progress bar's end), says why when the file as a whole could not be read (``failure``) and reads the coordinates in the datum the admin chose (``coord_type``).
Its rejected rows go to a table of their own, each with its column and a Chinese reason, written with the batch it
was read in (the JSON column held only the first 200, and no column); the rows kept there are moved over.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 12:32:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('facility_import_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('column', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['facility_imports.id'],
                            name=op.f('fk_facility_import_rejections_import_id_facility_imports'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facility_import_rejections'))
    )
    with op.batch_alter_table('facility_import_rejections') as batch_op:
        batch_op.create_index(batch_op.f('ix_facility_import_rejections_import_id'), ['import_id'], unique=False)
    # Plain ALTER TABLE on both databases (SQLite 3.35 and later drops a column in place): a rebuild of the table
    # would lose its AUTOINCREMENT (migration 0025).
    op.add_column('facility_imports', sa.Column('coord_type', sa.String(length=8), server_default='wgs84',
                                                nullable=False))
    op.add_column('facility_imports', sa.Column('rows_total', sa.Integer(), nullable=True))
    op.add_column('facility_imports', sa.Column('failure', sa.String(length=255), nullable=True))
    bind = op.get_bind()
    rejections = sa.table('facility_import_rejections', sa.column('import_id'), sa.column('line'),
                          sa.column('source_id'), sa.column('column'), sa.column('reason'))
    for import_id, kept in bind.execute(sa.text('SELECT id, rejections FROM facility_imports')).all():
        rows = json.loads(kept) if isinstance(kept, str) else kept or []
        if rows:
            op.bulk_insert(rejections, [{'import_id': import_id, 'line': row['line'],
                                         'source_id': str(row.get('source_id') or '')[:64], 'column': '',
                                         'reason': str(row['reason'])[:255]} for row in rows])
    op.execute('ALTER TABLE facility_imports DROP COLUMN rejections')


def downgrade():
    op.add_column('facility_imports', sa.Column('rejections', sa.JSON(), nullable=False, server_default='[]'))
    op.execute('ALTER TABLE facility_imports DROP COLUMN failure')
    op.execute('ALTER TABLE facility_imports DROP COLUMN rows_total')
    op.execute('ALTER TABLE facility_imports DROP COLUMN coord_type')
    op.drop_table('facility_import_rejections')
