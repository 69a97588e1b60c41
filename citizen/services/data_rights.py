"""Residents' data rights (PIPL): their data exported, their account forgotten, and the retention periods
enforced."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from citizen.facts import ACCEPTED, CLOSED, DUPLICATE, FORWARDED, IN_PROGRESS, REJECTED, RESOLVED, WITHDRAWN
from citizen.models import Report, ReportEvent, ReportMedia, ReportStatusCount, Resident
from citizen.settings import CitizenSettings
from citizen.services.public_map import lock_map_cells
from citizen.services.followers import export_follows, forget_follows
from citizen.services.reading import timeline
from citizen.services.residents import FORGOTTEN_OPENID_PREFIX, get_resident, is_forgotten
from core import privacy
from core.db import db, utcnow
from core.errors import NotFound
from core.events import REPORT_DELETED, publish
from core.privacy import row_dict
from media import services as media_services

log = logging.getLogger(__name__)
# Reports that became the city's cases are kept, anonymised; the rest go with the resident.
CASE_STATUSES = (ACCEPTED, FORWARDED, IN_PROGRESS, RESOLVED, CLOSED)
FINISHED_STATUSES = (REJECTED, WITHDRAWN, DUPLICATE, CLOSED)


def export_resident_data(resident_id: int) -> dict[str, list[dict[str, Any]]]:
    """The resident's reports with their timelines and the ids of their media, and the reports they follow."""
    reports = db.session.scalars(sa.select(Report).where(Report.resident_id == resident_id).order_by(Report.id))
    return {
        "reports": [{**row_dict(report, exclude=("resident_id", "request_fingerprint", "checks", "flags",
                                                 "reviewed_by", "submitted_ip_digest")),
                     "category_name": report.category.name,
                     "media": [row_dict(item, exclude=("report_id", "phash")) for item in report.media],
                     "timeline": [row_dict(event, exclude=("report_id", "actor_name", "staff_note"))
                                  for event in timeline(report)]}
                    for report in reports],
        "follows": export_follows(resident_id),
    }


def export_resident(resident_id: int) -> dict[str, Any]:
    """Everything every package holds about the resident, as one JSON document."""
    resident = get_resident(resident_id)
    return {
        "exported_at": utcnow().isoformat(),
        "resident": row_dict(resident, exclude=("is_blocked", "blocked_reason", "blocked_at", "openid_digest",
                                                "unionid_digest", "forgotten_at")),
        "data": {package: services.export_resident_data(resident_id) for package, services in privacy.data_holders()},
    }


def _lock_status_counts(reports: set[tuple[str, int]]) -> None:
    """Take the count rows that deleting these (status, id) reports changes, in the order a status change takes
    them (migration 0013): the deletions' own triggers would take them in id order, and deadlock with it."""
    keys = sorted({(status, report_id % ReportStatusCount.SHARDS) for status, report_id in reports})
    db.session.execute(sa.select(ReportStatusCount.status).where(
        sa.tuple_(ReportStatusCount.status, ReportStatusCount.shard).in_(keys))
        .order_by(ReportStatusCount.status, ReportStatusCount.shard).with_for_update())


def forget_resident(resident_id: int) -> None:
    """Reports that never became cases go; cases stay without the resident's photos, IP address, phone
    numbers in the text or comment. The caller commits."""
    forget_follows(resident_id)
    reports = db.session.scalars(sa.select(Report).where(Report.resident_id == resident_id)).all()
    gone = [report.id for report in reports if report.status not in CASE_STATUSES]
    if gone:
        lock_map_cells(report for report in reports if report.id in gone)
        _lock_status_counts({(report.status, report.id) for report in reports if report.id in gone})
        # Reports marked as duplicates of one that goes lose the link: others keep their own record, and among
        # those going too, none may still point at one deleted before it.
        db.session.execute(sa.update(Report).where(Report.duplicate_of_id.in_(gone)).values(duplicate_of_id=None))
    for report in reports:
        if report.id in gone:
            db.session.delete(report)
            publish(REPORT_DELETED, report.id)
            continue
        report.media = []
        report.description = privacy.PHONE_NUMBER.sub("[已删除]", report.description)
        for event in report.events:
            if event.actor_kind == "resident":  # their answers and reasons for reopening
                event.note = privacy.PHONE_NUMBER.sub("[已删除]", event.note)
        report.submitted_ip, report.rating_comment = None, None
        report.events.append(ReportEvent(from_status=report.status, to_status=report.status, actor_kind="system",
                                         note="反映人已注销账户，个人信息已删除。"))
    resident = get_resident(resident_id)
    resident.openid, resident.unionid = f"{FORGOTTEN_OPENID_PREFIX}{resident.id}", None
    resident.last_login_at, resident.forgotten_at = None, utcnow()
    # Staff's words about the person (why they were blocked) go too; the block itself stays in the audit log.
    resident.blocked_reason = None


def forget_resident_everywhere(resident_id: int) -> None:
    """``DELETE /api/v1/me``: every package forgets the resident; this package's own records go last."""
    # One erasure at a time: another at once (a double tap) waits here, then finds nothing left to forget.
    resident = db.session.get(Resident, resident_id, with_for_update=True, populate_existing=True)
    if resident is None:
        raise NotFound("用户不存在。")
    if is_forgotten(resident):
        return
    for package, services in privacy.data_holders():
        if package != "citizen":
            services.forget_resident(resident_id)
    forget_resident(resident_id)
    db.session.flush()
    log.info("resident forgotten", extra={"resident_id": resident_id})


@dataclasses.dataclass(frozen=True)
class RetentionOutcome:
    residents_forgotten: int
    ip_addresses_cleared: int
    report_media_deleted: int


def enforce_retention(settings: CitizenSettings, now: dt.datetime | None = None) -> RetentionOutcome:
    """What the retention periods say must go, goes: IP addresses of old reports, media of long-finished
    reports, and residents who have not signed in for the configured time."""
    now = now or utcnow()
    cleared = db.session.execute(
        sa.update(Report).where(Report.submitted_ip.is_not(None),
                                Report.created_at < now - dt.timedelta(days=settings.retention_report_ip_days))
        # Keeping updated_at: clearing an address is no change of the report's own (and restarts no clock).
        .values(submitted_ip=None, submitted_ip_digest=None, updated_at=Report.updated_at)
        .execution_options(synchronize_session=False)).rowcount
    media_cutoff = now - dt.timedelta(days=settings.retention_finished_report_media_days)
    expired = db.session.execute(sa.select(ReportMedia.report_id, ReportMedia.media_id, ReportMedia.public_media_id)
                                 .join(Report).where(Report.status.in_(FINISHED_STATUSES),
                                                     Report.updated_at < media_cutoff)).all()
    media_services.delete_media([media_id for _, owned_media_id, public_media_id in expired
                                 for media_id in (owned_media_id, public_media_id) if media_id is not None])
    for report_id, media_id, _ in expired:
        db.session.execute(sa.delete(ReportMedia).where(ReportMedia.report_id == report_id,
                                                        ReportMedia.media_id == media_id))
    inactive_cutoff = now - dt.timedelta(days=settings.retention_inactive_resident_days)
    inactive = db.session.scalars(sa.select(Resident.id).where(
        Resident.forgotten_at.is_(None),
        sa.func.coalesce(Resident.last_login_at, Resident.created_at) < inactive_cutoff)).all()
    for resident_id in inactive:
        forget_resident_everywhere(resident_id)
    return RetentionOutcome(len(inactive), cleared, len(expired))
