"""The public reports map (FixMyStreet's "all reports"): reports in a map window by status, category and time, as
counts per grid cell when zoomed out and as the reports themselves, newest first and paged, when zoomed in.

The grid is fixed to the globe: at level ``k`` a cell is ``360 / 2**k`` degrees (WGS-84) on each side, counted
from (-90, -180), so that a cell at level ``k`` is the union of four at ``k + 1`` and a window moved a little still
meets the same cells (and the same cached answer). Counts by status come from ``report_map_cells`` (kept by
triggers at three levels); filtered by category or time they are counted from the reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from citizen.facts import ACCEPTED, CLOSED, FORWARDED, IN_PROGRESS, RESOLVED
from citizen.models import Report, ReportMapCell
from core.cache import Cache
from core.db import db

# What the public map shows: reports a moderator accepted, whatever became of them since.
PUBLIC_STATUSES = (ACCEPTED, FORWARDED, IN_PROGRESS, RESOLVED, CLOSED)
FINEST_CLUSTER_LEVEL = max(ReportMapCell.LEVELS)
# From this level on (a window of about 2 km, the mini-program's scale 16) the map shows the reports themselves.
REPORTS_FROM_LEVEL = 18
# A window chooses the level at which it is at most this many cells across.
CELLS_ACROSS = 16


@dataclasses.dataclass(frozen=True)
class MapWindow:
    """A WGS-84 window (south < north, west < east) and the filters of a public map request."""

    south: float
    west: float
    north: float
    east: float
    statuses: tuple[str, ...] = PUBLIC_STATUSES
    category_ids: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The reports in one grid cell: how many, their mean position, and the cell's WGS-84 bounds."""

    count: int
    lat: float
    lng: float
    south: float
    west: float
    north: float
    east: float


def grid_level(window: MapWindow, zoom: int | None) -> int:
    """The grid level of a window: the map's zoom (scale) + 2, cells of about 64 screen pixels; without a zoom,
    the finest level at which the window is at most CELLS_ACROSS cells across. Clusters are at most
    FINEST_CLUSTER_LEVEL."""
    if zoom is not None:
        level = zoom + 2
    else:
        span = max(window.north - window.south, window.east - window.west)
        level = max(1, math.floor(math.log2(360 * CELLS_ACROSS / span)))
    # Between the finest clusters and the reports, clusters of the finest level.
    return level if shows_reports(level) else min(level, FINEST_CLUSTER_LEVEL)


def shows_reports(level: int) -> bool:
    return level >= REPORTS_FROM_LEVEL


def cached_map_answer(cache: Cache, window: MapWindow, level: int, *, page: tuple[str | None, int],
                      shown_as: tuple[str, str], cache_seconds: int, link_seconds: int,
                      render: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The public map's answer (``render``'s bytes) for a window and whether it came from the cache.

    Clusters cover whole cells, so windows meeting the same cells share an answer; reports are paged by ``page``
    (cursor, limit). ``shown_as`` (coordinate type, link origin) is part of the answer's text. An answer holds signed
    photo links, so it is kept at most half their lifetime: a hit never hands out a link about to expire."""
    where = ((window.south, window.west, window.north, window.east, *page) if shows_reports(level)
             else cell_range(window, level))
    key = hashlib.sha256(json.dumps([level, where, *shown_as, window.statuses, window.category_ids,
                                     str(window.since), str(window.until)]).encode()).hexdigest()
    body = cache.get(f"public-reports:{key}")
    if body is not None:
        return body, True
    body = render()
    ttl = min(cache_seconds, link_seconds // 2)
    if ttl > 0:
        cache.set(f"public-reports:{key}", body, ttl)
    return body, False


def cell_degrees(level: int) -> float:
    return 360 / 2 ** level


def cell_range(window: MapWindow, level: int) -> tuple[int, int, int, int]:
    """The rows and columns (first and last of each) of the cells that meet the window at ``level`` (at most the
    finest cluster level)."""
    size = cell_degrees(min(level, FINEST_CLUSTER_LEVEL))
    return (math.floor((window.south + 90) / size), math.floor((window.north + 90) / size),
            math.floor((window.west + 180) / size), math.floor((window.east + 180) / size))


def clusters(window: MapWindow, level: int) -> list[Cluster]:
    """Counts of the window's reports per cell at ``level`` (at most the finest cluster level), over whole cells:
    every cell meeting the window counts all of its reports. Cells without any are left out."""
    level = min(level, FINEST_CLUSTER_LEVEL)
    first_y, last_y, first_x, last_x = cell_range(window, level)
    if window.category_ids or window.since or window.until:
        rows = _counted_from_reports(window, level, (first_y, last_y, first_x, last_x))
    else:
        rows = _counted_from_map_cells(window.statuses, level, (first_y, last_y, first_x, last_x))
    size = cell_degrees(level)
    # PostgreSQL sums a bigint as a numeric and floors to a double: plain numbers from here.
    cells = sorted((int(y), int(x), int(count), float(lat_sum), float(lng_sum))
                   for y, x, count, lat_sum, lng_sum in rows)
    return [Cluster(count=count, lat=lat_sum / count, lng=lng_sum / count, south=y * size - 90,
                    west=x * size - 180, north=(y + 1) * size - 90, east=(x + 1) * size - 180)
            for y, x, count, lat_sum, lng_sum in cells
            if count > 0 and first_y <= y <= last_y and first_x <= x <= last_x]


def _counted_from_map_cells(statuses: tuple[str, ...], level: int,
                            cells: tuple[int, int, int, int]) -> list[tuple[int, int, int, float, float]]:
    # The coarsest grid kept that is at least as fine: its cells add up to the level's.
    kept = min(kept for kept in ReportMapCell.LEVELS if kept >= level)
    factor = 2 ** (kept - level)
    first_y, last_y, first_x, last_x = cells
    # Integer division of non-negative integers: the coarser cell on both databases.
    y, x = ReportMapCell.cell_y.op("/")(factor), ReportMapCell.cell_x.op("/")(factor)
    query = (sa.select(y, x, sa.func.sum(ReportMapCell.total), sa.func.sum(ReportMapCell.lat_sum),
                       sa.func.sum(ReportMapCell.lng_sum))
             .where(ReportMapCell.level == kept, ReportMapCell.status.in_(statuses), ReportMapCell.total > 0,
                    ReportMapCell.cell_y.between(first_y * factor, (last_y + 1) * factor - 1),
                    ReportMapCell.cell_x.between(first_x * factor, (last_x + 1) * factor - 1))
             .group_by(y, x))
    return [tuple(row) for row in db.session.execute(query)]


def _counted_from_reports(window: MapWindow, level: int,
                          cells: tuple[int, int, int, int]) -> list[tuple[int, int, int, float, float]]:
    size = cell_degrees(level)
    first_y, last_y, first_x, last_x = cells
    whole_cells = dataclasses.replace(window, south=first_y * size - 90, north=(last_y + 1) * size - 90,
                                      west=first_x * size - 180, east=(last_x + 1) * size - 180)
    y, x = _floor((Report.lat + 90) / size), _floor((Report.lng + 180) / size)
    query = (sa.select(y, x, sa.func.count(), sa.func.sum(Report.lat), sa.func.sum(Report.lng))
             .where(*_conditions(whole_cells)).group_by(y, x))
    return [tuple(row) for row in db.session.execute(query)]


def _floor(value: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    # Positions here are offset to be positive: SQLite's truncating cast floors them (its floor() is optional).
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.cast(value, sa.Integer)
    return sa.func.floor(value)


def _conditions(window: MapWindow) -> list[sa.ColumnElement[bool]]:
    conditions = [Report.status.in_(window.statuses), Report.lat.between(window.south, window.north),
                  Report.lng.between(window.west, window.east)]
    if window.category_ids:
        conditions.append(Report.category_id.in_(window.category_ids))
    if window.since is not None:
        conditions.append(Report.created_at >= window.since)
    if window.until is not None:
        conditions.append(Report.created_at < window.until)
    return conditions


def reports_in_window(window: MapWindow, *, before_id: int | None, limit: int) -> list[Report]:
    """The window's reports, newest first (by id; the cursor is the last id seen), with their photos."""
    # The page's ids first, from the index alone (ix_reports_map_window), then only those reports.
    ids = sa.select(Report.id).where(*_conditions(window))
    if before_id is not None:
        ids = ids.where(Report.id < before_id)
    page = list(db.session.scalars(ids.order_by(Report.id.desc()).limit(limit)))
    query = sa.select(Report).where(Report.id.in_(page)).options(selectinload(Report.media))
    return list(db.session.scalars(query.order_by(Report.id.desc())))


def rebuild_map_cells() -> int:
    """Count ``report_map_cells`` again from the reports (after a bulk load that bypassed the triggers); how many
    rows it has now."""
    db.session.execute(sa.delete(ReportMapCell))
    for level in ReportMapCell.LEVELS:
        y, x = _floor((Report.lat + 90) / cell_degrees(level)), _floor((Report.lng + 180) / cell_degrees(level))
        counted = (sa.select(sa.literal(level), Report.status, y, x, sa.func.count(), sa.func.sum(Report.lat),
                             sa.func.sum(Report.lng)).group_by(Report.status, y, x))
        db.session.execute(sa.insert(ReportMapCell).from_select(
            ["level", "status", "cell_y", "cell_x", "total", "lat_sum", "lng_sum"], counted))
    db.session.flush()
    return db.session.scalar(sa.select(sa.func.count()).select_from(ReportMapCell))


def lock_map_cells(reports: Iterable[Report]) -> None:
    """Take the map cell rows that deleting these reports changes, in the order a status change's trigger takes
    them (migration 0024: level, status, cell) and before the status counts' rows, as the triggers do: deleting
    reports one by one would take them in id order and deadlock with a status change."""
    keys = sorted({(level, report.status, math.floor((report.lat + 90) / cell_degrees(level)),
                    math.floor((report.lng + 180) / cell_degrees(level)))
                   for report in reports for level in ReportMapCell.LEVELS})
    if keys:
        db.session.execute(sa.select(ReportMapCell.level).where(
            sa.tuple_(ReportMapCell.level, ReportMapCell.status, ReportMapCell.cell_y, ReportMapCell.cell_x).in_(keys))
            .order_by(ReportMapCell.level, ReportMapCell.status, ReportMapCell.cell_y, ReportMapCell.cell_x)
            .with_for_update())
