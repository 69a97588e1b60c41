"""Coordinates: WGS-84 is stored; GCJ-02 ("Mars coordinates", used by Chinese maps) is converted at the edges."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
# Krasovsky 1940 ellipsoid, as the GCJ-02 obfuscation uses (6378137.0 here would be wrong).
_KRASOVSKY_A = 6_378_245.0
_KRASOVSKY_EE = 0.00669342162296594323


def in_mainland_china(lat: float, lng: float) -> bool:
    """The rough box inside which GCJ-02 differs from WGS-84."""
    return 72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271


def _offsets(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    d_lng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
             + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if not in_mainland_china(lat, lng):
        return lat, lng
    d_lat, d_lng = _offsets(lat, lng)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The inverse has no closed form: iterate the forward transform until within a centimetre."""
    if not in_mainland_china(lat, lng):
        return lat, lng
    wgs_lat, wgs_lng = lat, lng
    for _ in range(30):
        gcj_lat, gcj_lng = wgs84_to_gcj02(wgs_lat, wgs_lng)
        error_lat, error_lng = gcj_lat - lat, gcj_lng - lng
        wgs_lat -= error_lat
        wgs_lng -= error_lng
        if abs(error_lat) < 1e-9 and abs(error_lng) < 1e-9:
            break
    return wgs_lat, wgs_lng


def to_wgs84(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    if coord_type == "wgs84":
        return lat, lng
    if coord_type == "gcj02":
        return gcj02_to_wgs84(lat, lng)
    raise ValueError(f"unknown coordinate type {coord_type!r}")


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


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
