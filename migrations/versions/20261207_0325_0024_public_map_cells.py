"""public map cells

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-07 03:25:49.165718

The public reports map clusters reports per grid cell. report_map_cells holds, per status and cell of the finest
cluster grid (level 16: 360 / 2**16 degrees from (-90, -180)), how many reports lie there and the sums of their
coordinates; triggers keep it on every insert, status or position change and delete of a report. On PostgreSQL a
change makes sure both of its rows exist and locks them ordered by (status, cell), so that reports moving opposite
ways at once cannot deadlock (as 0013 does for report_status_counts). SQLite has one writer at a time.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0021'
branch_labels = None
depends_on = None

CELL_DEGREES = "0.0054931640625"  # 360 / 2**16, citizen.models.ReportMapCell.LEVEL frozen here as migrations must be
# A cell's row and column from a report's WGS-84 position: both are positive, so SQLite's truncating cast floors.
CELLS = {
    "postgresql": (f"floor(({{row}}.lat + 90) / {CELL_DEGREES})::integer",
                   f"floor(({{row}}.lng + 180) / {CELL_DEGREES})::integer"),
    "sqlite": (f"CAST(({{row}}.lat + 90) / {CELL_DEGREES} AS INTEGER)",
               f"CAST(({{row}}.lng + 180) / {CELL_DEGREES} AS INTEGER)"),
}


def cell(dialect: str, row: str) -> tuple[str, str]:
    y, x = CELLS[dialect]
    return y.format(row=row), x.format(row=row)


def leave(dialect: str) -> str:
    y, x = cell(dialect, "OLD")
    return (f"UPDATE report_map_cells SET total = total - 1, lat_sum = lat_sum - OLD.lat, lng_sum = lng_sum - OLD.lng "
            f"WHERE status = OLD.status AND cell_y = {y} AND cell_x = {x};")


def enter(dialect: str) -> str:
    y, x = cell(dialect, "NEW")
    return (f"INSERT INTO report_map_cells (status, cell_y, cell_x, total, lat_sum, lng_sum) "
            f"VALUES (NEW.status, {y}, {x}, 1, NEW.lat, NEW.lng) ON CONFLICT (status, cell_y, cell_x) DO UPDATE "
            f"SET total = report_map_cells.total + 1, lat_sum = report_map_cells.lat_sum + excluded.lat_sum, "
            f"lng_sum = report_map_cells.lng_sum + excluded.lng_sum;")


MOVED = "OLD.status IS {distinct} NEW.status OR OLD.lat IS {distinct} NEW.lat OR OLD.lng IS {distinct} NEW.lng"


def sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER report_map_cells_insert AFTER INSERT ON reports BEGIN {enter('sqlite')} END",
        f"CREATE TRIGGER report_map_cells_update AFTER UPDATE OF status, lat, lng ON reports "
        f"WHEN {MOVED.format(distinct='NOT')} BEGIN {leave('sqlite')} {enter('sqlite')} END",
        f"CREATE TRIGGER report_map_cells_delete AFTER DELETE ON reports BEGIN {leave('sqlite')} END",
    ]


def postgres_triggers() -> list[str]:
    old_y, old_x = cell("postgresql", "OLD")
    new_y, new_x = cell("postgresql", "NEW")
    both = f"((OLD.status, {old_y}, {old_x}), (NEW.status, {new_y}, {new_x}))"
    return [
        f"""CREATE FUNCTION report_map_cells_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO report_map_cells (status, cell_y, cell_x, total, lat_sum, lng_sum)
            SELECT status, cell_y, cell_x, 0, 0, 0 FROM (VALUES {both[1:-1]}) AS cells (status, cell_y, cell_x)
            ORDER BY status, cell_y, cell_x ON CONFLICT DO NOTHING;
            PERFORM 1 FROM report_map_cells WHERE (status, cell_y, cell_x) IN {both}
            ORDER BY status, cell_y, cell_x FOR UPDATE;
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
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('cell_y', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cell_x', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('lat_sum', sa.Double(), nullable=False),
    sa.Column('lng_sum', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('status', 'cell_y', 'cell_x', name=op.f('pk_report_map_cells'))
    )
    dialect = op.get_bind().dialect.name
    y, x = cell(dialect, "reports")
    op.execute(f"INSERT INTO report_map_cells (status, cell_y, cell_x, total, lat_sum, lng_sum) "
               f"SELECT status, {y}, {x}, count(*), sum(lat), sum(lng) FROM reports GROUP BY 1, 2, 3")
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
    op.drop_table('report_map_cells')
