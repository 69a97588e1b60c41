"""public map cells

Revision ID: 0024
Revises: 0028
Create Date: 2026-12-07 03:25:49.165718

The public reports map clusters reports per grid cell. report_map_cells holds, per status and cell of three grids
(levels 12, 14 and 16: cells of 360 / 2**level degrees from (-90, -180)), how many reports lie there and the sums
of their coordinates; triggers keep it on every insert, status or position change and delete of a report. On PostgreSQL a
change makes sure both of its rows exist and locks them ordered by (status, cell), so that reports moving opposite
ways at once cannot deadlock (as 0013 does for report_status_counts). SQLite has one writer at a time.
Two indexes let PostgreSQL answer the map from the index alone: a window's reports newest first (lat, lng, status,
id), and a category's reports over a period (category_id, created_at, status, lat, lng).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0028'
branch_labels = None
depends_on = None

LEVELS = (12, 14, 16)  # citizen.models.ReportMapCell.LEVELS, frozen here as migrations must be


def cell(dialect: str, row: str, level: int) -> tuple[str, str]:
    """A cell's row and column at ``level`` from a report's WGS-84 position: both are positive, so SQLite's
    truncating cast floors them."""
    size = 360 / 2 ** level  # exact in binary
    if dialect == "postgresql":
        return (f"floor(({row}.lat + 90) / {size!r})::integer", f"floor(({row}.lng + 180) / {size!r})::integer")
    return f"CAST(({row}.lat + 90) / {size!r} AS INTEGER)", f"CAST(({row}.lng + 180) / {size!r} AS INTEGER)"


def leave(dialect: str) -> str:
    statements = []
    for level in LEVELS:
        y, x = cell(dialect, "OLD", level)
        statements.append(f"UPDATE report_map_cells SET total = total - 1, lat_sum = lat_sum - OLD.lat, "
                          f"lng_sum = lng_sum - OLD.lng "
                          f"WHERE level = {level} AND status = OLD.status AND cell_y = {y} AND cell_x = {x};")
    return " ".join(statements)


def enter(dialect: str) -> str:
    statements = []
    for level in LEVELS:
        y, x = cell(dialect, "NEW", level)
        statements.append(
            f"INSERT INTO report_map_cells (level, status, cell_y, cell_x, total, lat_sum, lng_sum) "
            f"VALUES ({level}, NEW.status, {y}, {x}, 1, NEW.lat, NEW.lng) "
            f"ON CONFLICT (level, status, cell_y, cell_x) DO UPDATE "
            f"SET total = report_map_cells.total + 1, lat_sum = report_map_cells.lat_sum + excluded.lat_sum, "
            f"lng_sum = report_map_cells.lng_sum + excluded.lng_sum;")
    return " ".join(statements)


MOVED = "OLD.status IS {distinct} NEW.status OR OLD.lat IS {distinct} NEW.lat OR OLD.lng IS {distinct} NEW.lng"


def sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER report_map_cells_insert AFTER INSERT ON reports BEGIN {enter('sqlite')} END",
        f"CREATE TRIGGER report_map_cells_update AFTER UPDATE OF status, lat, lng ON reports "
        f"WHEN {MOVED.format(distinct='NOT')} BEGIN {leave('sqlite')} {enter('sqlite')} END",
        f"CREATE TRIGGER report_map_cells_delete AFTER DELETE ON reports BEGIN {leave('sqlite')} END",
    ]


def postgres_triggers() -> list[str]:
    rows = ", ".join(f"({level}, {row}.status, {', '.join(cell('postgresql', row, level))})"
                     for level in LEVELS for row in ("OLD", "NEW"))
    return [
        f"""CREATE FUNCTION report_map_cells_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO report_map_cells (level, status, cell_y, cell_x, total, lat_sum, lng_sum)
            SELECT level, status, cell_y, cell_x, 0, 0, 0 FROM (VALUES {rows}) AS cells (level, status, cell_y, cell_x)
            ORDER BY level, status, cell_y, cell_x ON CONFLICT DO NOTHING;
            PERFORM 1 FROM report_map_cells WHERE (level, status, cell_y, cell_x) IN ({rows})
            ORDER BY level, status, cell_y, cell_x FOR UPDATE;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {leave('postgresql')}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {enter('postgresql')}
        END IF;
        RETURN NULL;
    END $$""",
        """CREATE TRIGGER report_map_cells_insert_delete AFTER INSERT OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION report_map_cells_keep()""",
        f"""CREATE TRIGGER report_map_cells_update AFTER UPDATE OF status, lat, lng ON reports
    FOR EACH ROW WHEN ({MOVED.format(distinct='DISTINCT FROM')}) EXECUTE FUNCTION report_map_cells_keep()""",
    ]


def upgrade():
    op.create_table('report_map_cells',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('cell_y', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cell_x', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('lat_sum', sa.Double(), nullable=False),
    sa.Column('lng_sum', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'status', 'cell_y', 'cell_x', name=op.f('pk_report_map_cells'))
    )
    op.create_index('ix_reports_map_window', 'reports', ['lat', 'lng', 'status', 'id'], unique=False)
    op.create_index('ix_reports_map_category', 'reports', ['category_id', 'created_at', 'status', 'lat', 'lng'],
                    unique=False)
    dialect = op.get_bind().dialect.name
    for level in LEVELS:
        y, x = cell(dialect, "reports", level)
        op.execute(f"INSERT INTO report_map_cells (level, status, cell_y, cell_x, total, lat_sum, lng_sum) "
                   f"SELECT {level}, status, {y}, {x}, count(*), sum(lat), sum(lng) FROM reports GROUP BY 2, 3, 4")
    for statement in postgres_triggers() if dialect == "postgresql" else sqlite_triggers():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER report_map_cells_update ON reports")
        op.execute("DROP TRIGGER report_map_cells_insert_delete ON reports")
        op.execute("DROP FUNCTION report_map_cells_keep()")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER report_map_cells_{name}")
    op.drop_index('ix_reports_map_category', table_name='reports')
    op.drop_index('ix_reports_map_window', table_name='reports')
    op.drop_table('report_map_cells')
