"""Residents' lookups: the nearest facilities, and the map window with its clusters."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from core.db import db, utcnow
from core.geo import EARTH_RADIUS_M
from facilities import spatial
from facilities.models import NEAREST_PREDICATE, NEAREST_SHOWN_PREDICATE, Facility
from facilities.services.fields import is_open
from facilities.services.kinds import KindInfo, density_map, kind_snapshot

MAX_NEAREST_LIMIT = 50
MAX_RADIUS_M = 10_000
MAX_MAP_POINTS = 300
MAP_CLUSTER_GRID = 8  # about this many clusters across the map's wider side


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
                       f" + :cos_lat * cos(f.lat * {2 * _HALF_RADIAN!r})"
                       f" * power(sin((f.lng - :lng) * {_HALF_RADIAN!r}), 2)")
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


def kinds_of(codes: Iterable[str]) -> Mapping[str, KindInfo]:
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
    kinds = kinds_of(row[1] for row in rows)
    return {row[0]: ViewColumns(row, processors).view(kinds) for row in rows}


def nearest(lat: float, lng: float, **options: Any) -> list[NearestResult]:
    """The nearest facilities themselves, with their distances; options as for ``nearest_hits``."""
    hits = nearest_hits(lat, lng, **options)
    read = [hit for hit in hits if isinstance(hit.extra, ViewColumns)]
    kinds = kinds_of(hit.extra.values[1] for hit in read)  # type: ignore[union-attr]
    views = {hit.id: hit.extra.view(kinds) for hit in read}  # type: ignore[union-attr]
    views.update(facility_views([hit.id for hit in hits if hit.id not in views]))
    return [NearestResult(views[hit.id], hit.distance_m) for hit in hits if hit.id in views]


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
