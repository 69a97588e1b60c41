"""insight rollups: small per-day and per-month tables instead of one fine-grained counter table;
indexes for the figures insight reads from cases and rewards

The new tables start empty, and so do the report facts: run `flask insight rebuild` after upgrading
(and after downgrading), which counts every report afresh.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 02:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# name → key columns (name, type), in primary-key order
ROLLUPS = {
    'insight_status_days': [('day', sa.Date), ('district', lambda: sa.String(length=32)),
                            ('status', lambda: sa.String(length=20))],
    'insight_category_days': [('day', sa.Date), ('category_id', lambda: sa.String(length=8))],
    'insight_category_months': [('month', sa.Date), ('district', lambda: sa.String(length=32)),
                                ('category_id', lambda: sa.String(length=8))],
    'insight_close_days': [('day', sa.Date), ('hours', sa.Integer)],
    'insight_close_months': [('month', sa.Date), ('district', lambda: sa.String(length=32)), ('hours', sa.Integer)],
    'insight_rating_days': [('day', sa.Date), ('district', lambda: sa.String(length=32)), ('rating', sa.Integer)],
    'insight_cell_days': [('day', sa.Date), ('cell', lambda: sa.String(length=16))],
    'insight_cell_category_days': [('category_id', lambda: sa.String(length=8)), ('day', sa.Date),
                                   ('cell', lambda: sa.String(length=16))],
    'insight_cell_months': [('month', sa.Date), ('district', lambda: sa.String(length=32)),
                            ('cell', lambda: sa.String(length=16))],
}


def upgrade():
    op.drop_table('insight_daily_counts')
    op.execute('DELETE FROM insight_report_facts')
    for name, keys in ROLLUPS.items():
        op.create_table(name, *(sa.Column(column, kind(), nullable=False, autoincrement=False) for column, kind in keys),
                        sa.Column('count', sa.Integer(), nullable=False),
                        sa.PrimaryKeyConstraint(*(column for column, _ in keys), name=op.f(f'pk_{name}')))
    op.create_index('ix_case_deliveries_backlog', 'case_deliveries', ['status', 'created_at'], unique=False)
    op.create_index('ix_rewards_campaign_created', 'rewards', ['campaign_id', 'created_at'], unique=False)
    op.drop_index('ix_reward_ledger_campaign_kind', table_name='reward_ledger')
    op.create_index('ix_reward_ledger_campaign_kind', 'reward_ledger', ['campaign_id', 'kind', 'earned_on', 'amount_fen'],
                    unique=False)
    op.create_index('ix_reward_ledger_kind_time', 'reward_ledger', ['kind', 'occurred_at'], unique=False)


def downgrade():
    op.drop_index('ix_reward_ledger_kind_time', table_name='reward_ledger')
    op.drop_index('ix_reward_ledger_campaign_kind', table_name='reward_ledger')
    op.create_index('ix_reward_ledger_campaign_kind', 'reward_ledger', ['campaign_id', 'kind'], unique=False)
    op.drop_index('ix_rewards_campaign_created', table_name='rewards')
    op.drop_index('ix_case_deliveries_backlog', table_name='case_deliveries')
    for name in reversed(ROLLUPS):
        op.drop_table(name)
    op.execute('DELETE FROM insight_report_facts')
    op.create_table('insight_daily_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('category_id', sa.String(length=8), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_daily_counts')),
    sa.UniqueConstraint('metric', 'day', 'category_id', 'district', 'key', name='uq_insight_daily_counts_figure')
    )
