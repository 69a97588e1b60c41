"""Coordinates: WGS-84 <-> GCJ-02 ("Mars coordinates") and great-circle distance.

Everything is stored as WGS-84; the mini-program's maps speak GCJ-02, so conversion happens at
the edges. Arguments are always ``(lat, lng)`` in degrees.

The API's one convention (README, "Coordinates"): every endpoint that takes coordinates takes ``coord_type``
(``core.schemas.coord_type_field``), GCJ-02 unless it says otherwise; points answered carry their datum.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), used for every great-circle distance
COORD_TYPES = ("wgs84", "gcj02")
# What wx.getLocation({type: 'gcj02'}), wx.chooseLocation and the map component give.
DEFAULT_COORD_TYPE = "gcj02"
# Decimal places of a point answered in degrees: about a centimetre.
_ANSWER_DECIMALS = 7

# GCJ-02 works on the Krasovsky 1940 ellipsoid.
_KRASOVSKY_A = 6_378_245.0
_KRASOVSKY_EE = 0.00669342162296594323
# One millimetre, in degrees of latitude: the inverse transform iterates until the forward image
# is this close on each axis, which keeps the answer well under a centimetre from the true point.
_INVERSE_TOLERANCE_DEG = 0.001 / (math.pi * EARTH_RADIUS_M / 180.0)
_INVERSE_MAX_ITERATIONS = 30
# The rough box inside which GCJ-02 differs from WGS-84: south, west, north, east.
_CHINA_BOX = (0.8293, 72.004, 55.8271, 137.8347)
# Bounds of the offset (GCJ-02 minus WGS-84) over that box, measured and rounded up: it is never more than
# 0.0105 degrees on an axis, and changes by under 0.0066 degrees per degree moved along an axis (so under 0.0132
# moving along both at once).
_MAX_OFFSET_DEG = 0.012
_OFFSET_SLOPE_BOUND = 0.02
# Points converted along each edge of a GCJ-02 box (see gcj02_box_to_wgs84).
_BOX_EDGE_STEPS = 32
# Floating-point slack of bounding_box, in degrees (about 0.1 mm).
_BOX_SLACK_DEG = 1e-9


def in_mainland_china(lat: float, lng: float) -> bool:
    """The rough box inside which GCJ-02 differs from WGS-84."""
    south, west, north, east = _CHINA_BOX
    return west <= lng <= east and south <= lat <= north


def _lat_offset(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _lng_offset(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if not in_mainland_china(lat, lng):
        return lat, lng
    x, y = lng - 105.0, lat - 35.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (_lat_offset(x, y) * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (_lng_offset(x, y) * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The WGS-84 point whose GCJ-02 image is within a centimetre of (lat, lng)."""
    if not in_mainland_china(lat, lng):
        return lat, lng
    wgs_lat, wgs_lng = lat, lng
    for _ in range(_INVERSE_MAX_ITERATIONS):
        gcj_lat, gcj_lng = wgs84_to_gcj02(wgs_lat, wgs_lng)
        err_lat, err_lng = gcj_lat - lat, gcj_lng - lng
        if abs(err_lat) < _INVERSE_TOLERANCE_DEG and abs(err_lng) < _INVERSE_TOLERANCE_DEG:
            break
        wgs_lat -= err_lat
        wgs_lng -= err_lng
    return wgs_lat, wgs_lng


def _as_is(lat: float, lng: float) -> tuple[float, float]:
    return lat, lng


_TO_WGS84 = {"wgs84": _as_is, "gcj02": gcj02_to_wgs84}
_FROM_WGS84 = {"wgs84": _as_is, "gcj02": wgs84_to_gcj02}


def to_wgs84(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    """A point given in ``coord_type`` ("wgs84" or "gcj02") as WGS-84."""
    if coord_type not in _TO_WGS84:
        raise _unknown_coord_type(coord_type)
    return _TO_WGS84[coord_type](lat, lng)


def from_wgs84(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    """A stored (WGS-84) point in ``coord_type``."""
    if coord_type not in _FROM_WGS84:
        raise _unknown_coord_type(coord_type)
    return _FROM_WGS84[coord_type](lat, lng)


def in_both_datums(lat: float, lng: float) -> dict[str, dict[str, float]]:
    """A stored (WGS-84) point as answers give it: ``{"wgs84": {lat, lng}, "gcj02": {lat, lng}}``."""
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    return {"wgs84": {"lat": lat, "lng": lng},
            "gcj02": {"lat": round(gcj_lat, _ANSWER_DECIMALS), "lng": round(gcj_lng, _ANSWER_DECIMALS)}}


def _unknown_coord_type(coord_type: str) -> ValueError:
    return ValueError(f"unknown coordinate type {coord_type!r}; expected one of {', '.join(COORD_TYPES)}")


def gcj02_box_to_wgs84(south: float, west: float, north: float, east: float) -> tuple[float, float, float, float]:
    """The WGS-84 box (south, west, north, east) holding every point of a GCJ-02 box (a map window).

    Converting two corners loses part of the window: the offset differs from place to place, so another corner,
    or a point inside an edge, lies further out than they do (tens of metres across a city). The converted window's
    extremes lie on its converted edges: each edge is converted at _BOX_EDGE_STEPS points, and the box widened by
    the most the offset can change between two of them. So the box may hold a few metres more than the window,
    never less.
    """
    if not (in_mainland_china(south, west) and in_mainland_china(north, east)):
        china_south, china_west, china_north, china_east = _CHINA_BOX
        overlaps = south <= china_north and north >= china_south and west <= china_east and east >= china_west
        # Partly shifted, partly where GCJ-02 is WGS-84: widened by the largest shift there is. Wholly outside: as is.
        margin = _MAX_OFFSET_DEG if overlaps else 0.0
        return south - margin, west - margin, north + margin, east + margin
    lat_step, lng_step = (north - south) / _BOX_EDGE_STEPS, (east - west) / _BOX_EDGE_STEPS
    edges = [point for step in range(_BOX_EDGE_STEPS) for point in (
        (south, west + step * lng_step), (south + step * lat_step, east),
        (north, east - step * lng_step), (north - step * lat_step, west))]
    converted = [gcj02_to_wgs84(lat, lng) for lat, lng in edges]
    margin = _OFFSET_SLOPE_BOUND * max(lat_step, lng_step)
    lats, lngs = [lat for lat, _ in converted], [lng for _, lng in converted]
    return min(lats) - margin, min(lngs) - margin, max(lats) + margin, max(lngs) + margin


def box_to_wgs84(south: float, west: float, north: float, east: float,
                 coord_type: str) -> tuple[float, float, float, float]:
    """A box given in ``coord_type`` as the WGS-84 box (south, west, north, east) holding all of it."""
    if coord_type == "wgs84":
        return south, west, north, east
    if coord_type == "gcj02":
        return gcj02_box_to_wgs84(south, west, north, east)
    raise _unknown_coord_type(coord_type)


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(south, west, north, east): a box holding every point within ``radius_m`` of the point, as haversine_m
    measures it, for an index to narrow a search before measuring. Its sides are in this module's metres (the
    mean radius): a rounder figure of metres per degree makes the box smaller than the circle."""
    angle = radius_m / EARTH_RADIUS_M
    d_lat = math.degrees(angle) + _BOX_SLACK_DEG
    phi = math.radians(lat)
    if abs(phi) + angle >= math.pi / 2:  # the circle reaches a pole: every longitude
        return max(lat - d_lat, -90.0), -180.0, min(lat + d_lat, 90.0), 180.0
    d_lng = math.degrees(math.asin(math.sin(angle) / math.cos(phi))) + _BOX_SLACK_DEG
    return lat - d_lat, lng - d_lng, lat + d_lat, lng + d_lng


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_d_phi = (phi2 - phi1) * 0.5
    half_d_lambda = math.radians(lng2 - lng1) * 0.5
    h = math.sin(half_d_phi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_d_lambda) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def point_in_polygon(lat: float, lng: float, polygon: list[tuple[float, float]]) -> bool:
    """Ray casting over (lat, lng) vertices; fine for a city-sized polygon."""
    inside = False
    j = len(polygon) - 1
    for i, (lat_i, lng_i) in enumerate(polygon):
        lat_j, lng_j = polygon[j]
        if (lat_i > lat) != (lat_j > lat) and lng < (lng_j - lng_i) * (lat - lat_i) / (lat_j - lat_i) + lng_i:
            inside = not inside
        j = i
    return inside
