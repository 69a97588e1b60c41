"""Submitting a report: once per idempotency key, inside the service area, within the hourly limits, with the
resident's own media, checked before it is filed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citizen.facts import PENDING_REVIEW, district_of
from citizen.models import Category, Report, ReportEvent, ReportMedia, Resident, ip_digest
from citizen.settings import CitizenSettings
from citizen.services.checks import any_unprocessed, apply_checks
from citizen.services.lifecycle import RESIDENT_NOTES
from core.db import db, lock_for_transaction, utcnow
from core.errors import Conflict, RateLimited, ValidationFailed
from core.events import REPORT_STATUS_CHANGED, publish
from core.geo import point_in_polygon, to_wgs84
from core.jobs import enqueue_after_commit
from media import services as media_services
from media.services import MediaInfo

MAX_PHOTOS = 9

@dataclasses.dataclass(frozen=True)
class ReportDraft:
    category_id: str
    description: str
    lat: float
    lng: float
    coord_type: str
    address: str
    media_ids: tuple[int, ...]

    def fingerprint(self) -> str:
        canonical = json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Submission:
    report: Report
    created: bool


def submit_report(resident_id: int, draft: ReportDraft, *, idempotency_key: str, ip_address: str | None,
                  settings: CitizenSettings, screen_text_later: bool = False) -> Submission:
    """File a report once per idempotency key: a retry gets the same report, a different body a 409.

    The checks run here, in the submission's own transaction, on what the submission has already
    read; the ``check_report`` job runs them again later only when a photo is still being processed
    (its hashes and EXIF are not known yet) or ``screen_text_later`` (an outside text check) asks for it.
    """
    fingerprint = draft.fingerprint()
    # One submission of a resident at a time (PostgreSQL; SQLite writes one at a time anyway): submissions at
    # once would each count the hour's reports without the others and all pass the limit. Taken before the
    # key is looked up, so that a retry waiting here finds the report its twin has just filed.
    db.session.execute(sa.select(Resident.id).where(Resident.id == resident_id).with_for_update())
    existing = _report_for_key(resident_id, idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint)
    category = db.session.get(Category, draft.category_id)
    if category is None or not category.is_active:
        raise ValidationFailed("问题类别不存在或已停用。", code="invalid_category",
                               details={"fields": {"category_code": ["unknown or disabled category"]}})
    lat, lng = to_wgs84(draft.lat, draft.lng, draft.coord_type)
    if not point_in_polygon(lat, lng, list(settings.service_area)):
        raise ValidationFailed("该位置不在本市服务范围内。", code="outside_service_area",
                               details={"location": {"lat": draft.lat, "lng": draft.lng}})
    _check_submission_rate(resident_id, ip_address, settings)
    attachments = check_resident_media(resident_id, draft.media_ids)
    in_use = media_services.media_in_use(attachments)
    if in_use:
        # A concurrent retry with the same key may have attached them a moment ago: answer as it did.
        winner = _report_for_key(resident_id, idempotency_key)
        if winner is not None:
            return _replay(winner, fingerprint)
        refuse_media_in_use(in_use)

    # category_id as well as category: the checks below query by it before the flush would set it.
    report = Report(resident_id=resident_id, category_id=category.id, category=category,
                    description=draft.description.strip(), lat=lat, lng=lng, address=draft.address.strip(),
                    district=district_of(lat, lng), status=PENDING_REVIEW, idempotency_key=idempotency_key,
                    request_fingerprint=fingerprint, submitted_ip=ip_address, flags=[], checks={}, created_at=utcnow())
    report.media = [ReportMedia(media_id=item.id, kind=item.kind, position=position, sha256=item.sha256,
                                phash=item.perceptual_hash) for position, item in enumerate(attachments)]
    report.events = [ReportEvent(from_status=None, to_status=PENDING_REVIEW, actor_kind="resident",
                                 note=RESIDENT_NOTES[PENDING_REVIEW])]
    checks_later = screen_text_later or any_unprocessed(attachments)
    apply_checks(report, attachments, settings, checks_pending=checks_later)
    db.session.add(report)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent retry with the same key won the race: answer with its report. Nothing but reads came
        # before the insert (an Open311 client signing in before it only moves its last sign-in time, and its
        # account already exists when a twin has filed for it), so the whole transaction goes: no savepoint.
        db.session.rollback()
        winner = _report_for_key(resident_id, idempotency_key)
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    media_services.attach_media([item.id for item in attachments], attached_to=f"report:{report.id}")
    if checks_later:
        enqueue_after_commit("citizen.jobs.check_report", report.id)
    # Entering its first status is a status change too: listeners count the new report.
    publish(REPORT_STATUS_CHANGED, report.id)
    return Submission(report, created=True)


def _report_for_key(resident_id: int, idempotency_key: str) -> Report | None:
    return db.session.scalar(sa.select(Report).where(Report.resident_id == resident_id,
                                                     Report.idempotency_key == idempotency_key))


def _replay(report: Report, fingerprint: str) -> Submission:
    if report.request_fingerprint != fingerprint:
        raise Conflict("该幂等键已用于另一次不同的提交。", code="idempotency_key_reused")
    return Submission(report, created=False)


def _check_submission_rate(resident_id: int, ip_address: str | None, settings: CitizenSettings) -> None:
    window_start = utcnow() - dt.timedelta(hours=1)
    limits = [(Report.resident_id == resident_id, settings.reports_per_resident_per_hour)]
    if ip_address:
        # The resident's row lock covers their own limit; residents behind one address share this one.
        lock_for_transaction(f"reports.ip:{ip_digest(ip_address)}")
        limits.append((Report.submitted_ip_digest == ip_digest(ip_address), settings.reports_per_ip_per_hour))
    # One statement counts every window, each up to its limit.
    counts = db.session.execute(sa.select(*(
        sa.select(sa.func.count()).select_from(
            sa.select(Report.id).where(condition, Report.created_at >= window_start).limit(limit).subquery())
        .scalar_subquery() for condition, limit in limits))).one()
    for (condition, limit), count in zip(limits, counts, strict=True):
        if count >= limit:
            # The window frees up when the oldest of the last `limit` reports turns an hour old.
            oldest = db.session.scalar(
                sa.select(Report.created_at).where(condition, Report.created_at >= window_start)
                .order_by(Report.created_at.desc()).offset(limit - 1).limit(1))
            retry_after = max(1, math.ceil((oldest + dt.timedelta(hours=1) - utcnow()).total_seconds()))
            raise RateLimited("提交过于频繁，请稍后再试。", retry_after_seconds=retry_after,
                              details={"limit_per_hour": limit})


def refuse_media_in_use(in_use: list[int]) -> NoReturn:
    raise ValidationFailed("部分媒体文件已用于其他反映或申请，请重新拍摄上传。", code="media_in_use",
                           details={"media_ids": sorted(in_use)})


def check_resident_media(resident_id: int, media_ids: tuple[int, ...], *, min_photos: int = 1) -> list[MediaInfo]:
    """The resident's own media for a report (or a reply to it): theirs, each once, at least ``min_photos`` and
    at most MAX_PHOTOS photos, one video and one voice message."""
    owned = {item.id: item for item in media_services.get_owned_media(resident_id, list(media_ids))}
    unknown = [media_id for media_id in media_ids if media_id not in owned]
    if unknown:
        raise ValidationFailed("部分媒体文件不存在或不属于您。", code="invalid_media", details={"media_ids": unknown})
    if len(set(media_ids)) != len(media_ids):
        raise ValidationFailed("媒体文件重复。", code="invalid_media",
                               details={"media_ids": sorted({m for m in media_ids if media_ids.count(m) > 1})})
    items = [owned[media_id] for media_id in media_ids]
    by_kind: dict[str, list[int]] = {"photo": [], "video": [], "audio": []}
    for item in items:
        by_kind[item.kind].append(item.id)
    problems = {}
    if not min_photos <= len(by_kind["photo"]) <= MAX_PHOTOS:
        problems["photo"] = f"需要 {min_photos}–{MAX_PHOTOS} 张照片"
    if len(by_kind["video"]) > 1:
        problems["video"] = "最多一个视频"
    if len(by_kind["audio"]) > 1:
        problems["audio"] = "最多一条语音"
    if problems:
        raise ValidationFailed("照片、视频或语音的数量不符合要求：" + "；".join(problems.values()) + "。",
                               code="invalid_media", details={"media_ids": list(media_ids), "kinds": problems})
    return items
