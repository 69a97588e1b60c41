"""report flags and status counts

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-29 02:50:00

The moderation queue filters on flags in SQL (report_flags, filled from reports.flags), and
reads its per-status counts from report_status_counts, which triggers keep on every insert,
status change and delete of a report.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

SHARDS = 8  # citizen.models.ReportStatusCount.SHARDS, frozen here as migrations must be

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER report_status_counts_insert AFTER INSERT ON reports BEGIN
        INSERT INTO report_status_counts (status, shard, total) VALUES (NEW.status, NEW.id % {SHARDS}, 1)
        ON CONFLICT (status, shard) DO UPDATE SET total = total + 1;
    END""",
    f"""CREATE TRIGGER report_status_counts_update AFTER UPDATE OF status ON reports
    WHEN OLD.status IS NOT NEW.status BEGIN
        UPDATE report_status_counts SET total = total - 1 WHERE status = OLD.status AND shard = OLD.id % {SHARDS};
        INSERT INTO report_status_counts (status, shard, total) VALUES (NEW.status, NEW.id % {SHARDS}, 1)
        ON CONFLICT (status, shard) DO UPDATE SET total = total + 1;
    END""",
    f"""CREATE TRIGGER report_status_counts_delete AFTER DELETE ON reports BEGIN
        UPDATE report_status_counts SET total = total - 1 WHERE status = OLD.status AND shard = OLD.id % {SHARDS};
    END""",
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION report_status_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE report_status_counts SET total = total - 1
            WHERE status = OLD.status AND shard = OLD.id % {SHARDS};
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO report_status_counts (status, shard, total) VALUES (NEW.status, NEW.id % {SHARDS}, 1)
            ON CONFLICT (status, shard) DO UPDATE SET total = report_status_counts.total + 1;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER report_status_counts_insert_delete AFTER INSERT OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION report_status_counts_keep()""",
    """CREATE TRIGGER report_status_counts_update AFTER UPDATE OF status ON reports
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION report_status_counts_keep()""",
]
FLAGS_FROM_JSON = {
    "sqlite": "SELECT DISTINCT flag.value, reports.id FROM reports, json_each(reports.flags) AS flag",
    "postgresql": "SELECT DISTINCT flag, reports.id FROM reports, json_array_elements_text(reports.flags) AS flag",
}


def upgrade():
    op.create_table('report_flags',
    sa.Column('flag', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_flags_report_id_reports')),
    sa.PrimaryKeyConstraint('flag', 'report_id', name=op.f('pk_report_flags'))
    )
    with op.batch_alter_table('report_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_flags_report_id'), ['report_id'], unique=False)

    op.create_table('report_status_counts',
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('status', 'shard', name=op.f('pk_report_status_counts'))
    )
    dialect = op.get_bind().dialect.name
    op.execute(f"INSERT INTO report_flags (flag, report_id) {FLAGS_FROM_JSON[dialect]}")
    op.execute(f"INSERT INTO report_status_counts (status, shard, total) "
               f"SELECT status, id % {SHARDS}, count(*) FROM reports GROUP BY status, id % {SHARDS}")
    for statement in POSTGRES_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER report_status_counts_update ON reports")
        op.execute("DROP TRIGGER report_status_counts_insert_delete ON reports")
        op.execute("DROP FUNCTION report_status_counts_keep()")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER report_status_counts_{name}")
    op.drop_table('report_status_counts')
    with op.batch_alter_table('report_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_flags_report_id'))

    op.drop_table('report_flags')
