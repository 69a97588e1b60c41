"""rewards: approvals fixed at grant time, the payee of each bill, bills cancelled to be sent again

Follows 0016. Issue 19: the approvals a reward needs are stored on the reward when it is granted, so
that an officer who lifts a campaign's second-approval threshold cannot approve alone what was
granted under it. Rewards granted before this migration take the rule of their campaign as it is now.
Each payout keeps a digest of the openid it pays, so that a bill found under its number is adopted
only when it pays that resident (bill numbers are now random, and several databases may share a
merchant); payouts made before have none and are compared with their resident's current openid.
A bill the resident cannot confirm (its answer, with the package_info, was lost) is cancelled by the
sweep and marked to be sent again under a new number once the cancellation is final.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('rewards', sa.Column('approvals_required', sa.Integer(), server_default='1', nullable=False))
    op.execute("""
        UPDATE rewards SET approvals_required = 2 WHERE EXISTS (
            SELECT 1 FROM reward_campaigns WHERE reward_campaigns.id = rewards.campaign_id
            AND reward_campaigns.second_approval_above_fen IS NOT NULL
            AND rewards.amount_fen > reward_campaigns.second_approval_above_fen)""")
    op.add_column('reward_payouts', sa.Column('payee_digest', sa.String(length=64), nullable=True))
    op.add_column('reward_payouts', sa.Column('resend_after_cancel', sa.Boolean(), server_default=sa.false(),
                                              nullable=False))


def downgrade():
    with op.batch_alter_table('reward_payouts', schema=None) as batch_op:
        batch_op.drop_column('resend_after_cancel')
        batch_op.drop_column('payee_digest')
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_column('approvals_required')
