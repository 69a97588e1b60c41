"""sweep runs: the last run of each of the scheduler's periodic commands

`flask schedule run` records, per command ("cases sweep"), when it last started and finished, whether it
succeeded and why not, and when it last succeeded: the jobs page shows them, and /metrics exposes the last
success for the "sweeps not run" alert.

Revision ID: 0028
Revises: 0022
Create Date: 2026-12-07 03:25:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sweep_runs',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('succeeded', sa.Boolean(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('runner', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_sweep_runs')),
    )


def downgrade():
    op.drop_table('sweep_runs')
