"""report followers and coalesced notifications

Residents other than the reporter follow a report (issue #21): reporters of reports merged into it as duplicates
("merged") and residents who added their voice from the reports nearby ("me_too", 附议). They read its timeline,
get its subscribe messages and rate it. Notifications are now one per status change and resident, and a change
that replaces a message not yet sent records which one it replaced (one permission, one message).

Revision ID: 0023
Revises: 0024
Create Date: 2026-12-07 03:24:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_followers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=8), nullable=False),
    sa.Column('source_report_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.String(length=2716), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_followers_report_id_reports')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_report_followers_resident_id_residents')),
    sa.ForeignKeyConstraint(['source_report_id'], ['reports.id'],
                            name=op.f('fk_report_followers_source_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_followers')),
    sa.UniqueConstraint('report_id', 'resident_id', name=op.f('uq_report_followers_report_id'))
    )
    with op.batch_alter_table('report_followers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_followers_resident_id'), ['resident_id'], unique=False)
    with op.batch_alter_table('case_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coalesced_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_case_notifications_coalesced_into_id_case_notifications'),
                                    'case_notifications', ['coalesced_into_id'], ['id'])
        batch_op.drop_constraint('uq_case_notifications_report_event_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_case_notifications_report_event_id'),
                                          ['report_event_id', 'resident_id'])


def downgrade():
    with op.batch_alter_table('case_notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_case_notifications_report_event_id', type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_case_notifications_coalesced_into_id_case_notifications'),
                                 type_='foreignkey')
        batch_op.drop_column('coalesced_into_id')
    # Messages to followers go with them: one change, one message again.
    op.execute("DELETE FROM case_notifications WHERE id NOT IN "
               "(SELECT MIN(id) FROM case_notifications GROUP BY report_event_id)")
    with op.batch_alter_table('case_notifications', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_case_notifications_report_event_id', ['report_event_id'])
    with op.batch_alter_table('report_followers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_followers_resident_id'))
    op.drop_table('report_followers')
