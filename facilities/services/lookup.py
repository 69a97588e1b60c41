"""Facility lookup: the nearest query, the map view, edits, import and export. No Flask here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.db import db, get_or_not_found, is_storable_text, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.geo import EARTH_RADIUS_M, haversine_m, wgs84_to_gcj02
from core.services import Actor, record_audit
from facilities import spatial
from facilities.models import (ALL_SHOWN_SCOPE, FACILITY_STATUSES, NEAREST_PREDICATE, NEAREST_SHOWN_PREDICATE,
                               Facility, FacilityDensity, FacilityImport, FacilityKind)

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_NEAREST_LIMIT = 50
MAX_RADIUS_M = 10_000
MAX_MAP_POINTS = 300
MAP_CLUSTER_GRID = 8  # about this many clusters across the map's wider side
KIND_SNAPSHOT_TTL_SECONDS = 30.0
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


# --- facility kinds ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KindInfo:
    code: str
    name: str
    shown_to_residents: bool

    @classmethod
    def of(cls, kind: FacilityKind) -> KindInfo:
        return cls(kind.code, kind.name, kind.shown_to_residents)


@dataclasses.dataclass(frozen=True)
class KindSnapshot:
    """The kinds as this process last read them: used to validate."""

    kinds: dict[str, KindInfo]
    loaded_at: float


_snapshot_lock = threading.Lock()
# Per engine (or connection, in tests): the object itself is the key (rendering a URL costs more than the lookup).
_snapshots: dict[sa.Engine | sa.Connection, KindSnapshot] = {}


def kind_snapshot(*, refresh: bool = False) -> KindSnapshot:
    key = db.engine
    snapshot = _snapshots.get(key)
    if refresh or snapshot is None or time.monotonic() - snapshot.loaded_at > KIND_SNAPSHOT_TTL_SECONDS:
        kinds = {kind.code: KindInfo.of(kind) for kind in db.session.scalars(sa.select(FacilityKind))}
        snapshot = KindSnapshot(kinds, time.monotonic())
        with _snapshot_lock:
            _snapshots[key] = snapshot
    return snapshot


def list_kinds() -> list[FacilityKind]:
    return list(db.session.scalars(sa.select(FacilityKind).order_by(FacilityKind.code)))


def resident_kind(code: str | None) -> str | None:
    """``code`` if residents may search that kind; ValidationFailed names the parameter otherwise."""
    if code is None:
        return None
    snapshot = kind_snapshot()
    if code not in snapshot.kinds:
        snapshot = kind_snapshot(refresh=True)
    kind = snapshot.kinds.get(code)
    if kind is None or not kind.shown_to_residents:
        raise ValidationFailed("设施类型不存在。", code="unknown_kind",
                               details={"fields": {"query": {"kind": ["unknown or not offered to residents"]}}})
    return code


def set_kind_shown(actor: Actor, code: str, shown: bool) -> FacilityKind:
    kind = get_or_not_found(FacilityKind, code, "设施类型不存在。")
    before = kind.shown_to_residents
    kind.shown_to_residents = shown
    db.session.execute(sa.update(Facility).where(Facility.kind_code == code).values(shown=shown))
    _refresh_shown_densities()
    record_audit(actor, "facility_kind.update", "facility_kind", code,
                 before={"shown_to_residents": before}, after={"shown_to_residents": shown})
    return kind


def refresh_kind_stats(codes: Iterable[str] | None = None) -> None:
    """Recount the facilities in service per kind and per coarse cell (all kinds, or only ``codes``)."""
    targets = None if codes is None else sorted(set(codes))
    in_service = Facility.status == "in_service"
    if targets is not None:
        in_service = in_service & Facility.kind_code.in_(targets)
    coarse_cell = Facility.cell.op("/")(_CELLS_PER_DENSITY_CELL)
    stale = sa.delete(FacilityDensity).where(FacilityDensity.scope != ALL_SHOWN_SCOPE)
    db.session.execute(stale if targets is None else stale.where(FacilityDensity.scope.in_(targets)))
    db.session.execute(sa.insert(FacilityDensity).from_select(
        ["scope", "cell", "facility_count"],
        sa.select(Facility.kind_code, coarse_cell, sa.func.count()).where(in_service)
        .group_by(Facility.kind_code, coarse_cell)))
    counts = dict(db.session.execute(
        sa.select(FacilityDensity.scope, sa.func.sum(FacilityDensity.facility_count))
        .where(FacilityDensity.scope != ALL_SHOWN_SCOPE).group_by(FacilityDensity.scope)).all())
    kinds = db.session.scalars(sa.select(FacilityKind) if targets is None
                               else sa.select(FacilityKind).where(FacilityKind.code.in_(targets)))
    for kind in kinds:
        kind.facility_count = counts.get(kind.code, 0)
    _refresh_shown_densities()


def _refresh_shown_densities() -> None:
    """The counts over every kind shown to residents, from the per-kind counts."""
    db.session.execute(sa.delete(FacilityDensity).where(FacilityDensity.scope == ALL_SHOWN_SCOPE))
    per_kind = sa.orm.aliased(FacilityDensity)
    db.session.execute(sa.insert(FacilityDensity).from_select(
        ["scope", "cell", "facility_count"],
        sa.select(sa.literal(ALL_SHOWN_SCOPE), per_kind.cell, sa.func.sum(per_kind.facility_count))
        .join(FacilityKind, FacilityKind.code == per_kind.scope).where(FacilityKind.shown_to_residents)
        .group_by(per_kind.cell)))


_CELLS_PER_DENSITY_CELL = 4 ** (spatial.MAX_LEVEL - spatial.DENSITY_LEVEL)


@dataclasses.dataclass(frozen=True)
class DensityMap:
    """A scope's facility counts per coarse cell as this process last read them (facility_densities)."""

    counts: dict[int, int]  # by the cell's code
    densest_around: dict[tuple[int, int], int]  # by (cx, cy): the largest count of the cell and its 8 neighbours
    loaded_at: float

    @classmethod
    def of(cls, counts: dict[int, int]) -> DensityMap:
        densest_around: dict[tuple[int, int], int] = {}
        for code, count in counts.items():
            cx, cy = spatial.cell_xy(code)
            for around in ((cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)):
                if densest_around.get(around, 0) < count:
                    densest_around[around] = count
        return cls(counts, densest_around, time.monotonic())

    def per_m2(self, lat: float, lng: float) -> float:
        """The density of the densest coarse cell around the point: overestimated (a finer first level, maybe
        a second round) rather than underestimated (a coarse first block with far too many rows)."""
        densest = self.densest_around.get(spatial.density_cell(lat, lng), 0)
        return densest / spatial.cell_area_m2(spatial.DENSITY_LEVEL, lat)


_density_maps: dict[tuple[sa.Engine | sa.Connection, str], DensityMap] = {}


def density_map(kind_code: str | None, *, refresh: bool = False) -> DensityMap:
    """The counts of a kind's facilities, or (None) of every kind shown to residents; reread every
    KIND_SNAPSHOT_TTL_SECONDS."""
    scope = kind_code or ALL_SHOWN_SCOPE
    key = (db.engine, scope)
    density = _density_maps.get(key)
    if refresh or density is None or time.monotonic() - density.loaded_at > KIND_SNAPSHOT_TTL_SECONDS:
        counts = db.session.execute(sa.select(FacilityDensity.cell, FacilityDensity.facility_count)
                                    .where(FacilityDensity.scope == scope))
        density = DensityMap.of(dict(counts.all()))
        with _snapshot_lock:
            _density_maps[key] = density
    return density


# --- opening hours ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def parse_opening_hours(text: str) -> tuple[tuple[int, int], ...]:
    """"06:00-22:00,22:30-23:30" -> minute ranges; a range whose end is before its start crosses midnight."""
    ranges = []
    for part in text.replace("，", ",").split(","):
        match = _HOURS_RE.match(part.strip())
        if match is None:
            raise ValueError(f"opening hours {text!r}: expected HH:MM-HH:MM, comma-separated")
        start = int(match[1]) * 60 + int(match[2])
        end = int(match[3]) * 60 + int(match[4])
        if end > 24 * 60 or start == end:
            raise ValueError(f"opening hours {text!r}: empty or impossible range {part.strip()!r}")
        ranges.append((start, end))
    return tuple(ranges)


def is_open(opening_hours: str | None, at: dt.datetime) -> bool:
    """Open at ``at`` (any timezone; judged in Beijing time). No hours recorded means no restriction."""
    if not opening_hours:
        return True
    local = at.astimezone(BEIJING)
    minute = local.hour * 60 + local.minute
    for start, end in parse_opening_hours(opening_hours):
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return True
    return False


# --- the nearest query --------------------------------------------------------------------------

@dataclasses.dataclass(slots=True)  # not frozen: a frozen dataclass takes twice as long to make
class FacilityView:
    """A facility as a nearest answer shows it: plain values read with the search, no ORM object."""

    id: int
    kind_code: str
    kind_name: str
    name: str
    lat: float
    lng: float
    address: str
    district: str
    opening_hours: str | None
    attributes: dict[str, Any]
    status: str
    is_sample: bool
    updated_at: dt.datetime


@dataclasses.dataclass(slots=True)
class NearestResult:
    facility: FacilityView
    distance_m: float


# FacilityView's columns but kind_name, in its order (f: facilities). The kind's name comes from the process's kind
# snapshot, not from a join with facility_kinds (a sixth of a search's time on PostgreSQL). The attributes are read
# as text and decoded here: psycopg's own json loading cost four times as much.
_VIEW_COLUMNS = ("f.id, f.kind_code, f.name, f.lat, f.lng, f.address, f.district, f.opening_hours, "
                 "CAST(f.attributes AS TEXT), f.status, f.is_sample, f.updated_at")
_VIEW_ATTRIBUTES = 8  # position of the attributes
_VIEW_TYPED = (10, "is_sample"), (11, "updated_at")  # position, column: need the type's processing
# The candidates are ranked in SQL by the same haversine, which differs from haversine_m by rounding only
# (nanometres); everything within twice this slack of the keep-th is returned and re-measured.
_SQL_DISTANCE_SLACK_M = 1e-3
_RANKED_SPARE_ROWS = 1
# The haversine term h of a facility f (d = 2R asin(sqrt(h)) grows with it), from the point's latitude and
# longitude in degrees (lat, lng) and the cosine of its latitude (cos_lat): SQL named parameters. Degrees are
# turned into radians by multiplying (fewer function calls per row: this is evaluated for every candidate).
_HALF_RADIAN = math.pi / 360.0
_SQL_HAVERSINE_TERM = (f"power(sin((f.lat - :lat) * {_HALF_RADIAN!r}), 2)"
                       f" + :cos_lat * cos(f.lat * {2 * _HALF_RADIAN!r}) * power(sin((f.lng - :lng) * {_HALF_RADIAN!r}), 2)")
_SQL_DISTANCE_OF_TERM = f"2.0 * {EARTH_RADIUS_M!r} * asin(sqrt({{least}}(1.0, near.h)))"


@functools.lru_cache(maxsize=8)
def _view_processors(dialect: sa.Dialect) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    table = Facility.__table__
    processors = ((position, table.c[name].type.dialect_impl(dialect).result_processor(dialect, None))
                  for position, name in _VIEW_TYPED)
    return ((_VIEW_ATTRIBUTES, json.loads),
            *((position, process) for position, process in processors if process is not None))


class ViewColumns:
    """FacilityView's columns as a query read them: made into a FacilityView only when it is wanted (a search
    reads a few more rows than it answers with)."""

    __slots__ = ("values", "processors")

    def __init__(self, values: Sequence[Any], processors: tuple[tuple[int, Callable[[Any], Any]], ...]) -> None:
        self.values = values
        self.processors = processors

    def view(self, kinds: Mapping[str, KindInfo]) -> FacilityView:
        """``kinds``: the kind snapshot's, which must hold the facility's kind."""
        values = list(self.values)
        for position, process in self.processors:
            values[position] = process(values[position])
        values.insert(2, kinds[values[1]].name)
        return FacilityView(*values)


# PostgreSQL estimates unnest() of an array parameter at 10 rows: padded to at least that many (with empty
# ranges), the arrays make its custom plans cost what the generic plan costs, so it settles on the generic
# plan instead of planning every search anew (planning costs more than the search).
_PG_MIN_RANGES = 10


@functools.lru_cache(maxsize=512)
def _candidate_sql(dialect: str, range_count: int, by_kind: bool, columns: str) -> str:
    """Candidates in cell ranges (and a box): one index range scan per range, on the (kind, cell) or (cell) index.

    PostgreSQL takes the ranges as two arrays, so that one prepared statement serves every search;
    SQLite prepares its statements in-process and caches them by text, one per range count.
    """
    where = f"{NEAREST_PREDICATE} AND kind_code = %s" if by_kind else NEAREST_SHOWN_PREDICATE
    box = " AND lat BETWEEN %s AND %s AND lng BETWEEN %s AND %s"
    if dialect == "postgresql":
        # OFFSET 0 keeps the subquery from being flattened into a join, which a generic plan may run as a scan
        # of the whole kind (or table) instead of one index range scan per range.
        return (f"SELECT c.* FROM unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL"
                f" (SELECT {columns} FROM facilities f WHERE {where} AND cell >= r.lo AND cell < r.hi{box} OFFSET 0)"
                " AS c")
    one = f"SELECT {columns} FROM facilities f WHERE {where} AND cell >= %s AND cell < %s{box}"
    return " UNION ALL ".join([one.replace("%s", "?")] * range_count)


def _candidate_params(dialect: str, kind_code: str | None, ranges: Sequence[tuple[int, int]],
                      box: spatial.SearchBox) -> list:
    kind = [kind_code] if kind_code is not None else []
    corners = [box.min_lat, box.max_lat, box.min_lng, box.max_lng]
    if dialect == "postgresql":
        padding = [0] * (_PG_MIN_RANGES - len(ranges))
        return [[start for start, _ in ranges] + padding, [end for _, end in ranges] + padding, *kind, *corners]
    params: list = []
    for start, end in ranges:
        params += [*kind, start, end, *corners]
    return params


def _named_parameters(sql: str, dialect: str) -> str:
    """``:name`` placeholders in the DBAPI's style for named parameters."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql) if dialect == "postgresql" else sql


@functools.lru_cache(maxsize=256)
def _ranked_sql(dialect: str, range_count: int, by_kind: bool, rows: int) -> str:
    """The ``rows`` nearest facilities in cell ranges, ranked in SQL, with their distances and FacilityView columns.

    Parameters: lat, lng, cos_lat (see _SQL_HAVERSINE_TERM), kind, the search box's min/max lat/lng, and the
    ranges lo0, hi0, lo1…: on PostgreSQL always spatial.BLOCK_RANGES of them (empty ones pad), so that one
    prepared statement serves every search; SQLite caches its prepared statements by text, one per range count.
    The row count is part of the text: as a parameter, a generic plan would expect a tenth of the table.
    """
    where = f"{NEAREST_PREDICATE} AND f.kind_code = :kind" if by_kind else NEAREST_SHOWN_PREDICATE
    where += " AND f.lat BETWEEN :min_lat AND :max_lat AND f.lng BETWEEN :min_lng AND :max_lng"
    term = f"SELECT f.id, {_SQL_HAVERSINE_TERM} AS h FROM facilities f WHERE {where}"
    if dialect == "postgresql":
        # One LIMITed subquery per range cannot be flattened into a join: whatever the generic plan guesses, each
        # range is one index range scan (a plain join let it scan the whole kind, or the whole table, instead).
        ranges = ", ".join(f"(:lo{n}::bigint, :hi{n}::bigint)" for n in range(spatial.BLOCK_RANGES))
        near = (f"SELECT c.id, c.h FROM (VALUES {ranges}) AS r(lo, hi) CROSS JOIN LATERAL"
                f" ({term} AND f.cell >= r.lo AND f.cell < r.hi ORDER BY h LIMIT {int(rows)}) AS c")
        least = "least"
    else:
        near = " UNION ALL ".join(f"{term} AND f.cell >= :lo{n} AND f.cell < :hi{n}" for n in range(range_count))
        least = "min"
    sql = (f"WITH near AS (SELECT id, h FROM ({near}) AS candidates ORDER BY h LIMIT {int(rows)})"
           f" SELECT {_SQL_DISTANCE_OF_TERM.format(least=least)} AS d, {_VIEW_COLUMNS} FROM near"
           " JOIN facilities f ON f.id = near.id ORDER BY near.h")
    return _named_parameters(sql, dialect)


def _ranked_params(dialect: str, lat: float, lng: float, kind_code: str | None,
                   ranges: Sequence[tuple[int, int]], box: spatial.SearchBox) -> dict[str, Any]:
    params: dict[str, Any] = {"lat": lat, "lng": lng, "cos_lat": math.cos(math.radians(lat)), "kind": kind_code,
                              "min_lat": box.min_lat, "max_lat": box.max_lat,
                              "min_lng": box.min_lng, "max_lng": box.max_lng}
    # Empty ranges pad, at a real range's start: psycopg types an integer parameter by its size, and a prepared
    # statement is kept per parameter types.
    padding = [(ranges[0][0],) * 2] * (spatial.BLOCK_RANGES - len(ranges)) if dialect == "postgresql" else []
    for n, (start, end) in enumerate([*ranges, *padding]):
        params[f"lo{n}"], params[f"hi{n}"] = start, end
    return params


def _cursor(connection: sa.Connection) -> Any:
    """A DBAPI cursor of the connection; on PostgreSQL one exchanging values in binary, which psycopg reads and
    writes faster than text (a tenth of a ranked statement's time) and which holds floats exactly either way."""
    if connection.dialect.name == "postgresql":
        return connection.connection.cursor(binary=True)
    return connection.connection.cursor()


def _candidate_fetcher(lat: float, lng: float, kind_code: str | None, with_hours: bool) -> spatial.Fetch:
    """One statement per round, on the DBAPI cursor of the session's connection (small, hot statements).

    Unless each candidate's hours must be judged, the statement ranks the candidates and returns only the
    nearest few with their whole rows, which the result then needs no second query for.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    cursor = _cursor(connection)
    processors = _view_processors(dialect)
    plain_columns = "f.id, f.lat, f.lng, f.opening_hours" if with_hours else "f.id, f.lat, f.lng, NULL"

    def fetch(ranges: list[tuple[int, int]], box: spatial.SearchBox, keep: int) -> Iterable[spatial.Candidate]:
        if not with_hours:
            rows = keep + _RANKED_SPARE_ROWS
            cursor.execute(_ranked_sql(dialect.name, len(ranges), kind_code is not None, rows),
                           _ranked_params(dialect.name, lat, lng, kind_code, ranges, box))
            ranked = cursor.fetchall()
            # Complete unless the spare rows are all tied (within the slack) with the keep-th.
            if len(ranked) < rows or ranked[-1][0] > ranked[keep - 1][0] + 2 * _SQL_DISTANCE_SLACK_M:
                return [(row[1], row[4], row[5], ViewColumns(row[1:], processors)) for row in ranked]
        cursor.execute(_candidate_sql(dialect.name, len(ranges), kind_code is not None, plain_columns),
                       _candidate_params(dialect.name, kind_code, ranges, box))
        return cursor.fetchall()

    return fetch


def nearest_hits(lat: float, lng: float, *, kind: str | None = None, limit: int = 5, radius_m: float = 2_000,
                 open_now: bool = False, now: dt.datetime | None = None) -> list[spatial.Hit]:
    """Ids and great-circle distances of the nearest facilities in service (WGS-84 in), nearest first.

    ``kind`` None means every kind shown to residents. Exact: the same ranking as a brute-force scan.
    A hit's ``extra`` is its ViewColumns when the search read them anyway.
    """
    at = (now or utcnow()) if open_now else None
    hits, _ = spatial.nearest(
        lat, lng, limit=limit, radius_m=radius_m, density_per_m2=density_map(kind).per_m2(lat, lng),
        fetch=_candidate_fetcher(lat, lng, kind, open_now),
        accept=(lambda hours: is_open(hours, at)) if open_now else None)  # type: ignore[arg-type]
    return hits


def _kinds_of(codes: Iterable[str]) -> Mapping[str, KindInfo]:
    """The kind snapshot's kinds, reread if one of ``codes`` is not among them (a kind added since)."""
    kinds = kind_snapshot().kinds
    return kinds if all(code in kinds for code in codes) else kind_snapshot(refresh=True).kinds


def facility_views(ids: Sequence[int]) -> dict[int, FacilityView]:
    """The FacilityViews of these facilities, in one query."""
    if not ids:
        return {}
    connection = db.session.connection()
    dialect = connection.dialect
    cursor = _cursor(connection)
    sql = f"SELECT {_VIEW_COLUMNS} FROM facilities f WHERE "
    if dialect.name == "postgresql":
        cursor.execute(sql + "f.id = ANY(%s)", [list(ids)])
    else:
        cursor.execute(sql + f"f.id IN ({', '.join('?' * len(ids))})", list(ids))
    processors = _view_processors(dialect)
    rows = cursor.fetchall()
    kinds = _kinds_of(row[1] for row in rows)
    return {row[0]: ViewColumns(row, processors).view(kinds) for row in rows}


def nearest(lat: float, lng: float, **options: Any) -> list[NearestResult]:
    """The nearest facilities themselves, with their distances; options as for ``nearest_hits``."""
    hits = nearest_hits(lat, lng, **options)
    read = [hit for hit in hits if isinstance(hit.extra, ViewColumns)]
    kinds = _kinds_of(hit.extra.values[1] for hit in read)  # type: ignore[union-attr]
    views = {hit.id: hit.extra.view(kinds) for hit in read}  # type: ignore[union-attr]
    views.update(facility_views([hit.id for hit in hits if hit.id not in views]))
    return [NearestResult(views[hit.id], hit.distance_m) for hit in hits if hit.id in views]


def brute_force_nearest(lat: float, lng: float, *, kind: str | None = None, limit: int = 5,
                        radius_m: float = 2_000, open_now: bool = False,
                        now: dt.datetime | None = None) -> list[spatial.Hit]:
    """The reference answer: every facility in service measured, no index. For tests and the benchmark."""
    at = now or utcnow()
    query = sa.select(Facility.id, Facility.lat, Facility.lng, Facility.opening_hours).where(
        Facility.status == "in_service")
    query = query.where(Facility.kind_code == kind) if kind else query.where(Facility.shown.is_(True))
    hits = [spatial.Hit(row.id, haversine_m(lat, lng, row.lat, row.lng), row.lat, row.lng)
            for row in db.session.execute(query) if not open_now or is_open(row.opening_hours, at)]
    hits = [hit for hit in hits if hit.distance_m <= radius_m]
    return sorted(hits, key=lambda hit: (hit.distance_m, hit.id))[:limit]


# --- the map view -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Cluster:
    lat: float
    lng: float
    count: int


@dataclasses.dataclass(frozen=True)
class MapView:
    facilities: list[Facility]
    clusters: list[Cluster]
    total: int


def _covering_ranges(box: spatial.SearchBox, cells_across: int) -> tuple[int, list[tuple[int, int]]]:
    """The finest level at which at most ``cells_across``² cells cover the box, and their ranges."""
    (x0, y0), (x1, y1) = spatial.grid_xy(box.min_lat, box.min_lng), spatial.grid_xy(box.max_lat, box.max_lng)
    level = spatial.MAX_LEVEL
    while level > 0:
        shift = spatial.MAX_LEVEL - level
        if ((x1 >> shift) - (x0 >> shift) + 1) * ((y1 >> shift) - (y0 >> shift) + 1) <= cells_across ** 2:
            break
        level -= 1
    shift = spatial.MAX_LEVEL - level
    cells = [(cx, cy) for cx in range(x0 >> shift, (x1 >> shift) + 1) for cy in range(y0 >> shift, (y1 >> shift) + 1)]
    return level, spatial.merge_ranges(spatial.cell_range(level, cx, cy) for cx, cy in cells)


def map_view(box: spatial.SearchBox, *, kind: str | None = None, max_points: int = MAX_MAP_POINTS) -> MapView:
    """The facilities in service inside a WGS-84 box, or grid-clustered counts when there are too many."""
    _, ranges = _covering_ranges(box, 4)
    connection = db.session.connection()
    dialect = connection.dialect.name
    params = tuple(_candidate_params(dialect, kind, ranges, box))
    ids_sql = _candidate_sql(dialect, len(ranges), kind is not None, "id")
    ids = [row[0] for row in connection.exec_driver_sql(f"{ids_sql} LIMIT {max_points + 1}", params)]
    if len(ids) <= max_points:
        facilities = list(db.session.scalars(sa.select(Facility).where(Facility.id.in_(ids)).order_by(Facility.id)))
        return MapView(facilities, [], len(facilities))
    cluster_level, _ = _covering_ranges(box, MAP_CLUSTER_GRID)
    shift = 2 * (spatial.MAX_LEVEL - cluster_level)
    inner = _candidate_sql(dialect, len(ranges), kind is not None, f"cell / {1 << shift} AS grp, lat, lng")
    rows = connection.exec_driver_sql(
        f"SELECT count(*), avg(lat), avg(lng) FROM ({inner}) AS candidates GROUP BY grp", params)
    clusters = [Cluster(lat, lng, count) for count, lat, lng in rows]
    return MapView([], clusters, sum(cluster.count for cluster in clusters))


# --- single facilities and edits ----------------------------------------------------------------

def get_facility(facility_id: int, *, for_residents: bool = True) -> Facility:
    facility = db.session.get(Facility, facility_id)
    if facility is None or (for_residents and (not facility.shown or facility.status == "removed")):
        raise NotFound("设施不存在。")
    return facility


def gcj02_of(facility: Facility | FacilityView) -> tuple[float, float]:
    return wgs84_to_gcj02(facility.lat, facility.lng)


def report_prefill(facility: Facility | FacilityView) -> dict[str, Any]:
    """What a problem report about this facility starts from: its id, category and place."""
    gcj_lat, gcj_lng = gcj02_of(facility)
    return {"facility_id": facility.id, "category_code": facility.kind_code, "category_name": facility.kind_name,
            "lat": gcj_lat, "lng": gcj_lng, "coord_type": "gcj02", "address": facility.address,
            "district": facility.district}


EDITABLE_FIELDS = ("name", "address", "district", "opening_hours", "status", "attributes")


def _audit_view(facility: Facility) -> dict[str, Any]:
    return {name: getattr(facility, name) for name in EDITABLE_FIELDS}


def update_facility(actor: Actor, facility: Facility, *, expected_updated_at: str | None = None,
                    **changes: Any) -> Facility:
    """``expected_updated_at``: the facility's updated_at (isoformat) as the editor saw it; a facility changed
    since (another admin's save, an import) is refused rather than overwritten with what the editor last saw."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("不可修改的字段。", details={"fields": {name: ["not editable"] for name in sorted(unknown)}})
    values = _validated_fields(changes)
    if expected_updated_at is not None:
        db.session.refresh(facility, with_for_update={"of": Facility})  # a save committing meanwhile is waited for and seen
        if facility.updated_at.isoformat() != expected_updated_at:
            raise Conflict("该设施已被他人修改，请刷新后重新编辑。", code="facility_changed")
    before = _audit_view(facility)
    for name, value in values.items():
        setattr(facility, name, value)
    after = _audit_view(facility)
    if after != before:
        db.session.flush()
        refresh_kind_stats([facility.kind_code])
        record_audit(actor, "facility.update", "facility", facility.id,
                     before={k: v for k, v in before.items() if after[k] != v},
                     after={k: v for k, v in after.items() if before[k] != v})
    return facility


def disable_facility(actor: Actor, facility: Facility) -> Facility:
    return update_facility(actor, facility, status="removed")


def _validated_fields(changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            values[name] = FIELD_CHECKS[name](value)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed("提交的数据未通过校验。", details={"fields": errors})
    return values


def facility_query(*, text: str | None = None, kind: str | None = None, status: str | None = None,
                   sample: bool | None = None) -> sa.Select[tuple[Facility]]:
    query = sa.select(Facility).order_by(Facility.id.desc())
    if text:
        pattern = f"%{text}%"
        query = query.where(sa.or_(Facility.name.like(pattern), Facility.source_id == text,
                                   Facility.address.like(pattern)))
    if kind:
        query = query.where(Facility.kind_code == kind)
    if status:
        query = query.where(Facility.status == status)
    if sample is not None:
        query = query.where(Facility.is_sample.is_(sample))
    return query


def import_history_query() -> sa.Select[tuple[FacilityImport]]:
    return sa.select(FacilityImport).order_by(FacilityImport.id.desc())


# --- row validation (imports and edits) ---------------------------------------------------------

# As core.app refuses them in requests; an imported file's JSON escapes make them too.
def storable(text: str) -> str:
    """``text``, or ValueError if it holds a NUL (PostgreSQL stores none) or a lone surrogate (no database does)."""
    if not is_storable_text(text):
        raise ValueError("contains a NUL or lone surrogate character")
    return text


def _text(limit: int, *, required: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = storable("" if value is None else str(value).strip())
        if required and not text:
            raise ValueError("required")
        if len(text) > limit:
            raise ValueError(f"longer than {limit} characters")
        return text
    return check


def _opening_hours(value: Any) -> str | None:
    text = _text(64)(value)  # the column's length: a valid but longer list of ranges cannot be stored
    if not text:
        return None
    parse_opening_hours(text)
    return text


def _status(value: Any) -> str:
    text = str(value or "in_service").strip()
    if text not in FACILITY_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FACILITY_STATUSES)}")
    return text


_TRUE = {"1", "true", "yes", "y", "是", "有"}
_FALSE = {"0", "false", "no", "n", "否", "无"}
GENDER_FACILITIES = ("male", "female", "family", "unisex")
BOOLEAN_ATTRIBUTES = ("free", "accessible", "baby_changing")


def _boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no")


def _attributes(value: Any) -> dict[str, Any]:
    """Known attributes in a fixed order: free, accessible, baby_changing (yes/no), genders (a list)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError("attributes must be an object")
    unknown = set(value) - set(BOOLEAN_ATTRIBUTES) - {"genders"}
    if unknown:
        raise ValueError(f"unknown attributes: {', '.join(sorted(unknown))}")
    result: dict[str, Any] = {}
    for name in BOOLEAN_ATTRIBUTES:
        flag = _boolean(value.get(name))
        if flag is not None:
            result[name] = flag
    genders = value.get("genders")
    if isinstance(genders, str):
        genders = [g for g in re.split(r"[;,、\s]+", genders) if g]
    if genders:
        if not isinstance(genders, list) or not all(isinstance(g, str) for g in genders) \
                or not set(genders) <= set(GENDER_FACILITIES):
            raise ValueError(f"genders must be among {', '.join(GENDER_FACILITIES)}")
        result["genders"] = [g for g in GENDER_FACILITIES if g in genders]
    return result


FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _text(128, required=True),
    "address": _text(255),
    "district": _text(32),
    "opening_hours": _opening_hours,
    "status": _status,
    "attributes": _attributes,
}
