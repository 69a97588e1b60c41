"""Bulk facility data: streaming import (CSV, GeoJSON), GeoJSON export, the embedded sample. No Flask here.

Imports never hold a file in memory: rows are read one at a time, validated, and upserted by
source id in batches, each batch committed, so a rerun (after a crash or with a corrected
file) converges on the same table.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from core.db import commit_early, db, utcnow
from core.geo import COORD_TYPES, to_wgs84
from core.services import SYSTEM_ACTOR, Actor, record_audit
from facilities import services, spatial
from facilities.models import Facility, FacilityImport, FacilityKind
from facilities.readers import READ_CHUNK, READERS, CountingReader, ImportFailed, RawRow

FORMATS = ("csv", "geojson")
BATCH_SIZE = 5_000
STORED_REJECTIONS = 200
# Columns an import writes; an upsert changes a row only when one of them differs.
UPSERT_COLUMNS = ("kind_code", "name", "lat", "lng", "cell", "address", "district", "opening_hours",
                  "attributes", "status", "shown", "is_sample")


# --- validation ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RowContext:
    kinds: dict[str, bool]  # code -> shown to residents
    kind_override: str | None
    coord_type: str
    is_sample: bool = False


def _coordinate(value: Any, name: str, limit: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is missing or not a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise ValueError(f"{name} {value!r} is out of range")
    return number


def facility_values(raw: RawRow, context: RowContext) -> dict[str, Any]:
    """The row as table values, or ValueError with the reason it is rejected."""
    if "__error__" in raw:
        raise ValueError(raw["__error__"])
    source_id = str(raw.get("source_id") or "").strip()
    if not source_id or len(source_id) > 64:
        raise ValueError("source_id is missing or longer than 64 characters")
    try:
        services.storable(source_id)
    except ValueError as exc:
        raise ValueError(f"source_id: {exc}") from None
    kind = context.kind_override or str(raw.get("kind") or "").strip()
    if kind not in context.kinds:
        raise ValueError(f"unknown kind {kind!r}" if kind else "kind is missing")
    lat, lng = to_wgs84(_coordinate(raw.get("lat"), "lat", 90.0), _coordinate(raw.get("lng"), "lng", 180.0),
                        context.coord_type)
    values: dict[str, Any] = {"source_id": source_id, "kind_code": kind, "lat": lat, "lng": lng,
                              "cell": spatial.cell_of(lat, lng), "shown": context.kinds[kind],
                              "is_sample": context.is_sample}
    for name in services.EDITABLE_FIELDS:
        try:
            values[name] = services.FIELD_CHECKS[name](raw.get(name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return values


# --- writing ------------------------------------------------------------------------------------

WRITTEN_COLUMNS = ("source_id", *UPSERT_COLUMNS, "created_at", "updated_at")
# PostgreSQL: a batch is COPYed into this session-private table, then upserted with one statement.
_STAGING_TABLE = "facilities_upsert_batch"


@functools.lru_cache(maxsize=4)
def _upsert_sql(dialect: str) -> str:
    """INSERT … ON CONFLICT (source_id) DO UPDATE, touching a row only when a column differs.

    SQLite: one row of parameters at a time (executemany); PostgreSQL: every row of the staging table.
    """
    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    as_text = "::text" if dialect == "postgresql" else ""  # PostgreSQL's json has no equality operator

    def changed(name: str) -> str:
        cast = as_text if name == "attributes" else ""
        return f"facilities.{name}{cast} {differs} excluded.{name}{cast}"

    source = (f"SELECT {', '.join(WRITTEN_COLUMNS)} FROM {_STAGING_TABLE}" if dialect == "postgresql"
              else f"VALUES ({', '.join('?' * len(WRITTEN_COLUMNS))})")
    return (f"INSERT INTO facilities ({', '.join(WRITTEN_COLUMNS)}) {source} "
            f"ON CONFLICT (source_id) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in (*UPSERT_COLUMNS, "updated_at"))
            + " WHERE " + " OR ".join(changed(name) for name in UPSERT_COLUMNS))


def upsert_rows(rows: list[dict[str, Any]]) -> None:
    """Insert or update by source id (the last of repeated source ids wins); unchanged rows stay untouched.

    Goes straight to the DBAPI: at millions of rows, per-row ORM work dominates. SQLite takes the batch
    through executemany; PostgreSQL through COPY into a temporary table and one INSERT … SELECT.
    """
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    table = Facility.__table__
    processors = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                  for name in ("source_id", *UPSERT_COLUMNS)]
    stamp_processor = table.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = stamp_processor(utcnow()) if stamp_processor else utcnow()
    unique = {row["source_id"]: row for row in rows}
    parameters = [tuple(process(row[name]) if process else row[name] for name, process in processors) + (stamp, stamp)
                  for row in unique.values()]
    cursor = connection.connection.cursor()
    if dialect.name != "postgresql":
        cursor.executemany(_upsert_sql(dialect.name), parameters)
        return
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING_TABLE} ON COMMIT DELETE ROWS AS "
                   f"SELECT {', '.join(WRITTEN_COLUMNS)} FROM facilities WITH NO DATA")
    with cursor.copy(f"COPY {_STAGING_TABLE} ({', '.join(WRITTEN_COLUMNS)}) FROM STDIN") as copy:
        for row in parameters:
            copy.write_row(row)
    cursor.execute(_upsert_sql(dialect.name))
    cursor.execute(f"TRUNCATE {_STAGING_TABLE}")


def _count_facilities() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Facility)) or 0


def _finish_bulk_write() -> None:
    """Fresh kind counts and planner statistics, and on PostgreSQL a set visibility map.

    The nearest search reads covering indexes, but an index-only scan still visits the table for every entry on a
    page not marked all-visible, and only VACUUM marks pages (autovacuum gets round to it some time later, and not
    at all after an import that changes too few rows). VACUUM cannot run inside a transaction: it gets a connection
    of its own, unless the session is bound to a connection whose transaction the caller holds (then ANALYZE only,
    inside that transaction).
    """
    services.refresh_kind_stats()
    bind = db.session.get_bind()
    vacuum = bind.dialect.name == "postgresql" and isinstance(bind, sa.Engine)
    if not vacuum:
        db.session.execute(sa.text("ANALYZE facilities"))
    commit_early("the import's last batch is kept like the others, and VACUUM on its own connection sees it")
    if vacuum:
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE) facilities")
    services.kind_snapshot(refresh=True)


@dataclasses.dataclass
class Progress:
    bytes_done: int = 0
    bytes_total: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0


def import_file(path: str | Path, file_format: str, *, kind_override: str | None = None, coord_type: str = "wgs84",
                actor: Actor = SYSTEM_ACTOR, batch_size: int = BATCH_SIZE,
                on_progress: Callable[[Progress], None] | None = None,
                on_reject: Callable[[int, str, str], None] | None = None) -> FacilityImport:
    """Stream ``path`` into the facilities table; every rejected row goes to ``on_reject(line, source_id, reason)``.

    Raises ImportFailed when the file as a whole is unreadable (recorded as a failed import).
    """
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if coord_type not in COORD_TYPES:
        raise ValueError(f"coord_type must be one of {', '.join(COORD_TYPES)}")
    path = Path(path)
    kinds = {kind.code: kind.shown_to_residents for kind in db.session.scalars(sa.select(FacilityKind))}
    if kind_override is not None and kind_override not in kinds:
        raise ValueError(f"unknown kind {kind_override!r}")
    record = FacilityImport(filename=path.name, file_format=file_format, kind_override=kind_override,
                            actor_name=actor.name, rejections=[])
    db.session.add(record)
    commit_early("the history shows the import running while its batches are written, and after a crash")
    before = _count_facilities()
    if db.session.get_bind().dialect.name == "sqlite":
        # Random-order index inserts: a page cache that holds the indexes saves most of the I/O.
        db.session.execute(sa.text("PRAGMA cache_size = -262144"))
    context = RowContext(kinds, kind_override, coord_type)
    progress = Progress(bytes_total=path.stat().st_size)
    rejections: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    try:
        with path.open("rb") as raw_file:
            counter = CountingReader(raw_file)
            for line, raw in READERS[file_format](io.BufferedReader(counter, READ_CHUNK)):
                progress.rows_read += 1
                try:
                    batch.append(facility_values(raw, context))
                    progress.rows_accepted += 1
                except ValueError as exc:
                    progress.rows_rejected += 1
                    source_id = str(raw.get("source_id") or "")[:64]
                    if len(rejections) < STORED_REJECTIONS:
                        rejections.append({"line": line, "source_id": source_id, "reason": str(exc)})
                    if on_reject is not None:
                        on_reject(line, source_id, str(exc))
                if len(batch) >= batch_size:
                    upsert_rows(batch)
                    commit_early("each batch is kept as written: a rerun after a crash converges from there")
                    batch.clear()
                    progress.bytes_done = counter.bytes_read
                    if on_progress is not None:
                        on_progress(progress)
            upsert_rows(batch)
            progress.bytes_done = counter.bytes_read
    except (ImportFailed, UnicodeDecodeError, csv.Error) as exc:
        _record_failure(record, progress, rejections, before)
        raise ImportFailed(str(exc)) from exc
    except BaseException:
        # Stopped another way (Ctrl-C on a long import, a lost connection): the history says so, with the batches
        # written before, rather than "running" for good. Writing that may fail too (no connection): then it stays.
        _record_failure(record, progress, rejections, before)
        raise
    if on_progress is not None:
        on_progress(progress)
    _close_record(record, progress, rejections, status="finished", inserted=_count_facilities() - before)
    record_audit(actor, "facility.import", "facility_import", record.id,
                 after={"file": record.filename, "accepted": record.rows_accepted, "rejected": record.rows_rejected})
    _finish_bulk_write()
    return record


def _record_failure(record: FacilityImport, progress: Progress, rejections: list[dict[str, Any]], before: int) -> None:
    db.session.rollback()
    _close_record(record, progress, rejections, status="failed", inserted=_count_facilities() - before)
    commit_early("the failure is recorded in the history though the import raises")


def _close_record(record: FacilityImport, progress: Progress, rejections: list[dict[str, Any]], *, status: str,
                  inserted: int) -> None:
    record.status = status
    record.finished_at = utcnow()
    record.rows_read, record.rows_accepted, record.rows_rejected = (
        progress.rows_read, progress.rows_accepted, progress.rows_rejected)
    record.rows_inserted = inserted
    record.rejections = rejections


# --- export ---------------------------------------------------------------------------------------

def export_geojson(out: IO[str], *, kind: str | None = None) -> int:
    """Every facility (WGS-84, RFC 7946) as a FeatureCollection, one feature a line; returns the count."""
    query = sa.select(Facility.__table__).order_by(Facility.id)
    if kind:
        query = query.where(Facility.kind_code == kind)
    out.write('{"type": "FeatureCollection", "features": [\n')
    count = 0
    for row in db.session.execute(query.execution_options(yield_per=2_000)):
        properties = {"source_id": row.source_id, "kind": row.kind_code, "name": row.name, "address": row.address,
                      "district": row.district, "status": row.status, "opening_hours": row.opening_hours,
                      "attributes": row.attributes or {}}
        feature = {"type": "Feature", "id": row.source_id,
                   "geometry": {"type": "Point", "coordinates": [row.lng, row.lat]}, "properties": properties}
        out.write((",\n" if count else "") + json.dumps(feature, ensure_ascii=False))
        count += 1
    out.write("\n]}\n")
    return count


# --- the embedded default's sample ----------------------------------------------------------------

SAMPLE_PREFIX = "【示例】"
# Central Qingdao (Shinan / Shibei), WGS-84.
SAMPLE_BOX = (36.045, 36.110, 120.320, 120.450)
SAMPLE_DISTRICTS = ("市南区", "市北区")
SAMPLE_HOURS = (None, "06:00-22:00", "05:30-23:30", "00:00-24:00", "18:00-06:00")


def sample_rows(count: int = 400, *, seed: int = 20240601) -> list[dict[str, Any]]:
    """A small generated sample (a quarter of it public toilets) over central Qingdao, labelled as sample."""
    rng = random.Random(seed)
    kinds = {kind.code: kind for kind in db.session.scalars(
        sa.select(FacilityKind).where(FacilityKind.shown_to_residents.is_(True)))}
    codes = sorted(kinds)
    context = RowContext({code: True for code in codes}, None, "wgs84", is_sample=True)
    rows = []
    for number in range(1, count + 1):
        code = "0301" if number % 4 == 0 or "0301" not in kinds else rng.choice(codes)
        toilet = code == "0301"
        raw = {"source_id": f"sample-{number:05d}", "kind": code,
               "name": f"{SAMPLE_PREFIX}{kinds[code].name}{number}号",
               "lat": rng.uniform(SAMPLE_BOX[0], SAMPLE_BOX[1]), "lng": rng.uniform(SAMPLE_BOX[2], SAMPLE_BOX[3]),
               "address": f"示例路{rng.randint(1, 300)}号", "district": rng.choice(SAMPLE_DISTRICTS),
               "opening_hours": rng.choice(SAMPLE_HOURS) if toilet else None,
               "attributes": {"free": rng.random() < 0.9, "accessible": rng.random() < 0.6,
                              "baby_changing": rng.random() < 0.3,
                              "genders": ["male", "female"] + (["family"] if rng.random() < 0.3 else [])}
               if toilet else {}}
        rows.append(facility_values(raw, context))
    return rows


def load_sample(count: int = 400) -> int:
    """Upsert the sample (safe to rerun); the embedded default's `make run` calls it, production never."""
    rows = sample_rows(count)
    upsert_rows(rows)
    _finish_bulk_write()
    return len(rows)
