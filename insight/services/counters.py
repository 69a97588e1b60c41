"""Keeping the counters: the small rollups report figures are read from, kept in step with every report by
``refresh_report`` (run as a listener of the report events), caught up by ``catch_up`` and rebuilt by
``rebuild``. Reports are read through citizen's services only."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from citizen import services as citizen_services
from citizen.services import ReportSnapshot
from core.db import commit_early, db, id_digests, utcnow
from insight.models import (ROLLUPS, CategoryDay, CategoryMonth, CellCategoryDay, CellDay, CellMonth, CloseDay,
                            CloseMonth, RatingDay, ReportFact, Rollup, StatusDay)
from insight.services.periods import local_day
from insight.settings import InsightSettings

METRES_PER_DEGREE = 111_320.0
# Grid columns are a fixed width in degrees of longitude, measured at Qingdao's latitude.
GRID_REFERENCE_LAT = 36.0
REBUILD_BATCH = 5000
Key = tuple[type[Rollup], tuple[Any, ...]]


def grid_steps(grid_m: int) -> tuple[float, float]:
    """The size of a grid cell in degrees of latitude and of longitude."""
    return (grid_m / METRES_PER_DEGREE,
            grid_m / (METRES_PER_DEGREE * math.cos(math.radians(GRID_REFERENCE_LAT))))


def cell_of(lat: float, lng: float, grid_m: int) -> str:
    lat_step, lng_step = grid_steps(grid_m)
    return f"{math.floor(lat / lat_step)}:{math.floor(lng / lng_step)}"


def cell_centre(cell: str, grid_m: int) -> tuple[float, float]:
    row, col = (int(part) for part in cell.split(":"))
    lat_step, lng_step = grid_steps(grid_m)
    return (row + 0.5) * lat_step, (col + 0.5) * lng_step


def _fact_values(snapshot: ReportSnapshot, grid_m: int) -> dict[str, Any]:
    closed = snapshot.closed_at is not None
    return {
        "report_id": snapshot.id,
        "created_day": local_day(snapshot.created_at),
        "category_id": snapshot.category_id,
        "district": snapshot.district or "",
        "status": snapshot.status,
        "cell": cell_of(snapshot.lat, snapshot.lng, grid_m),
        "closed_day": local_day(snapshot.closed_at) if closed else None,
        "close_hours": int((snapshot.closed_at - snapshot.created_at).total_seconds() // 3600) if closed else None,
        "rated_day": local_day(snapshot.rated_at) if snapshot.rating is not None and snapshot.rated_at else None,
        "rating": snapshot.rating,
    }


# Each rollup's key columns and the fact each is read from; "month" is the first day of that day's month.
# A report adds 1 to a rollup when all those facts are known (closed reports to the close rollups …).
SOURCES: dict[type[Rollup], dict[str, str]] = {
    StatusDay: {"day": "created_day", "district": "district", "status": "status"},
    CategoryDay: {"day": "created_day", "category_id": "category_id"},
    CategoryMonth: {"month": "created_day", "district": "district", "category_id": "category_id"},
    CloseDay: {"day": "closed_day", "hours": "close_hours"},
    CloseMonth: {"month": "closed_day", "district": "district", "hours": "close_hours"},
    RatingDay: {"day": "rated_day", "district": "district", "rating": "rating"},
    CellDay: {"day": "created_day", "cell": "cell"},
    CellCategoryDay: {"category_id": "category_id", "day": "created_day", "cell": "cell"},
    CellMonth: {"month": "created_day", "district": "district", "cell": "cell"},
}


def _contributions(values: dict[str, Any]) -> list[Key]:
    """The rollup rows one report adds 1 to."""
    keys = []
    for rollup, sources in SOURCES.items():
        key = tuple(values[fact] for fact in sources.values())
        if None not in key:
            keys.append((rollup, tuple(value.replace(day=1) if column == "month" else value
                                       for column, value in zip(sources, key, strict=True))))
    return keys


def _fact_as_values(fact: ReportFact) -> dict[str, Any]:
    return {column.key: getattr(fact, column.key) for column in sa.inspect(ReportFact).columns}


@functools.cache
def _upsert_statement(rollup: type[Rollup], dialect_name: str) -> sa.Insert:
    # Built once per process, on the table rather than the mapped class: the ORM's bulk-insert path and
    # building the statement again were most of a status change's cost here.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = rollup.__table__
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(index_elements=list(SOURCES[rollup]),
                                           set_={"count": table.c.count + statement.excluded["count"]})


def _upsert(rollup: type[Rollup], rows: list[dict[str, Any]]) -> None:
    connection = db.session.connection()
    connection.execute(_upsert_statement(rollup, connection.dialect.name), rows)


def _add_counts(changes: collections.Counter[Key]) -> None:
    by_rollup: dict[type[Rollup], list[dict[str, Any]]] = collections.defaultdict(list)
    for (rollup, key), delta in sorted(changes.items(), key=lambda item: (item[0][0].__tablename__, item[0][1])):
        if delta:
            by_rollup[rollup].append({**dict(zip(SOURCES[rollup], key, strict=True)), "count": delta})
    for rollup, rows in by_rollup.items():
        _upsert(rollup, rows)


def refresh_report(report_id: int, settings: InsightSettings) -> None:
    """Bring the counters in line with the report as it is now; running it again changes nothing."""
    for attempt in range(2):
        try:
            with db.session.begin_nested():
                _refresh(report_id, settings.insight_grid_m)
            break
        except IntegrityError:
            # Another worker counted this report's first version at the same moment: start over from it.
            if attempt:
                raise


def _refresh(report_id: int, grid_m: int) -> None:
    snapshot = citizen_services.report_snapshot(report_id)
    fact = db.session.get(ReportFact, report_id, with_for_update=True)
    changes: collections.Counter[Key] = collections.Counter()
    if fact is not None:
        changes.subtract(_contributions(_fact_as_values(fact)))
    if snapshot is None:
        if fact is not None:
            db.session.delete(fact)
    else:
        values = _fact_values(snapshot, grid_m)
        changes.update(_contributions(values))
        if fact is None:
            db.session.add(ReportFact(**values))
        else:
            for name, value in values.items():
                setattr(fact, name, value)
    db.session.flush()
    _add_counts(changes)


def _count_again(report_id: int, settings: InsightSettings) -> None:
    refresh_report(report_id, settings)
    # Like the refresh jobs it stands in for; on SQLite the write lock is the whole database's.
    commit_early("a sweep holds the write lock for one report at a time, not for the whole sweep")


# How far back the scheduled pass compares reports with the facts counted for them, and how many at once.
CATCH_UP_WINDOW = dt.timedelta(days=1)
CATCH_UP_PAGE = 1000


# Deleted reports are found by comparing, per bucket of DIGEST_BUCKET consecutive ids, how many facts and how
# many reports there are and the sums of their ids; a statement digests DIGEST_BUCKETS_PER_SPAN buckets.
DIGEST_BUCKET = 1024
DIGEST_BUCKETS_PER_SPAN = 64


def catch_up(settings: InsightSettings, now: dt.datetime | None = None) -> int:
    """Count again the reports changed lately whose counted fact disagrees with them, and take out the facts of
    reports deleted since, because their refresh job was lost with Redis or a worker. The scheduled pass runs
    it; returns how many it counted again."""
    since = (now or utcnow()) - CATCH_UP_WINDOW
    facts_table = ReportFact.__table__
    after, counted_again = None, 0
    while page := citizen_services.changed_report_snapshots(since, after=after, limit=CATCH_UP_PAGE):
        after = (page[-1].changed_at, page[-1].id)
        counted = {row["report_id"]: dict(row) for row in db.session.execute(
            sa.select(facts_table).where(facts_table.c.report_id.in_([snapshot.id for snapshot in page]))).mappings()}
        db.session.rollback()
        for snapshot in page:
            if counted.get(snapshot.id) != _fact_values(snapshot, settings.insight_grid_m):
                _count_again(snapshot.id, settings)
                counted_again += 1
    return counted_again + _take_out_deleted(settings)


def _take_out_deleted(settings: InsightSettings) -> int:
    """Facts whose report no longer exists, at any age: a deleted report leaves no row among the changes.

    Both sides are digested span by span of ids (count and sum of ids per bucket: an index range scan each,
    a few rows back); only the ids of a bucket where they disagree are read and looked up. A bucket also
    disagrees where a report has no fact yet (its refresh still to come): a lookup that removes nothing.
    """
    span = DIGEST_BUCKET * DIGEST_BUCKETS_PER_SPAN
    removed, start = 0, 0
    # Span after span over the ids facts have, skipping the gaps between them.
    while (lowest := db.session.scalar(sa.select(sa.func.min(ReportFact.report_id))
                                       .where(ReportFact.report_id >= start))) is not None:
        first = lowest // DIGEST_BUCKET * DIGEST_BUCKET
        start = first + span
        ours = id_digests(ReportFact.report_id, first, start - 1, bucket=DIGEST_BUCKET)
        theirs = citizen_services.report_id_digests(first, start - 1, bucket=DIGEST_BUCKET)
        for bucket in sorted(number for number, digest in ours.items() if theirs.get(number) != digest):
            counted = list(db.session.scalars(sa.select(ReportFact.report_id).where(
                ReportFact.report_id.between(bucket * DIGEST_BUCKET, (bucket + 1) * DIGEST_BUCKET - 1))))
            gone = sorted(set(counted) - citizen_services.existing_report_ids(counted))
            db.session.rollback()
            for report_id in gone:
                _count_again(report_id, settings)
            removed += len(gone)
        db.session.rollback()
    return removed


def _month_start(column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[Any]:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.date_trunc("month", column), sa.Date)
    return sa.func.date(column, "start of month")


def rebuild(settings: InsightSettings) -> int:
    """Count every report afresh (the first time, or after the grid size changed). Returns how many; the caller
    commits."""
    for rollup in ROLLUPS:
        db.session.execute(sa.delete(rollup))
    db.session.execute(sa.delete(ReportFact))
    after_id, counted = 0, 0
    while batch := citizen_services.report_snapshots(after_id=after_id, limit=REBUILD_BATCH):
        db.session.execute(sa.insert(ReportFact.__table__),
                           [_fact_values(snapshot, settings.insight_grid_m) for snapshot in batch])
        after_id, counted = batch[-1].id, counted + len(batch)
    # Each rollup in one statement over the facts just written, in key order: a period's rows lie together.
    for rollup, sources in SOURCES.items():
        keys = [_month_start(getattr(ReportFact, fact)) if column == "month" else getattr(ReportFact, fact)
                for column, fact in sources.items()]
        select = (sa.select(*keys, sa.func.count())
                  .where(*(getattr(ReportFact, fact).is_not(None) for fact in sources.values()))
                  .group_by(*keys).order_by(*keys))
        db.session.execute(sa.insert(rollup).from_select([*sources, "count"], select))
    return counted
