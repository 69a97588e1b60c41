"""Reading reports: one (for its resident, or locked for a change), a resident's list, open ones nearby, the
Open311 server's searches, and a report's timeline as the resident reads it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from citizen.facts import PUBLICLY_OPEN
from citizen.models import Report, ReportEvent
from core.db import db, get_or_not_found
from core.errors import NotFound
from core.geo import bounding_box, haversine_m


def lock_report(report_id: int) -> Report:
    """The report as it is now, its row locked until the transaction ends: changes of one report one at a time
    (a later one waits, then goes on from the earlier one's result instead of failing on its version)."""
    # OF reports: the category is loaded joined, and its row is not ours to lock.
    return get_or_not_found(Report, report_id, "反映不存在。", with_for_update={"of": Report}, populate_existing=True)


def get_resident_report(resident_id: int, report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None or report.resident_id != resident_id:
        raise NotFound("反映不存在。")
    return report


def resident_reports(resident_id: int, *, before_id: int | None, limit: int) -> list[Report]:
    """Newest first; the cursor is the last id seen."""
    query = (sa.select(Report).where(Report.resident_id == resident_id)
             .options(selectinload(Report.media), selectinload(Report.events)))
    if before_id is not None:
        query = query.where(Report.id < before_id)
    return list(db.session.scalars(query.order_by(Report.id.desc()).limit(limit)))


def nearby_open_reports(lat: float, lng: float, *, radius_m: float, limit: int = 50) -> list[tuple[Report, float]]:
    south, west, north, east = bounding_box(lat, lng, radius_m)
    candidates = db.session.scalars(
        sa.select(Report).where(Report.status.in_(PUBLICLY_OPEN), Report.lat.between(south, north),
                                Report.lng.between(west, east)).options(selectinload(Report.media)))
    ranked = sorted(((report, haversine_m(lat, lng, report.lat, report.lng)) for report in candidates),
                    key=lambda pair: pair[1])
    return [pair for pair in ranked if pair[1] <= radius_m][:limit]


def timeline(report: Report) -> list[ReportEvent]:
    """What the resident reads of their report's timeline: status changes, what they were told, public replies;
    never officers' internal notes."""
    return [event for event in report.events if event.visibility != "internal"]


def latest_public_reply(report: Report) -> ReportEvent | None:
    return next((event for event in reversed(report.events) if event.visibility == "public"), None)


def find_reports(*, ids: list[int] | None = None, category_ids: list[str] | None = None,
                 statuses: tuple[str, ...] | None = None, since: dt.datetime | None = None,
                 until: dt.datetime | None = None, limit: int = 1000, offset: int = 0) -> list[Report]:
    """Reports matching every given filter, newest first (for the Open311 server), with their photos and timeline."""
    query = sa.select(Report).options(selectinload(Report.media), selectinload(Report.events))
    if ids is not None:
        query = query.where(Report.id.in_(ids))
    if category_ids:
        query = query.where(Report.category_id.in_(category_ids))
    if statuses is not None:
        query = query.where(Report.status.in_(statuses))
    if since is not None:
        query = query.where(Report.created_at >= since)
    if until is not None:
        query = query.where(Report.created_at < until)
    return list(db.session.scalars(query.order_by(Report.created_at.desc(), Report.id.desc()).offset(offset)
                                   .limit(limit)))


def resident_history(resident_id: int) -> dict[str, int]:
    rows = db.session.execute(sa.select(Report.status, sa.func.count()).where(Report.resident_id == resident_id)
                              .group_by(Report.status))
    return {status: count for status, count in rows}
