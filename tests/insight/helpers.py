"""Hand-built reports, forwarding records and rewards with known times, so that every figure has a known right
answer."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

from cases.models import CaseDelivery
from citizen import services as citizen_services
from citizen.models import Report, ReportEvent
from core.db import db
from rewards.models import Campaign, LedgerEntry, Reward
from tests.common.factories import ResidentFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEATS = {name: (lat, lng) for name, lat, lng in citizen_services.district_seats()}
_numbers = itertools.count()


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A Beijing-time moment, as the aware UTC value the database keeps."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def make_report(created: dt.datetime, *, district: str = "市南区", category: str = "S0102",
                status: str = "pending_review", closed_after_hours: float | None = None, rating: int | None = None,
                rated_at: dt.datetime | None = None, offset_m: float = 0.0) -> Report:
    """A report as the citizen package stores it, at the district's seat (moved ``offset_m`` north)."""
    lat, lng = SEATS[district]
    report = Report(resident_id=ResidentFactory().id, category_id=category, description="测试反映",
                    lat=lat + offset_m / 111_320, lng=lng, address="青岛市", district=district, status=status,
                    idempotency_key=uuid.uuid4().hex, request_fingerprint=f"fp{next(_numbers)}", flags=[], checks={},
                    rating=rating, rated_at=rated_at, created_at=created, updated_at=created)
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


def make_delivery(opened: dt.datetime, status: str) -> CaseDelivery:
    """A report's forwarding record as the cases package keeps it, opened when the report was accepted."""
    delivery = CaseDelivery(report_id=next(_numbers) + 1_000_000, case_system="desk", status=status, attempts=1,
                            next_attempt_at=opened, created_at=opened, updated_at=opened,
                            delivered_at=opened + dt.timedelta(minutes=1) if status == "done" else None)
    db.session.add(delivery)
    db.session.flush()
    return delivery


def make_campaign_row(name: str, starts_on: dt.date, ends_on: dt.date, budget_fen: int) -> Campaign:
    campaign = Campaign(name=name, starts_on=starts_on, ends_on=ends_on, budget_fen=budget_fen, default_amount_fen=500,
                        daily_cap_fen=10_000, monthly_cap_fen=50_000)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def make_reward(campaign: Campaign, considered: dt.datetime, *, resident_id: int, amount_fen: int = 0,
                paid_at: dt.datetime | None = None, reversed_at: dt.datetime | None = None) -> Reward:
    """A reward as the rewards package keeps it: granted on the day considered when it has an amount (else
    refused), then paid or reversed, each a ledger entry."""
    earned_on = considered.astimezone(SHANGHAI).date() if amount_fen else None
    state = "refused" if not amount_fen else "reversed" if reversed_at else "paid" if paid_at else "granted"
    reward = Reward(campaign_id=campaign.id, report_id=next(_numbers) + 1_000_000, resident_id=resident_id,
                    amount_fen=amount_fen, state=state, granted_on=earned_on, created_at=considered,
                    updated_at=considered)
    db.session.add(reward)
    db.session.flush()
    for kind, moment in (("granted", considered if amount_fen else None), ("paid", paid_at), ("reversed", reversed_at)):
        if moment is not None:
            db.session.add(LedgerEntry(occurred_at=moment, reward_id=reward.id, campaign_id=campaign.id,
                                       resident_id=resident_id, kind=kind, amount_fen=amount_fen, earned_on=earned_on,
                                       actor_name="test", dedupe_key=f"{kind}-{reward.id}"))
    db.session.flush()
    return reward
