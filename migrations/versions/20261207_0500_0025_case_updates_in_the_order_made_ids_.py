"""case updates in the order made; ids never reused on SQLite

Case updates carry when the case system made them (``occurred_at``; the receipt time of those kept before), so
that one older than an update already applied changes nothing.

SQLite gives a new row the largest id in use plus one: after the newest report was deleted, the next report got
its id, and audit entries, deliveries and rewards that named the old one pointed at another. AUTOINCREMENT never
hands out an id again; it needs the table rebuilt. The tables rebuilt are those whose ids other rows, audit entries
or outside systems refer to. Their triggers and indexes are rebuilt as they were (read from the schema, so a
partial index keeps its WHERE). PostgreSQL's sequences never hand an id out twice: nothing to do there.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-07 03:40:42.312159

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None

IDS_REFERRED_TO = (
    'staff_accounts', 'residents', 'media', 'reports', 'report_events', 'rejection_templates',
    'signboard_applications', 'case_deliveries', 'desk_cases', 'facilities', 'facility_imports',
    'reward_campaigns', 'rewards', 'reward_payouts', 'reward_payout_alerts',
)


def _rebuild(table, autoincrement):
    bind = op.get_bind()
    kept = bind.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type", (table,)).all()
    with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}):
        pass
    for kind, name, sql in kept:
        op.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
        op.execute(sql)


def upgrade():
    with op.batch_alter_table('case_updates') as batch_op:
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE case_updates SET occurred_at = received_at')
    if op.get_bind().dialect.name == 'sqlite':
        for table in IDS_REFERRED_TO:
            _rebuild(table, True)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for table in IDS_REFERRED_TO:
            _rebuild(table, False)
    with op.batch_alter_table('case_updates') as batch_op:
        batch_op.drop_column('occurred_at')
