"""What other packages may read of residents' reports: the lifecycle's statuses, the districts, figures for
statistics and the facts rewards decide on. Read-only: nothing here writes, and no other package needs more."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from citizen.models import Report, ReportEvent, ReportFollower, ReportMedia, Resident
from core.db import db, get_or_not_found, id_digests
from core.errors import NotFound
from core.geo import haversine_m

DATA_DIR = Path(__file__).resolve().parent / "data"

PENDING_REVIEW, ACCEPTED, REJECTED = "pending_review", "accepted", "rejected"
DUPLICATE, WITHDRAWN = "duplicate", "withdrawn"
FORWARDED, IN_PROGRESS, RESOLVED, CLOSED = "forwarded", "in_progress", "resolved", "closed"
STATUS_NAMES = {
    PENDING_REVIEW: "待审核", ACCEPTED: "已受理", REJECTED: "未受理", DUPLICATE: "重复反映", WITHDRAWN: "已撤回",
    FORWARDED: "已转办", IN_PROGRESS: "处置中", RESOLVED: "已处置", CLOSED: "已结案",
}
TRANSITIONS = {
    PENDING_REVIEW: {ACCEPTED, REJECTED, DUPLICATE, WITHDRAWN},
    ACCEPTED: {FORWARDED},
    FORWARDED: {IN_PROGRESS, RESOLVED},
    IN_PROGRESS: {RESOLVED},
    RESOLVED: {CLOSED, IN_PROGRESS},
}
# A resident reopening a closed report sends it back to be handled (the only way out of CLOSED).
REOPENED_TO = IN_PROGRESS
# Shown to other residents near the point: known problems not yet finished.
PUBLICLY_OPEN = (ACCEPTED, FORWARDED, IN_PROGRESS)
# A category's id is its kind's letter and its 4-digit code: components (部件) are "B", events (事件) "S".
COMPONENT_LETTER = "B"
# The account of an Open311 client (cases.open311) filing reports through the API: the client's name after this.
API_CLIENT_OPENID_PREFIX = "open311:"


def component_category_id(code: str) -> str:
    """The report category of a component's 4-digit code ("0301" → "B0301"), as report submission takes it."""
    return f"{COMPONENT_LETTER}{code}"


def get_report(report_id: int) -> Report:
    return get_or_not_found(Report, report_id, "反映不存在。")


def get_reports(report_ids: Iterable[int]) -> dict[int, Report]:
    """The reports of these ids (with their categories) by id, in one query: for a list of other rows, each with its
    report. Absent ids are left out."""
    wanted = set(report_ids)
    if not wanted:
        return {}
    return {report.id: report for report in db.session.scalars(sa.select(Report).where(Report.id.in_(wanted)))}


def district_of(lat: float, lng: float) -> str:
    return min(_district_seats(), key=lambda seat: haversine_m(lat, lng, seat["lat"], seat["lng"]))["name"]


def district_names() -> list[str]:
    return [seat["name"] for seat in _district_seats()]


def district_seats() -> list[tuple[str, float, float]]:
    """(name, lat, lng) of each district's government seat, WGS-84."""
    return [(seat["name"], seat["lat"], seat["lng"]) for seat in _district_seats()]


@functools.cache
def _district_seats() -> list[dict[str, Any]]:
    return json.loads((DATA_DIR / "districts.json").read_text(encoding="utf-8"))["districts"]


# --- figures for statistics ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ReportSnapshot:
    """What a report looks like now, for statistics: no resident, no text, no media."""

    id: int
    created_at: dt.datetime
    category_id: str
    district: str | None
    status: str
    lat: float
    lng: float
    closed_at: dt.datetime | None
    rating: int | None
    rated_at: dt.datetime | None
    changed_at: dt.datetime


@functools.cache
def _snapshot_query() -> sa.Select[Any]:
    closed_at = (sa.select(sa.func.max(ReportEvent.occurred_at))
                 .where(ReportEvent.report_id == Report.id, ReportEvent.to_status == CLOSED)
                 .correlate(Report).scalar_subquery())
    # Each report counts once in the satisfaction figures, at the mean of its reporter's and its followers' ratings
    # rounded half up (a much-followed problem does not outweigh the others), dated by the first rating given.
    def of_followers(column: Any) -> Any:
        return (sa.select(column).where(ReportFollower.report_id == Report.id).correlate(Report)
                .scalar_subquery())

    follower_sum = of_followers(sa.func.coalesce(sa.func.sum(ReportFollower.rating), 0))
    follower_count = of_followers(sa.func.count(ReportFollower.rating))
    follower_first = of_followers(sa.func.min(ReportFollower.rated_at))
    ratings = sa.case((Report.rating.is_(None), 0), else_=1) + follower_count
    rating = sa.case((ratings > 0, (2 * (sa.func.coalesce(Report.rating, 0) + follower_sum) + ratings)
                      // (2 * ratings)))
    rated_at = sa.case((Report.rated_at.is_(None), follower_first), (follower_first.is_(None), Report.rated_at),
                       (Report.rated_at < follower_first, Report.rated_at), else_=follower_first)
    return sa.select(Report.id, Report.created_at, Report.category_id, Report.district, Report.status, Report.lat,
                     Report.lng, sa.case((Report.status == CLOSED, closed_at)).label("closed_at"),
                     rating.label("rating"), rated_at.label("rated_at"), Report.updated_at)


def _snapshot(row: sa.Row[Any]) -> ReportSnapshot:
    return ReportSnapshot(*row)


@functools.cache
def _one_snapshot_query() -> sa.Select[Any]:
    # Built once: every status change reads a snapshot, and building the statement cost more than running it.
    return _snapshot_query().where(Report.id == sa.bindparam("report_id"))


def report_snapshot(report_id: int) -> ReportSnapshot | None:
    row = db.session.execute(_one_snapshot_query(), {"report_id": report_id}).one_or_none()
    return _snapshot(row) if row is not None else None


def report_snapshots(*, after_id: int, limit: int) -> list[ReportSnapshot]:
    """Every report in id order, a batch at a time (the cursor is the last id seen)."""
    rows = db.session.execute(_snapshot_query().where(Report.id > after_id).order_by(Report.id).limit(limit))
    return [_snapshot(row) for row in rows]


# Ids looked up per statement: well under every database's limit of bound values.
_IDS_PER_LOOKUP = 1000


def report_snapshots_of(report_ids: Iterable[int]) -> dict[int, ReportSnapshot]:
    """The snapshots of these reports by id, a few statements however many (a report erased since is absent)."""
    ids = sorted(set(report_ids))
    return {row.id: _snapshot(row) for start in range(0, len(ids), _IDS_PER_LOOKUP)
            for row in db.session.execute(_snapshot_query().where(Report.id.in_(ids[start:start + _IDS_PER_LOOKUP])))}


def report_id_digests(first_id: int, last_id: int, *, bucket: int) -> dict[int, tuple[int, int]]:
    """The reports with ids in [first_id, last_id], per bucket of ids: (how many, sum of ids); see
    core.db.id_digests."""
    return id_digests(Report.id, first_id, last_id, bucket=bucket)


def existing_report_ids(report_ids: Iterable[int], *, statuses: tuple[str, ...] | None = None) -> set[int]:
    """Those of these ids whose report still exists (a resident's erasure deletes reports), in one of ``statuses``
    when they are given."""
    query = sa.select(Report.id)
    if statuses is not None:
        query = query.where(Report.status.in_(statuses))
    ids = sorted(set(report_ids))
    return {report_id for start in range(0, len(ids), _IDS_PER_LOOKUP)
            for report_id in db.session.scalars(query.where(Report.id.in_(ids[start:start + _IDS_PER_LOOKUP])))}


def changed_report_snapshots(since: dt.datetime, *, after: tuple[dt.datetime, int] | None,
                             limit: int) -> list[ReportSnapshot]:
    """Reports changed at or after ``since``, in the order they last changed, a page at a time (the cursor is
    the last snapshot's (changed_at, id)): for listeners checking that no status change passed them by."""
    query = _snapshot_query().where(Report.updated_at >= since)
    if after is not None:
        query = query.where(sa.tuple_(Report.updated_at, Report.id) > after)
    return [_snapshot(row) for row in db.session.execute(query.order_by(Report.updated_at, Report.id).limit(limit))]


def is_reopening(event: ReportEvent) -> bool:
    """Whether a timeline step is a resident reopening their closed report."""
    return event.from_status == CLOSED and event.to_status == REOPENED_TO


def reopened_count(since: dt.datetime, until: dt.datetime, *, district: str | None = None) -> int:
    """How many times residents reopened a closed report in [since, until)."""
    query = (sa.select(sa.func.count()).select_from(ReportEvent)
             .where(ReportEvent.from_status == CLOSED, ReportEvent.to_status == REOPENED_TO,
                    ReportEvent.occurred_at >= since, ReportEvent.occurred_at < until))
    if district is not None:
        query = query.join(Report, Report.id == ReportEvent.report_id).where(Report.district == district)
    return db.session.scalar(query) or 0
def report_ids_submitted(start: dt.datetime, end: dt.datetime, *, statuses: tuple[str, ...], after_id: int,
                         limit: int) -> list[int]:
    """The reports submitted in [start, end) that are in one of ``statuses``, in id order, a batch at a time (the
    cursor is the last id seen): for a campaign deciding the reports of its period."""
    return list(db.session.scalars(sa.select(Report.id).where(
        Report.status.in_(statuses), Report.created_at >= start, Report.created_at < end, Report.id > after_id)
        .order_by(Report.id).limit(limit)))


# --- what rewards decide on -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ReportFacts:
    """What the rewards package may know about a report, without reading citizen's tables."""

    report_id: int
    resident_id: int
    resident_blocked: bool
    resident_forgotten: bool  # the account was deleted: nobody can receive anything any more
    resident_api_client: bool  # an Open311 client's account: no WeChat openid that a transfer could reach
    status: str
    category_id: str
    class_key: str  # kind letter + class code: "S01" for every S01xx category
    district: str | None
    created_at: dt.datetime
    flags: tuple[str, ...]
    other_residents_same_photo: int  # residents other than the reporter with identical or near-identical photos
    reports_from_same_ip: int  # reports from the report's IP in the window before it, itself included
    reports_from_same_resident: int  # the reporter's reports in that window, itself included


def report_created_at(report_id: int) -> dt.datetime:
    return get_report(report_id).created_at


def report_facts(report_id: int, *, burst_window: dt.timedelta) -> ReportFacts:
    report = get_report(report_id)
    own_photos = (sa.select(ReportMedia).where(ReportMedia.report_id == report.id, ReportMedia.kind == "photo")
                  .subquery())
    same_photo = sa.or_(ReportMedia.sha256.in_(sa.select(own_photos.c.sha256)),
                        ReportMedia.phash.in_(sa.select(own_photos.c.phash).where(own_photos.c.phash.is_not(None))))
    window = (Report.created_at > report.created_at - burst_window, Report.created_at <= report.created_at)
    # The resident and every count in one statement: this runs on each status change of each report.
    # The openid is encrypted: whether it names an API client is seen once it is read (and decrypted).
    blocked, forgotten, openid, other_residents, from_ip, from_resident = db.session.execute(sa.select(
        *(sa.select(column).where(Resident.id == report.resident_id).scalar_subquery()
          for column in (Resident.is_blocked, Resident.forgotten_at.is_not(None), Resident.openid)),
        sa.select(sa.func.count(sa.distinct(Report.resident_id))).join(ReportMedia, ReportMedia.report_id == Report.id)
        .where(same_photo, Report.resident_id != report.resident_id).scalar_subquery(),
        sa.select(sa.func.count()).where(Report.submitted_ip_digest == report.submitted_ip_digest, *window)
        .scalar_subquery() if report.submitted_ip_digest else sa.literal(1),
        sa.select(sa.func.count()).where(Report.resident_id == report.resident_id, *window).scalar_subquery(),
    )).one()
    if blocked is None:
        raise NotFound("用户不存在。")
    return ReportFacts(
        report_id=report.id, resident_id=report.resident_id, resident_blocked=blocked,
        resident_forgotten=bool(forgotten), resident_api_client=openid.startswith(API_CLIENT_OPENID_PREFIX),
        status=report.status, category_id=report.category_id, class_key=report.category_id[:3],
        district=report.district, created_at=report.created_at, flags=tuple(report.flags),
        other_residents_same_photo=other_residents or 0, reports_from_same_ip=from_ip or 0,
        reports_from_same_resident=from_resident or 0)
