"""Hand-built reports with known times, so that every figure has a known right answer."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

from citizen import services as citizen_services
from citizen.models import Report, ReportEvent
from core.db import db
from tests.factories import ResidentFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEATS = {name: (lat, lng) for name, lat, lng in citizen_services.district_seats()}
_numbers = itertools.count()


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A Beijing-time moment, as the aware UTC value the database keeps."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def make_report(created: dt.datetime, *, district: str = "市南区", category: str = "S0102", status: str = "pending_review",
                closed_after_hours: float | None = None, rating: int | None = None,
                rated_at: dt.datetime | None = None, offset_m: float = 0.0) -> Report:
    """A report as the citizen package stores it, at the district's seat (moved ``offset_m`` north)."""
    lat, lng = SEATS[district]
    report = Report(resident_id=ResidentFactory().id, category_id=category, description="测试反映", lat=lat + offset_m / 111_320,
                    lng=lng, address="青岛市", district=district, status=status, idempotency_key=uuid.uuid4().hex,
                    request_fingerprint=f"fp{next(_numbers)}", flags=[], checks={}, rating=rating, rated_at=rated_at,
                    created_at=created, updated_at=created)
    report.events = [ReportEvent(from_status=None, to_status="pending_review", actor_kind="resident", note="提交",
                                 occurred_at=created)]
    if closed_after_hours is not None:
        report.events.append(ReportEvent(from_status="resolved", to_status="closed", actor_kind="staff", note="结案",
                                         occurred_at=created + dt.timedelta(hours=closed_after_hours)))
    db.session.add(report)
    db.session.flush()
    return report


def seed_october() -> None:
    """The month the tests know by heart (see test_figures.py for the expected answers)."""
    make_report(local(2026, 9, 10), status="rejected")
    make_report(local(2026, 9, 30, 20), status="closed", closed_after_hours=50)
    make_report(local(2026, 10, 1, 10), status="closed", closed_after_hours=10, rating=5, rated_at=local(2026, 10, 2))
    make_report(local(2026, 10, 1, 12), status="closed", closed_after_hours=30.5, rating=4, rated_at=local(2026, 10, 3))
    make_report(local(2026, 10, 2), district="市北区", category="B0301", status="closed", closed_after_hours=80,
                rating=2, rated_at=local(2026, 10, 9))
    make_report(local(2026, 10, 3), district="市北区", status="rejected")
    make_report(local(2026, 10, 3), district="李沧区", status="duplicate")
    make_report(local(2026, 10, 5), district="李沧区")
    make_report(local(2026, 10, 5), status="accepted")
    make_report(local(2026, 10, 31, 23, 30), district="崂山区", status="in_progress")
    make_report(local(2026, 11, 1, 0, 30), district="崂山区")
    db.session.commit()
