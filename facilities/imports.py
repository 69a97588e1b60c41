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
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from core.db import commit_early, db, utcnow
from core.districts import DistrictLocator
from core.districts import locator as district_locator
from core.errors import ValidationFailed
from core.geo import COORD_TYPES, to_wgs84
from core.jobs import enqueue_after_commit
from core.services import SYSTEM_ACTOR, Actor, record_audit
from core.storage import ObjectNotFound, current_storage
from facilities import services, spatial
from facilities.models import Facility, FacilityImport, FacilityImportRejection, FacilityKind
from facilities.readers import READ_CHUNK, READERS, CountingReader, ImportFailed, RawRow

FORMATS = ("csv", "geojson")
BATCH_SIZE = 5_000
# What a file unreadable as a whole raises while it is read (an import of it fails, with _failure_message's reason).
UNREADABLE = (ImportFailed, UnicodeDecodeError, csv.Error)
# Rejected rows kept per import (for the page and its CSV); the counts are always complete.
STORED_REJECTIONS = 10_000
# Columns an import writes; an upsert changes a row only when one of them differs.
UPSERT_COLUMNS = ("kind_code", "name", "lat", "lng", "cell", "address", "district", "opening_hours",
                  "attributes", "status", "shown", "is_sample")


# --- validation ---------------------------------------------------------------------------------

class RowRejected(ValueError):
    """A row refused, with the column at fault ("" for the row as a whole) and why, in Chinese for the staff."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


# The boundaries are simplified (to about 30 m) and a facility on the shore or the line between two districts may
# be drawn a little beyond them: a point this close to a district counts as in it.
BOUNDARY_TOLERANCE_M = 100.0
SERVICE_AREA_NAME = "青岛市"


@dataclasses.dataclass(frozen=True)
class RowContext:
    kinds: dict[str, bool]  # code -> shown to residents
    kind_override: str | None
    coord_type: str
    is_sample: bool = False
    # Where rows must lie (files that people made); the generated sample and test data are not checked.
    service_area: DistrictLocator | None = None


def _coordinate(value: Any, name: str, limit: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowRejected(name, "缺失或不是数字") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise RowRejected(name, f"{value} 超出范围") from None
    return number


def check_service_area(area: DistrictLocator, lat: float, lng: float, district: str) -> None:
    """RowRejected unless the point (WGS-84) lies in the service area and, when a district is named, in that one."""
    inside = area.district_at(lat, lng)
    near = {inside} if inside else {name for name in area.names()
                                     if area.distance_m(name, lat, lng, within_m=BOUNDARY_TOLERANCE_M) is not None}
    if not near:
        raise RowRejected("lat,lng", f"坐标不在{SERVICE_AREA_NAME}服务范围内")
    if not district or district in near:
        return
    if district not in area.names():
        raise RowRejected("district", f"“{district}”不是{SERVICE_AREA_NAME}的区（市）")
    if area.distance_m(district, lat, lng, within_m=BOUNDARY_TOLERANCE_M) is None:
        raise RowRejected("district", f"坐标位于{inside or '、'.join(sorted(near))}，与所填区（{district}）不符")


def facility_values(raw: RawRow, context: RowContext) -> dict[str, Any]:
    """The row as table values, or RowRejected with the column and the reason it is refused."""
    if "__error__" in raw:
        raise RowRejected(*raw["__error__"])
    source_id = str(raw.get("source_id") or "").strip()
    if not source_id or len(source_id) > 64:
        raise RowRejected("source_id", "缺失或超过 64 个字符")
    try:
        services.storable(source_id)
    except ValueError as exc:
        raise RowRejected("source_id", str(exc)) from None
    kind = context.kind_override or str(raw.get("kind") or "").strip()
    if kind not in context.kinds:
        raise RowRejected("kind", f"未知的设施类型“{kind}”" if kind else "缺失")
    lat, lng = to_wgs84(_coordinate(raw.get("lat"), "lat", 90.0), _coordinate(raw.get("lng"), "lng", 180.0),
                        context.coord_type)
    values: dict[str, Any] = {"source_id": source_id, "kind_code": kind, "lat": lat, "lng": lng,
                              "cell": spatial.cell_of(lat, lng), "shown": context.kinds[kind],
                              "is_sample": context.is_sample}
    for name in services.EDITABLE_FIELDS:
        try:
            values[name] = services.FIELD_CHECKS[name](raw.get(name))
        except ValueError as exc:
            raise RowRejected(name, str(exc)) from None
    if context.service_area is not None:
        # Checked on the WGS-84 point, as the boundaries are drawn: a GCJ-02 file is judged where it really lies.
        check_service_area(context.service_area, lat, lng, values["district"])
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
            # INDEX_CLEANUP ON: with dead items on under 2% of the pages (an edit or two in a large table) VACUUM
            # skips the indexes by default, leaving those items' pages not all-visible until a later vacuum.
            connection.exec_driver_sql("VACUUM (ANALYZE, INDEX_CLEANUP ON) facilities")
    services.kind_snapshot(refresh=True)


@dataclasses.dataclass
class Progress:
    bytes_done: int = 0
    bytes_total: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0


@dataclasses.dataclass(frozen=True)
class Rejection:
    line: int
    source_id: str
    column: str
    reason: str


def _check_options(file_format: str, coord_type: str, kind_override: str | None) -> dict[str, bool]:
    """The kinds (code -> shown to residents), once the options are known good; ValueError naming the bad one."""
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if coord_type not in COORD_TYPES:
        raise ValueError(f"coord_type must be one of {', '.join(COORD_TYPES)}")
    kinds = {kind.code: kind.shown_to_residents for kind in db.session.scalars(sa.select(FacilityKind))}
    if kind_override is not None and kind_override not in kinds:
        raise ValueError(f"unknown kind {kind_override!r}")
    return kinds


def import_file(path: str | Path, file_format: str, *, kind_override: str | None = None, coord_type: str = "wgs84",
                actor: Actor = SYSTEM_ACTOR, batch_size: int = BATCH_SIZE,
                on_progress: Callable[[Progress], None] | None = None,
                on_reject: Callable[[Rejection], None] | None = None) -> FacilityImport:
    """Stream ``path`` into the facilities table; every rejected row goes to ``on_reject``.

    Raises ImportFailed when the file as a whole is unreadable (recorded as a failed import).
    """
    path = Path(path)
    kinds = _check_options(file_format, coord_type, kind_override)
    record = FacilityImport(filename=path.name, file_format=file_format, kind_override=kind_override,
                            coord_type=coord_type, actor_name=actor.name, status="running")
    db.session.add(record)
    commit_early("the history shows the import running while its batches are written, and after a crash")
    return _run(record, path, kinds, actor=actor, batch_size=batch_size, on_progress=on_progress,
                on_reject=on_reject)


def _run(record: FacilityImport, path: Path, kinds: dict[str, bool], *, actor: Actor, batch_size: int,
         on_progress: Callable[[Progress], None] | None = None,
         on_reject: Callable[[Rejection], None] | None = None) -> FacilityImport:
    """Read ``path`` into the facilities as ``record`` says; the record's counts are kept with each batch."""
    before = _count_facilities()
    if db.session.get_bind().dialect.name == "sqlite":
        # Random-order index inserts: a page cache that holds the indexes saves most of the I/O.
        db.session.execute(sa.text("PRAGMA cache_size = -262144"))
    context = RowContext(kinds, record.kind_override, record.coord_type, service_area=district_locator())
    progress = Progress(bytes_total=path.stat().st_size)
    rejected: list[Rejection] = []  # the batch's, kept with it
    batch: list[dict[str, Any]] = []

    def keep_batch() -> None:
        upsert_rows(batch)
        stored = max(0, min(len(rejected), STORED_REJECTIONS - (progress.rows_rejected - len(rejected))))
        if stored:
            db.session.execute(sa.insert(FacilityImportRejection), [
                {"import_id": record.id, **dataclasses.asdict(item)} for item in rejected[:stored]])
        _note_counts(record, progress)
        batch.clear()
        rejected.clear()

    try:
        with path.open("rb") as raw_file:
            counter, rows = _reading(raw_file, record.file_format)
            for line, raw in rows:
                progress.rows_read += 1
                try:
                    batch.append(facility_values(raw, context))
                    progress.rows_accepted += 1
                except RowRejected as exc:
                    progress.rows_rejected += 1
                    rejection = Rejection(line, _storable_copy(str(raw.get("source_id") or "")[:64]), exc.column,
                                          _storable_copy(exc.reason[:255]))
                    rejected.append(rejection)
                    if on_reject is not None:
                        on_reject(rejection)
                if len(batch) + len(rejected) >= batch_size:
                    keep_batch()
                    commit_early("each batch is kept as written: a rerun after a crash converges from there")
                    progress.bytes_done = counter.bytes_read
                    if on_progress is not None:
                        on_progress(progress)
            keep_batch()
            progress.bytes_done = counter.bytes_read
    except UNREADABLE as exc:
        failure = _failure_message(exc)
        _record_failure(record, progress, before, failure)
        raise ImportFailed(failure) from exc
    except BaseException:
        # Stopped another way (Ctrl-C on a long import, a lost connection): the history says so, with the batches
        # written before, rather than "running" for good. Writing that may fail too (no connection): then it stays.
        _record_failure(record, progress, before, "导入中断")
        raise
    if on_progress is not None:
        on_progress(progress)
    _close_record(record, progress, status="finished", inserted=_count_facilities() - before)
    record_audit(actor, "facility.import", "facility_import", record.id,
                 after={"file": record.filename, "accepted": record.rows_accepted, "rejected": record.rows_rejected})
    _finish_bulk_write()
    return record


def _storable_copy(text: str) -> str:
    """``text`` as the rejected row's record can keep it: NULs and lone surrogates (why it was refused) shown as ?."""
    return text.replace("\x00", "?").encode("utf-8", "replace").decode("utf-8")


def _reading(raw_file: IO[bytes], file_format: str) -> tuple[CountingReader, Iterator[tuple[int, RawRow]]]:
    """The file's rows, and what counts the bytes read (the readers' text layer then never owns the file)."""
    counter = CountingReader(raw_file)
    return counter, READERS[file_format](io.BufferedReader(counter, READ_CHUNK))


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"文件不是 UTF-8 编码（第 {exc.start + 1} 字节附近）"
    if isinstance(exc, csv.Error):
        return f"CSV 格式错误（{exc}）"
    return str(exc)


def _note_counts(record: FacilityImport, progress: Progress) -> None:
    record.rows_read, record.rows_accepted, record.rows_rejected = (
        progress.rows_read, progress.rows_accepted, progress.rows_rejected)


def _record_failure(record: FacilityImport, progress: Progress, before: int, failure: str) -> None:
    db.session.rollback()
    _close_record(record, progress, status="failed", inserted=_count_facilities() - before)
    record.failure = failure[:255]
    commit_early("the failure is recorded in the history though the import raises")


def _close_record(record: FacilityImport, progress: Progress, *, status: str, inserted: int) -> None:
    record.status = status
    record.finished_at = utcnow()
    _note_counts(record, progress)
    record.rows_inserted = inserted


# --- uploaded in the admin, run as a job ------------------------------------------------------------

# Batches of an uploaded import: small enough that the progress bar moves on a file of a few thousand rows.
UPLOAD_BATCH_SIZE = 1_000
_UPLOAD_PREFIX = "facility-imports/"
UPLOAD_CONTENT_TYPES = {"csv": "text/csv", "geojson": "application/geo+json"}


def upload_key(import_id: int) -> str:
    return f"{_UPLOAD_PREFIX}{import_id}"


def queue_upload(actor: Actor, filename: str, body: IO[bytes], *, file_format: str, kind_override: str | None,
                 coord_type: str) -> FacilityImport:
    """Keep an uploaded file in storage (a worker elsewhere reads it) and queue its import after the commit."""
    try:
        _check_options(file_format, coord_type, kind_override)
    except ValueError:
        raise ValidationFailed("导入选项无效。", details={"fields": {"kind": ["未知的设施类型"]}}) from None
    record = FacilityImport(filename=filename[:255] or "upload", file_format=file_format, kind_override=kind_override,
                            coord_type=coord_type, actor_name=actor.name, status="queued")
    db.session.add(record)
    db.session.flush()
    current_storage().put(upload_key(record.id), body, UPLOAD_CONTENT_TYPES[file_format])
    record_audit(actor, "facility.import_upload", "facility_import", record.id,
                 after={"file": record.filename, "format": file_format, "kind": kind_override,
                        "coord_type": coord_type})
    enqueue_after_commit("facilities.jobs.run_uploaded_import", record.id)
    return record


def count_rows(path: Path, file_format: str) -> int:
    with path.open("rb") as raw_file:
        return sum(1 for _ in _reading(raw_file, file_format)[1])


def run_upload(import_id: int) -> None:
    """Count the uploaded file's rows (the progress bar's end), then import it as `flask facilities import` does.

    Runs once: a job queued again (rq's retry after a crash) finds the import no longer queued.
    """
    record = db.session.get(FacilityImport, import_id)
    if record is None or record.status != "queued":
        return
    storage = current_storage()
    record.status, record.started_at = "running", utcnow()
    commit_early("the page shows the import running while the file is counted")
    try:
        with tempfile.TemporaryDirectory(prefix="facility-import-") as directory:
            path = Path(directory) / "upload"
            try:
                with path.open("wb") as out:
                    storage.download(upload_key(import_id), out)
                record.rows_total = count_rows(path, record.file_format)
            except ObjectNotFound:
                _record_failure(record, Progress(), _count_facilities(), "上传的文件已不在存储中，请重新上传")
                return
            except UNREADABLE as exc:
                _record_failure(record, Progress(), _count_facilities(), _failure_message(exc))
                return
            commit_early("the progress bar knows its end before the first batch is read")
            try:
                _run(record, path, _check_options(record.file_format, record.coord_type, record.kind_override),
                     actor=SYSTEM_ACTOR, batch_size=UPLOAD_BATCH_SIZE)
            except ImportFailed:
                return  # recorded with its reason, which the import's page shows
    finally:
        storage.delete(upload_key(import_id))


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
