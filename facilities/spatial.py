"""The grid behind the nearest query: Z-order cells and an exact block search.

Every facility stores ``cell``, the Z-order (Morton) code of its point on a 2^24 x 2^24 grid
over [-180, 180) degrees on both axes (about 2.4 m per cell). An aligned cell of any coarser
level L is then ONE contiguous range of codes, so a block of cells around a point is a few
index range scans on an ordinary B-tree (SQLite and PostgreSQL alike).

The search picks a level whose cells suit the local density of what is searched (counts per coarse
cell), fetches the points of the 2x2 block of cells around the point that lie within the proven lower
bound of the distance to anything outside the block, and stops as soon as the k-th best great-circle
distance is below that bound; otherwise it tries the block of the next coarser level. So its answer is
exactly the brute-force answer. (The grid does not wrap at the antimeridian: a search within its
radius of longitude ±180° is not supported.)
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable

from core.geo import EARTH_RADIUS_M, bounding_box, haversine_m

MAX_LEVEL = 24
GRID_SIZE = 1 << MAX_LEVEL
CELL_DEGREES = 360.0 / GRID_SIZE
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0
# The level of the coarse cells whose facility counts estimate the local density (about 4.9 km north-south).
DENSITY_LEVEL = 13
# The first round reaches as far as the local density puts this many times the wanted number of points (see
# nearest()): few rows, and about one search in ten needs a second round (which costs a round trip).
FIRST_BLOCK_EXPECTED = 3.0
# Cells no smaller than this (metres): below it, index descents cost more than rows.
MIN_CELL_M = 60.0
# Floating-point slack for the proofs below, in metres.
_SLACK_M = 1e-6


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


def _compact(v: int) -> int:
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def cell_xy(code: int) -> tuple[int, int]:
    """The inverse of cell_code: (cx, cy) of a cell's Z-order code (at any level)."""
    return _compact(code), _compact(code >> 1)


def density_cell(lat: float, lng: float) -> tuple[int, int]:
    """(cx, cy) of the cell of DENSITY_LEVEL holding the point."""
    x, y = grid_xy(lat, lng)
    shift = MAX_LEVEL - DENSITY_LEVEL
    return x >> shift, y >> shift


def cell_area_m2(level: int, lat: float) -> float:
    return cell_side_m(level) ** 2 * max(math.cos(math.radians(lat)), 1e-6)


def cell_side_m(level: int) -> float:
    """A cell's north-south side in metres (its east-west side is this times cos(lat))."""
    return 360.0 / (1 << level) * METRES_PER_DEGREE


def level_for(cell_m: float, lat: float) -> int:
    """The finest level whose cells are at least ``cell_m`` wide at latitude ``lat``."""
    shrink = max(math.cos(math.radians(lat)), 1e-6)
    # log2 gives the level at once; the loop only corrects its rounding.
    level = min(MAX_LEVEL, max(0, int(math.log2(cell_side_m(0) * shrink / cell_m)))) if cell_m > 0 else MAX_LEVEL
    while level > 0 and cell_side_m(level) * shrink < cell_m:
        level -= 1
    while level < MAX_LEVEL and cell_side_m(level + 1) * shrink >= cell_m:
        level += 1
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
        south, west, north, east = bounding_box(lat, lng, radius_m)
        return cls(south, north, west, east)


def _distance_outside_m(lat: float, lng: float, level: int, west_cx: int, south_cy: int, cells: int) -> float:
    """A lower bound of the great-circle distance from the point to anything outside a block of cells.

    The block is the ``cells`` x ``cells`` cells of ``level`` from (west_cx, south_cy) eastwards and
    northwards. A point beyond a parallel is at least the latitude difference away (along the meridian); a
    point beyond a meridian is at least the distance to that meridian's great circle away,
    asin(sin(dlng) cos(lat)).
    """
    side = 360.0 / (1 << level)
    south = south_cy * side - 180.0
    north = (south_cy + cells) * side - 180.0
    west = west_cx * side - 180.0
    east = (west_cx + cells) * side - 180.0
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


def _block_corner(level: int, x: int, y: int) -> tuple[int, int]:
    """The south-west cell of the 2x2 block of ``level`` around the finest cell (x, y): the cell holding it and
    its neighbours towards the nearer sides, so that the point is at least half a cell from the block's edges."""
    shift = MAX_LEVEL - level
    cx, cy = x >> shift, y >> shift
    half = (1 << shift) >> 1
    inside = (1 << shift) - 1
    return cx - ((x & inside) < half), cy - ((y & inside) < half)


BLOCK_RANGES = 4  # a 2x2 block is at most this many ranges of codes


def block_ranges(level: int, west_cx: int, south_cy: int) -> list[tuple[int, int]]:
    """The merged code ranges of the 2x2 block of ``level`` from (west_cx, south_cy), inside the grid."""
    limit = (1 << level) - 1
    shift = 2 * (MAX_LEVEL - level)
    # cell_range of each cell, with each coordinate spread once (this runs every round of every search).
    xs = [_spread(cx) for cx in (west_cx, west_cx + 1) if 0 <= cx <= limit]
    ys = [_spread(cy) << 1 for cy in (south_cy, south_cy + 1) if 0 <= cy <= limit]
    return merge_ranges(((x | y) << shift, ((x | y) + 1) << shift) for x in xs for y in ys)


Candidate = tuple[int, float, float, object]  # id, lat, lng, extra (e.g. opening hours, or the whole row)
# fetch(ranges, box, keep): the points in the ranges and the box, or at least every one of them that
# can be among their ``keep`` nearest to the query point (ties included).
Fetch = Callable[[list[tuple[int, int]], SearchBox, int], Iterable[Candidate]]


@dataclasses.dataclass(slots=True)
class Hit:
    id: int
    distance_m: float
    lat: float
    lng: float
    extra: object = dataclasses.field(default=None, compare=False, repr=False)


def nearest(lat: float, lng: float, *, limit: int, radius_m: float, density_per_m2: float, fetch: Fetch,
            accept: Callable[[object], bool] | None = None) -> tuple[list[Hit], int]:
    """The ``limit`` nearest points within ``radius_m``, nearest first (ties by id).

    Each round fetches, from a 2x2 block of cells around the point (at most four index range scans), only the
    points within ``reach`` of it: the lesser of the round's goal and the proven distance to anything outside
    the block. If the ``limit``-th nearest of those is nearer than ``reach``, or ``reach`` is the radius, they
    are the answer. Otherwise the next round starts afresh with twice the goal (and the block of the next
    coarser level when the goal outgrew the block).

    ``fetch(ranges, box, keep)`` returns the points whose cell is in one of the half-open ``ranges``
    and which lie inside ``box`` (or only those that can be among their ``keep`` nearest to the point);
    ``accept(extra)`` filters them further (e.g. open now), and then ``fetch`` must return them all.
    Returns the hits and the number of fetch rounds.

    The first goal is the distance within which ``density_per_m2`` (the local density) puts
    FIRST_BLOCK_EXPECTED x ``limit`` points; the first block's cells are at least twice that wide.
    """
    wanted = ((FIRST_BLOCK_EXPECTED * limit / (math.pi * density_per_m2)) ** 0.5 if density_per_m2 > 0
              else radius_m)
    goal = min(max(wanted, MIN_CELL_M), radius_m)
    level = level_for(2 * goal, lat)
    x, y = grid_xy(lat, lng)
    rounds = 0
    while True:
        west_cx, south_cy = _block_corner(level, x, y)
        outside = _distance_outside_m(lat, lng, level, west_cx, south_cy, 2)
        reach = min(outside, goal)
        rounds += 1
        best: list[tuple[float, int, float, float, object]] = []  # a max-heap by (distance, id), negated
        for point_id, p_lat, p_lng, extra in fetch(block_ranges(level, west_cx, south_cy),
                                                   SearchBox.around(lat, lng, reach), limit):
            if accept is not None and not accept(extra):
                continue
            distance = haversine_m(lat, lng, p_lat, p_lng)
            if distance > reach:
                continue
            if len(best) < limit:
                heapq.heappush(best, (-distance, -point_id, p_lat, p_lng, extra))
            elif (distance, point_id) < (-best[0][0], -best[0][1]):
                heapq.heapreplace(best, (-distance, -point_id, p_lat, p_lng, extra))
        if reach >= radius_m or (len(best) == limit and -best[0][0] < reach):
            best.sort(reverse=True)
            hits = [Hit(-point_id, -distance, p_lat, p_lng, extra) for distance, point_id, p_lat, p_lng, extra in best]
            return hits, rounds
        goal = min(2 * goal, radius_m)
        if goal > outside and level > 0:
            level -= 1
