"""residents' openid and unionid, reports' submitter IP and rating comment: encrypted, with blind indexes

The values already stored are encrypted here, under the running configuration's FIELD_ENCRYPTION_KEY, and their
blind indexes computed under its FIELD_INDEX_KEY (core/crypto.py): run `flask db upgrade` with the same keys the app
will run with. A resident forgotten earlier (openid `forgotten:<id>`) gets `forgotten_at`, which replaces the prefix
test that an encrypted openid no longer allows in SQL. Downgrading decrypts them again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00

"""
from alembic import op
import sqlalchemy as sa

from core.crypto import current_key_ring


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

BATCH = 1000
# Widths: core.crypto.encrypted_length of 64, 45 and 2000 (500 characters of up to 4 UTF-8 bytes) bytes.
OPENID_WIDTH, IP_WIDTH, COMMENT_WIDTH = 136, 112, 2716
DIGEST_WIDTH = 64

residents = sa.table('residents', sa.column('id'), sa.column('openid'), sa.column('unionid'),
                     sa.column('openid_digest'), sa.column('unionid_digest'))
reports = sa.table('reports', sa.column('id'), sa.column('submitted_ip'), sa.column('rating_comment'),
                   sa.column('submitted_ip_digest'), sa.column('submitted_ip_new'), sa.column('rating_comment_new'))


def _convert(table, columns, change):
    """Rewrite ``columns`` of every row, a batch of rows at a time, with ``change(row) -> {column: value}``."""
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(sa.select(table.c.id, *(table.c[name] for name in columns))
                                  .where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)).mappings().all()
        if not rows:
            return
        connection.execute(table.update().where(table.c.id == sa.bindparam('row_id')),
                           [{'row_id': row['id'], **change(row)} for row in rows])
        last_id = rows[-1]['id']


def _apply(function, value):
    return None if value is None else function(value)


def upgrade():
    ring = current_key_ring()
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_residents_openid', type_='unique')
        batch_op.drop_index('ix_residents_unionid')
        batch_op.alter_column('openid', existing_type=sa.String(length=64), type_=sa.String(length=OPENID_WIDTH),
                              existing_nullable=False)
        batch_op.alter_column('unionid', existing_type=sa.String(length=64), type_=sa.String(length=OPENID_WIDTH),
                              existing_nullable=True)
        batch_op.add_column(sa.Column('openid_digest', sa.String(length=DIGEST_WIDTH), nullable=True))
        batch_op.add_column(sa.Column('unionid_digest', sa.String(length=DIGEST_WIDTH), nullable=True))
        batch_op.add_column(sa.Column('forgotten_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE residents SET forgotten_at = updated_at WHERE openid LIKE 'forgotten:%'")
    _convert(residents, ('openid', 'unionid'), lambda row: {
        'openid': ring.encrypt(row['openid']), 'openid_digest': ring.blind_index('residents.openid', row['openid']),
        'unionid': _apply(ring.encrypt, row['unionid']),
        'unionid_digest': _apply(lambda value: ring.blind_index('residents.unionid', value), row['unionid'])})
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.alter_column('openid_digest', existing_type=sa.String(length=DIGEST_WIDTH), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_residents_openid_digest'), ['openid_digest'])
        batch_op.create_index(batch_op.f('ix_residents_unionid_digest'), ['unionid_digest'], unique=False)

    # reports is not rebuilt (SQLite's batch mode would drop its status-count triggers): the two columns are
    # replaced by wider ones, which both databases do in place.
    op.drop_index('ix_reports_ip_recent', table_name='reports')
    op.add_column('reports', sa.Column('submitted_ip_digest', sa.String(length=DIGEST_WIDTH), nullable=True))
    op.add_column('reports', sa.Column('submitted_ip_new', sa.String(length=IP_WIDTH), nullable=True))
    op.add_column('reports', sa.Column('rating_comment_new', sa.String(length=COMMENT_WIDTH), nullable=True))
    _convert(reports, ('submitted_ip', 'rating_comment'), lambda row: {
        'submitted_ip_new': _apply(ring.encrypt, row['submitted_ip']),
        'submitted_ip_digest': _apply(lambda value: ring.blind_index('reports.submitted_ip', value),
                                      row['submitted_ip']),
        'rating_comment_new': _apply(ring.encrypt, row['rating_comment'])})
    _replace_columns('reports', {'submitted_ip': 'submitted_ip_new', 'rating_comment': 'rating_comment_new'})
    op.create_index('ix_reports_ip_recent', 'reports', ['submitted_ip_digest', 'created_at'], unique=False)


def _replace_columns(table, replacements):
    for old, new in replacements.items():
        op.execute(f'ALTER TABLE {table} DROP COLUMN {old}')
        op.execute(f'ALTER TABLE {table} RENAME COLUMN {new} TO {old}')


def downgrade():
    ring = current_key_ring()
    op.drop_index('ix_reports_ip_recent', table_name='reports')
    op.add_column('reports', sa.Column('submitted_ip_new', sa.String(length=45), nullable=True))
    op.add_column('reports', sa.Column('rating_comment_new', sa.String(length=500), nullable=True))
    _convert(reports, ('submitted_ip', 'rating_comment'), lambda row: {
        'submitted_ip_new': _apply(ring.decrypt, row['submitted_ip']),
        'rating_comment_new': _apply(ring.decrypt, row['rating_comment'])})
    _replace_columns('reports', {'submitted_ip': 'submitted_ip_new', 'rating_comment': 'rating_comment_new'})
    op.execute('ALTER TABLE reports DROP COLUMN submitted_ip_digest')
    op.create_index('ix_reports_ip_recent', 'reports', ['submitted_ip', 'created_at'], unique=False)

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_unionid_digest'))
        batch_op.drop_constraint(batch_op.f('uq_residents_openid_digest'), type_='unique')
    _convert(residents, ('openid', 'unionid'), lambda row: {
        'openid': ring.decrypt(row['openid']), 'unionid': _apply(ring.decrypt, row['unionid'])})
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('forgotten_at')
        batch_op.drop_column('unionid_digest')
        batch_op.drop_column('openid_digest')
        batch_op.alter_column('unionid', existing_type=sa.String(length=OPENID_WIDTH), type_=sa.String(length=64),
                              existing_nullable=True)
        batch_op.alter_column('openid', existing_type=sa.String(length=OPENID_WIDTH), type_=sa.String(length=64),
                              existing_nullable=False)
        batch_op.create_index('ix_residents_unionid', ['unionid'], unique=False)
        batch_op.create_unique_constraint('uq_residents_openid', ['openid'])
