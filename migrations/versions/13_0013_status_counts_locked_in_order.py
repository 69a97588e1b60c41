"""report status counts: a status change locks its two count rows in one order

Follows 0012. Two reports of one shard moving opposite ways at once (a case reopened, resolved →
in_progress, while another is resolved) each held the count row the other waited for, and
PostgreSQL aborted one of the changes as a deadlock. The trigger now locks both rows ordered by
status before changing them, and every (status, shard) row exists from here on, so that a first
report of a status never inserts one under the lock of another. SQLite has one writer at a time:
its triggers stay as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 06:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SHARDS = 8  # citizen.models.ReportStatusCount.SHARDS, frozen here as migrations must be
STATUSES = ('pending_review', 'accepted', 'rejected', 'duplicate', 'withdrawn', 'forwarded', 'in_progress',
            'resolved', 'closed')
LOCK_BOTH_IN_ORDER = f"""
        IF TG_OP = 'UPDATE' THEN
            PERFORM 1 FROM report_status_counts WHERE shard = OLD.id % {SHARDS} AND status IN (OLD.status, NEW.status)
            ORDER BY status FOR UPDATE;
        END IF;"""


def keep_function(lock_both_in_order: bool) -> str:
    return f"""CREATE OR REPLACE FUNCTION report_status_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN{LOCK_BOTH_IN_ORDER if lock_both_in_order else ''}
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE report_status_counts SET total = total - 1
            WHERE status = OLD.status AND shard = OLD.id % {SHARDS};
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO report_status_counts (status, shard, total) VALUES (NEW.status, NEW.id % {SHARDS}, 1)
            ON CONFLICT (status, shard) DO UPDATE SET total = report_status_counts.total + 1;
        END IF;
        RETURN NULL;
    END $$"""


def upgrade():
    rows = ", ".join(f"('{status}', {shard}, 0)" for status in STATUSES for shard in range(SHARDS))
    op.execute(f"INSERT INTO report_status_counts (status, shard, total) VALUES {rows} "
               "ON CONFLICT (status, shard) DO NOTHING")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(keep_function(lock_both_in_order=True))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(keep_function(lock_both_in_order=False))
    op.execute("DELETE FROM report_status_counts WHERE total = 0")
