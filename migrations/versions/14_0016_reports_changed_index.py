"""reports: an index on (updated_at, id) for the sweeps' "changed lately"

Follows 0013. The insight sweep pages through the reports changed in the last day, and the rewards
sweep reads those changed lately; without it both read the whole table every few minutes.

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-29 07:35:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_reports_changed', 'reports', ['updated_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_reports_changed', table_name='reports')
