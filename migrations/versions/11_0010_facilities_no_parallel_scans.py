"""facilities: no parallel scans on PostgreSQL

The nearest search runs as one prepared statement whose generic plan cannot see how small its
cell ranges are; with parallel scans allowed it can choose a parallel plan whose workers cost
more to start than the whole search. The facilities table is only ever read by small index
scans and by batch jobs that do not need parallel workers.

Revision ID: 0010
Revises: 0011
Create Date: 2026-11-29 03:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE facilities SET (parallel_workers = 0)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE facilities RESET (parallel_workers)")
