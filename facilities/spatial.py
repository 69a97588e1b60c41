"""The grid behind the nearest query: Z-order cells and an exact ring search.

Every facility stores ``cell``, the Z-order (Morton) code of its point on a 2^24 x 2^24 grid
over [-180, 180) degrees on both axes (about 2.4 m per cell). An aligned cell of any coarser
level L is then ONE contiguous range of codes, so a block of cells around a point is a few
index range scans on an ordinary B-tree (SQLite and PostgreSQL alike).

The search picks a level whose cells suit the local density of what is searched, fetches
the 3x3 block of cells around the point, then the 3x3 blocks of ever coarser levels. It stops as soon as the
k-th best great-circle distance is below a proven lower bound of the distance to anything
outside the searched block, so its answer is exactly the brute-force answer. (The grid does
not wrap at the antimeridian: a search within its radius of longitude ±180° is not supported.)
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable

from core.geo import EARTH_RADIUS_M, haversine_m

MAX_LEVEL = 24
GRID_SIZE = 1 << MAX_LEVEL
CELL_DEGREES = 360.0 / GRID_SIZE
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0
# The level of the coarse cells whose facility counts estimate the local density (about 4.9 km north-south).
DENSITY_LEVEL = 13
# The first block is sized so that the disc its proof covers can be expected to hold this many times the
# wanted number of points (see nearest()): few rows, yet rarely a second round.
FIRST_BLOCK_EXPECTED = 3.0
# Cells no smaller than this (metres): below it, index descents cost more than rows.
MIN_CELL_M = 60.0
# Floating-point slack for the proofs below, in metres and degrees.
_SLACK_M = 1e-6
_SLACK_DEG = 1e-9


def _spread(v: int) -> int:
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def grid_xy(lat: float, lng: float) -> tuple[int, int]:
    x = int((lng + 180.0) / CELL_DEGREES)
    y = int((lat + 180.0) / CELL_DEGREES)
    return min(max(x, 0), GRID_SIZE - 1), min(max(y, 0), GRID_SIZE - 1)


def cell_of(lat: float, lng: float) -> int:
    """The finest-level Z-order code of a WGS-84 point (stored in ``facilities.cell``)."""
    x, y = grid_xy(lat, lng)
    return _spread(x) | (_spread(y) << 1)


def cell_range(level: int, cx: int, cy: int) -> tuple[int, int]:
    """The half-open range of finest codes inside cell (cx, cy) of ``level``."""
    shift = 2 * (MAX_LEVEL - level)
    start = cell_code(level, cx, cy) << shift
    return start, start + (1 << shift)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def cell_code(level: int, cx: int, cy: int) -> int:
    """The Z-order code of cell (cx, cy) of ``level``: a finest code divided by 4^(MAX_LEVEL - level)."""
    return _spread(cx) | (_spread(cy) << 1)


def density_neighbourhood(lat: float, lng: float) -> list[int]:
    """The codes of the 3x3 cells of DENSITY_LEVEL around the point (inside the grid)."""
    x, y = grid_xy(lat, lng)
    shift = MAX_LEVEL - DENSITY_LEVEL
    cx, cy = x >> shift, y >> shift
    return [cell_code(DENSITY_LEVEL, *cell) for ring in (0, 1) for cell in _ring_cells(DENSITY_LEVEL, cx, cy, ring)]


def cell_area_m2(level: int, lat: float) -> float:
    return cell_side_m(level) ** 2 * max(math.cos(math.radians(lat)), 1e-6)


def cell_side_m(level: int) -> float:
    """A cell's north-south side in metres (its east-west side is this times cos(lat))."""
    return 360.0 / (1 << level) * METRES_PER_DEGREE


def level_for(cell_m: float, lat: float) -> int:
    """The finest level whose cells are at least ``cell_m`` wide at latitude ``lat``."""
    shrink = max(math.cos(math.radians(lat)), 1e-6)
    level = MAX_LEVEL
    while level > 0 and cell_side_m(level) * shrink < cell_m:
        level -= 1
    return level


@dataclasses.dataclass(frozen=True)
class SearchBox:
    """Latitude/longitude bounds that contain every point within ``radius_m`` of the centre."""

    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float

    @classmethod
    def around(cls, lat: float, lng: float, radius_m: float) -> SearchBox:
        angle = radius_m / EARTH_RADIUS_M
        d_lat = math.degrees(angle) + _SLACK_DEG
        phi = math.radians(lat)
        if abs(phi) + angle >= math.pi / 2:  # the circle reaches a pole: every longitude
            return cls(max(lat - d_lat, -90.0), min(lat + d_lat, 90.0), -180.0, 180.0)
        d_lng = math.degrees(math.asin(math.sin(angle) / math.cos(phi))) + _SLACK_DEG
        return cls(lat - d_lat, lat + d_lat, lng - d_lng, lng + d_lng)


def _distance_outside_m(lat: float, lng: float, level: int, cx: int, cy: int, rings: int) -> float:
    """A lower bound of the great-circle distance from the point to anything outside the block.

    The block is cells cx±rings, cy±rings of ``level``. A point beyond a parallel is at least
    the latitude difference away (along the meridian); a point beyond a meridian is at least
    the distance to that meridian's great circle away, asin(sin(dlng) cos(lat)).
    """
    side = 360.0 / (1 << level)
    south = (cy - rings) * side - 180.0
    north = (cy + rings + 1) * side - 180.0
    west = (cx - rings) * side - 180.0
    east = (cx + rings + 1) * side - 180.0
    bounds = []
    bounds.append((lat - south) * METRES_PER_DEGREE if south > -90.0 else math.inf)
    bounds.append((north - lat) * METRES_PER_DEGREE if north < 90.0 else math.inf)
    cos_lat = math.cos(math.radians(lat))
    for d_lng in (lng - west, east - lng):
        if west <= -180.0 and east >= 180.0:
            bounds.append(math.inf)
        elif d_lng >= 90.0:
            # Beyond a quarter turn the meridian bound no longer holds; only the parallels count.
            bounds.append(min(bounds[0], bounds[1]))
        else:
            bounds.append(EARTH_RADIUS_M * math.asin(math.sin(math.radians(d_lng)) * cos_lat))
    return max(0.0, min(bounds) - _SLACK_M)


def _ring_cells(level: int, cx: int, cy: int, ring: int) -> list[tuple[int, int]]:
    """The cells of ``level`` at Chebyshev distance ``ring`` from (cx, cy), inside the grid."""
    limit = (1 << level) - 1
    if ring == 0:
        cells = [(cx, cy)]
    else:
        cells = [(cx + dx, cy + dy) for dx in range(-ring, ring + 1) for dy in (-ring, ring)]
        cells += [(cx + dx, cy + dy) for dx in (-ring, ring) for dy in range(-ring + 1, ring)]
    return [(x, y) for x, y in cells if 0 <= x <= limit and 0 <= y <= limit]


Candidate = tuple[int, float, float, object]  # id, lat, lng, extra (e.g. opening hours, or the whole row)
# fetch(ranges, box, keep): the points in the ranges and the box, or at least every one of them that
# can be among their ``keep`` nearest to the query point (ties included).
Fetch = Callable[[list[tuple[int, int]], SearchBox, int], Iterable[Candidate]]


@dataclasses.dataclass(frozen=True)
class Hit:
    id: int
    distance_m: float
    lat: float
    lng: float
    extra: object = dataclasses.field(default=None, compare=False, repr=False)


def subtract_ranges(ranges: list[tuple[int, int]], done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged ``ranges`` minus the merged ``done`` (both sorted, half-open)."""
    result: list[tuple[int, int]] = []
    for start, end in ranges:
        for done_start, done_end in done:
            if done_end <= start or done_start >= end:
                continue
            if done_start > start:
                result.append((start, done_start))
            start = max(start, done_end)
            if start >= end:
                break
        if start < end:
            result.append((start, end))
    return result


def nearest(lat: float, lng: float, *, limit: int, radius_m: float, density_per_m2: float, fetch: Fetch,
            accept: Callable[[object], bool] | None = None) -> tuple[list[Hit], int]:
    """The ``limit`` nearest points within ``radius_m``, nearest first (ties by id).

    ``fetch(ranges, box, keep)`` returns the points whose cell is in one of the half-open ``ranges``
    and which lie inside ``box`` (or only those that can be among their ``keep`` nearest: the
    nearest ``limit`` of disjoint parts contain the nearest ``limit`` of the whole);
    ``accept(extra)`` filters them further (e.g. open now), and then ``fetch`` must return them all.
    Returns the hits and the number of fetch rounds.

    The first block's cells are at least ``wanted`` wide, so that everything within ``wanted`` of the point
    is inside it, where ``density_per_m2`` (the local density) puts FIRST_BLOCK_EXPECTED x ``limit`` points;
    while it cannot prove the answer, the next round fetches the 3x3 block of the next coarser level minus
    what was already fetched.
    """
    wanted = ((FIRST_BLOCK_EXPECTED * limit / (math.pi * density_per_m2)) ** 0.5 if density_per_m2 > 0
              else radius_m)
    level = level_for(min(max(wanted, MIN_CELL_M), radius_m), lat)
    box = SearchBox.around(lat, lng, radius_m)
    best: list[tuple[float, int, Hit]] = []  # a max-heap by (distance, id), negated
    done: list[tuple[int, int]] = []
    x, y = grid_xy(lat, lng)
    rounds = 0
    while True:
        shift = MAX_LEVEL - level
        cx, cy = x >> shift, y >> shift
        block = merge_ranges(cell_range(level, *cell) for ring in (0, 1) for cell in _ring_cells(level, cx, cy, ring))
        ranges = subtract_ranges(block, done)
        if ranges:
            rounds += 1
            done = merge_ranges(done + ranges)
            for point_id, p_lat, p_lng, extra in fetch(ranges, box, limit):
                if accept is not None and not accept(extra):
                    continue
                distance = haversine_m(lat, lng, p_lat, p_lng)
                if distance > radius_m:
                    continue
                item = (-distance, -point_id, Hit(point_id, distance, p_lat, p_lng, extra))
                if len(best) < limit:
                    heapq.heappush(best, item)
                elif (distance, point_id) < (-best[0][0], -best[0][1]):
                    heapq.heapreplace(best, item)
        outside = _distance_outside_m(lat, lng, level, cx, cy, 1)
        if outside >= radius_m or (len(best) == limit and -best[0][0] < outside) or level == 0:
            hits = sorted((item[2] for item in best), key=lambda hit: (hit.distance_m, hit.id))
            return hits, rounds
        level -= 1
