"""The nearest facilities measured the slow, obvious way: what the indexed search must agree with."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.db import db, utcnow
from core.geo import haversine_m
from facilities import services, spatial
from facilities.models import Facility


def brute_force_nearest(lat: float, lng: float, *, kind: str | None = None, limit: int = 5,
                        radius_m: float = 2_000, open_now: bool = False,
                        now: dt.datetime | None = None) -> list[spatial.Hit]:
    """The reference answer: every facility in service measured, no index."""
    at = now or utcnow()
    query = sa.select(Facility.id, Facility.lat, Facility.lng, Facility.opening_hours).where(
        Facility.status == "in_service")
    query = query.where(Facility.kind_code == kind) if kind else query.where(Facility.shown.is_(True))
    hits = [spatial.Hit(row.id, haversine_m(lat, lng, row.lat, row.lng), row.lat, row.lng)
            for row in db.session.execute(query) if not open_now or services.is_open(row.opening_hours, at)]
    hits = [hit for hit in hits if hit.distance_m <= radius_m]
    return sorted(hits, key=lambda hit: (hit.distance_m, hit.id))[:limit]
