"""Residents and their reports: sign-in, categories, submission, lifecycle, moderation. No Flask here."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from citizen import jobs as citizen_jobs
from citizen.models import (EVENT_VISIBILITIES, Category, RejectionTemplate, Report, ReportEvent, ReportFlag,
                            ReportMedia, ReportStatusCount, Resident, ip_digest)
from core.config import Config
from core.db import db, get_or_not_found, get_row, id_digests, lock_for_transaction, utcnow
from core.events import REPORT_DELETED, REPORT_FLAGS_CHANGED, REPORT_RATED, REPORT_STATUS_CHANGED, publish
from core.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthorized, ValidationFailed
from core.geo import bounding_box, haversine_m, point_in_polygon, to_wgs84
from core.jobs import enqueue_after_commit
from core.logs import identifier_digest
from core import privacy
from core.privacy import row_dict
from core.services import Actor, change_audited, record_audit, reveal_sensitive
from core.wechat import WeChatIdentity
from media import services as media_services
from media.services import MediaInfo

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_PHOTOS = 9

PENDING_REVIEW, ACCEPTED, REJECTED, DUPLICATE, WITHDRAWN = "pending_review", "accepted", "rejected", "duplicate", "withdrawn"
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
RESIDENT_NOTES = {
    PENDING_REVIEW: "您的反映已提交，正在等待审核。",
    ACCEPTED: "您的反映已受理，将转交城市管理部门处理。",
    REJECTED: "很抱歉，您的反映未被受理。",
    DUPLICATE: "该问题已有其他市民反映，将合并处理，感谢您的关注。",
    WITHDRAWN: "您已撤回该反映。",
    FORWARDED: "已转交城市管理部门立案处理。",
    IN_PROGRESS: "责任单位正在处置。",
    RESOLVED: "问题已处置完毕，欢迎您评价。",
    CLOSED: "已结案，感谢您对城市管理的支持。",
}
# Shown to other residents near the point: known problems not yet finished.
PUBLICLY_OPEN = (ACCEPTED, FORWARDED, IN_PROGRESS)
# The flag of a report whose checks still wait for a photo's hashes and EXIF, or for the outside text
# check: moderators see 核查中, and the sweep runs the checks again once they are overdue.
CHECKS_PENDING = "checks_pending"
CHECKS_OVERDUE_AFTER = dt.timedelta(minutes=10)
CHECKS_REQUEUE_BATCH = 500
# Checks still pending this long after the report was filed are stuck, not slow (the sweep has run them again several
# times): WeChat's text check keeps answering an error (a wrong app secret, a missing permission) or no worker runs the
# jobs. Nothing clears that by itself, so the moderators are shown it and the sweep logs it as an error.
CHECKS_STUCK_AFTER = dt.timedelta(hours=1)
STUCK_CHECKS_COUNTED = 1000
CLOSED_FOR_DUPLICATES = (REJECTED, WITHDRAWN, DUPLICATE, CLOSED)



def sign_in_resident(identity: WeChatIdentity) -> Resident:
    """The resident behind this WeChat identity, created on first sign-in."""
    resident = _find_by_openid(identity.openid)
    if resident is None:
        try:
            with db.session.begin_nested():
                resident = Resident(openid=identity.openid, unionid=identity.unionid)
                db.session.add(resident)
        except IntegrityError:
            # A concurrent first sign-in of the same resident created the row first.
            resident = _find_by_openid(identity.openid)
            assert resident is not None
        else:
            log.info("resident registered", extra={"resident": identifier_digest(identity.openid)})
    if resident.is_blocked:
        raise Forbidden("该账号已被停用。", code="resident_blocked")
    if identity.unionid and resident.unionid != identity.unionid:
        resident.unionid = identity.unionid
    resident.last_login_at = utcnow()
    db.session.commit()
    return resident


def get_resident(resident_id: int) -> Resident:
    return get_or_not_found(Resident, resident_id, "用户不存在。")


def _find_by_openid(openid: str) -> Resident | None:
    return db.session.scalar(sa.select(Resident).where(Resident.find_by("openid", openid)))


# --- categories ----------------------------------------------------------------------------

def list_categories(*, include_inactive: bool = False) -> list[Category]:
    query = sa.select(Category).order_by(Category.sort_order)
    if not include_inactive:
        query = query.where(Category.is_active.is_(True))
    return list(db.session.scalars(query))


def update_category(actor: Actor, category_id: str, *, name: str, hint: str, is_active: bool) -> Category:
    category = get_or_not_found(Category, category_id, "类别不存在。")
    name, hint = name.strip(), hint.strip()
    if not name or len(name) > 64 or len(hint) > 200:
        raise ValidationFailed("名称不能为空且不超过 64 字，提示不超过 200 字。",
                               details={"fields": {"name": ["1–64 characters"], "hint": ["≤ 200 characters"]}})
    change_audited(actor, "category.update", "category", category, name=name, hint=hint, is_active=is_active)
    return category


# --- submitting a report -------------------------------------------------------------------

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
                  settings: Config, screen_text_later: bool = False) -> Submission:
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
    attachments = _check_report_media(resident_id, draft.media_ids)
    in_use = media_services.media_in_use(attachments)
    if in_use:
        # A concurrent retry with the same key may have attached them a moment ago: answer as it did.
        winner = _report_for_key(resident_id, idempotency_key)
        if winner is not None:
            return _replay(winner, fingerprint)
        raise ValidationFailed("部分媒体文件已用于其他反映或申请，请重新拍摄上传。", code="media_in_use",
                               details={"media_ids": sorted(in_use)})

    # category_id as well as category: the checks below query by it before the flush would set it.
    report = Report(resident_id=resident_id, category_id=category.id, category=category,
                    description=draft.description.strip(), lat=lat, lng=lng, address=draft.address.strip(),
                    district=district_of(lat, lng), status=PENDING_REVIEW, idempotency_key=idempotency_key,
                    request_fingerprint=fingerprint, submitted_ip=ip_address, flags=[], checks={}, created_at=utcnow())
    report.media = [ReportMedia(media_id=item.id, kind=item.kind, position=position, sha256=item.sha256,
                                phash=item.perceptual_hash) for position, item in enumerate(attachments)]
    report.events = [ReportEvent(from_status=None, to_status=PENDING_REVIEW, actor_kind="resident",
                                 note=RESIDENT_NOTES[PENDING_REVIEW])]
    checks_later = screen_text_later or _any_unprocessed(attachments)
    _apply_checks(report, attachments, settings, checks_pending=checks_later)
    db.session.add(report)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent retry with the same key won the race: answer with its report. Nothing but
        # reads came before the insert, so the whole transaction goes (no savepoint needed).
        db.session.rollback()
        winner = _report_for_key(resident_id, idempotency_key)
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    media_services.attach_media([item.id for item in attachments], attached_to=f"report:{report.id}")
    if checks_later:
        enqueue_after_commit(citizen_jobs.check_report, report.id)
    # Entering its first status is a status change too: listeners count the new report.
    publish(REPORT_STATUS_CHANGED, report.id)
    _commit_keeping_loaded()
    return Submission(report, created=True)


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds: the caller shows the report it has just
    written, which reloading (the report, its category, media and timeline) would only read back."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _report_for_key(resident_id: int, idempotency_key: str) -> Report | None:
    return db.session.scalar(sa.select(Report).where(Report.resident_id == resident_id,
                                                     Report.idempotency_key == idempotency_key))


def _replay(report: Report, fingerprint: str) -> Submission:
    if report.request_fingerprint != fingerprint:
        raise Conflict("该幂等键已用于另一次不同的提交。", code="idempotency_key_reused")
    return Submission(report, created=False)


def _check_submission_rate(resident_id: int, ip_address: str | None, settings: Config) -> None:
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
    for (condition, limit), count in zip(limits, counts):
        if count >= limit:
            # The window frees up when the oldest of the last `limit` reports turns an hour old.
            oldest = db.session.scalar(
                sa.select(Report.created_at).where(condition, Report.created_at >= window_start)
                .order_by(Report.created_at.desc()).offset(limit - 1).limit(1))
            retry_after = max(1, math.ceil((oldest + dt.timedelta(hours=1) - utcnow()).total_seconds()))
            raise RateLimited("提交过于频繁，请稍后再试。", retry_after_seconds=retry_after,
                              details={"limit_per_hour": limit})


def _check_report_media(resident_id: int, media_ids: tuple[int, ...]) -> list[MediaInfo]:
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
    if not 1 <= len(by_kind["photo"]) <= MAX_PHOTOS:
        problems["photo"] = f"需要 1–{MAX_PHOTOS} 张照片"
    if len(by_kind["video"]) > 1:
        problems["video"] = "最多一个视频"
    if len(by_kind["audio"]) > 1:
        problems["audio"] = "最多一条语音"
    if problems:
        raise ValidationFailed("照片、视频或语音的数量不符合要求：" + "；".join(problems.values()) + "。",
                               code="invalid_media", details={"media_ids": list(media_ids), "kinds": problems})
    return items


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


# --- the lifecycle -------------------------------------------------------------------------

def transition(report: Report, to_status: str, *, actor_kind: str, actor_name: str | None = None,
               note: str | None = None, expected_version: int | None = None, public_reply: bool = False,
               staff_note: str | None = None) -> ReportEvent:
    """Move a report along its lifecycle; anything the lifecycle does not allow is refused here.

    ``note`` is what the resident reads (by default the status's standard text); as a ``public_reply`` the public
    reads it too, masked. ``staff_note`` stays with staff."""
    if expected_version is not None and report.version != expected_version:
        raise Conflict("该反映已被其他人处理，请刷新后查看最新状态。", code="report_changed",
                       details={"status": report.status})
    if to_status not in TRANSITIONS.get(report.status, set()):
        raise Conflict(f"当前状态（{STATUS_NAMES[report.status]}）不能变更为{STATUS_NAMES[to_status]}。",
                       code="illegal_transition", details={"from": report.status, "to": to_status})
    public_reply = bool(public_reply and note)
    shown = _public_text(note) if public_reply and note else note or RESIDENT_NOTES[to_status]
    event = ReportEvent(from_status=report.status, to_status=to_status, actor_kind=actor_kind, actor_name=actor_name,
                        note=shown, visibility="public" if public_reply else "resident", staff_note=staff_note)
    report.status = to_status
    report.events.append(event)
    publish(REPORT_STATUS_CHANGED, report.id)
    return event


def _moderate(actor: Actor, report_id: int, expected_version: int, to_status: str, action: str,
              note: str | None = None, in_same_transaction: Callable[[int], Any] | None = None,
              **changes: Any) -> Report:
    report = _get_report(report_id)
    before = {"status": report.status}
    with _committed_unless_changed():
        transition(report, to_status, actor_kind="staff", actor_name=actor.name, note=note,
                   expected_version=expected_version)
        for field, value in changes.items():
            setattr(report, field, value)
        report.reviewed_by, report.reviewed_at = actor.name, utcnow()
        record_audit(actor, action, "report", report.id, before=before,
                     after={"status": to_status, **{k: v for k, v in changes.items()}})
        if in_same_transaction is not None:
            in_same_transaction(report.id)
    return report


@contextlib.contextmanager
def _committed_unless_changed(message: str = "该反映已被其他审核员处理，请刷新后查看。") -> Iterator[None]:
    """Commit what the block writes to a report, unless another request changed the report since it was read:
    its version moved on, found at the commit or at any flush before it (a lazy load inside the block flushes).
    Then nothing is applied and the caller gets a conflict instead of a 500."""
    try:
        yield
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(message, code="report_changed") from None


def accept_report(actor: Actor, report_id: int, *, expected_version: int) -> Report:
    # The forwarding record (the cases package's outbox) commits with the acceptance or not at all.
    return _moderate(actor, report_id, expected_version, ACCEPTED, "report.accept",
                     in_same_transaction=case_services.open_delivery)


def reject_report(actor: Actor, report_id: int, *, expected_version: int, reason: str,
                  template_id: int | None = None) -> Report:
    """Reject with ``reason``, or when it is blank with the text of the rejection template ``template_id``."""
    reason = reason.strip()
    if not reason and template_id is not None:
        template = get_row(RejectionTemplate, template_id)
        if template is None:
            raise ValidationFailed("所选驳回理由不存在，请重新选择。", code="unknown_template",
                                   details={"template_id": template_id})
        reason = template.text
    if not reason:
        raise ValidationFailed("请填写或选择驳回理由。", code="reason_required")
    return _moderate(actor, report_id, expected_version, REJECTED, "report.reject",
                     note=f"很抱歉，您的反映未被受理：{reason}", reject_reason=reason[:500])


def mark_duplicate(actor: Actor, report_id: int, *, expected_version: int, duplicate_of_id: int) -> Report:
    original = get_row(Report, duplicate_of_id)
    if original is None or duplicate_of_id == report_id:
        raise ValidationFailed("请选择另一条有效的反映作为原始反映。", code="invalid_duplicate_of")
    if original.status in {REJECTED, WITHDRAWN, DUPLICATE}:
        raise ValidationFailed("原始反映已被驳回、撤回或本身是重复反映。", code="invalid_duplicate_of")
    return _moderate(actor, report_id, expected_version, DUPLICATE, "report.mark_duplicate",
                     duplicate_of_id=duplicate_of_id)


def request_more_information(actor: Actor, report_id: int, *, expected_version: int, message: str) -> Report:
    """Ask the resident for more; the report stays in review and the request shows on its timeline."""
    report = _get_report(report_id)
    if report.version != expected_version:
        raise Conflict("该反映已被其他人处理，请刷新后查看最新状态。", code="report_changed")
    if report.status != PENDING_REVIEW or not message.strip():
        raise Conflict("只能对待审核的反映补充询问，且需填写说明。", code="illegal_transition")
    with _committed_unless_changed():
        report.events.append(ReportEvent(from_status=PENDING_REVIEW, to_status=PENDING_REVIEW, actor_kind="staff",
                                         actor_name=actor.name, note=f"需要您补充信息：{message.strip()[:400]}"))
        _set_flags(report, {*report.flags, "info_requested"})
        record_audit(actor, "report.request_info", "report", report.id, after={"message": message.strip()})
    return report


def record_case_progress(report: Report, note: str, *, actor_name: str | None, visibility: str,
                         staff_note: str | None = None) -> ReportEvent:
    """A step of the case system that leaves the status as it is (立案, 核查…): on the resident's timeline
    ("resident"), as a public reply too ("public", masked), or for staff only ("internal")."""
    if visibility not in EVENT_VISIBILITIES:
        raise ValueError(f"unknown visibility {visibility!r}")
    event = ReportEvent(from_status=report.status, to_status=report.status, actor_kind="case_system",
                        actor_name=actor_name, note=_public_text(note) if visibility == "public" else note[:500],
                        visibility=visibility, staff_note=staff_note[:500] if staff_note else None)
    report.events.append(event)
    return event


def _public_text(note: str) -> str:
    return privacy.mask_personal_data(note)[:500]


def add_case_photos(report: Report, event: ReportEvent, media: list[MediaInfo]) -> None:
    """The case system's photos (a resolution photo) on the timeline step they illustrate. The caller commits."""
    if event.id is None:
        db.session.flush()
    known = {item.media_id for item in report.media}
    position = len(report.media)
    for item in media:
        if item.id not in known:
            report.media.append(ReportMedia(media_id=item.id, kind=item.kind, position=position, purpose="resolution",
                                            sha256=item.sha256, event_id=event.id))
            position += 1
    media_services.attach_media([item.id for item in media], attached_to=f"report:{report.id}")


# --- the public version of photos --------------------------------------------------------------

MAX_BLUR_BOXES = 20


def blur_boxes_from_display(boxes: Any, display_width: float, display_height: float) -> list[list[float]]:
    """Boxes drawn on a photo shown ``display_width`` × ``display_height`` pixels ([[x, y, w, h], …] from its top
    left) as fractions of the photo, clipped to it; anything else is a ValidationFailed naming the problem."""
    problem = None
    if not all(isinstance(size, int | float) and math.isfinite(size) and size > 0
               for size in (display_width, display_height)):
        problem = "the displayed size must be positive"
    elif not isinstance(boxes, list) or len(boxes) > MAX_BLUR_BOXES:
        problem = f"a list of at most {MAX_BLUR_BOXES} boxes"
    elif not all(isinstance(box, list) and len(box) == 4 and all(isinstance(value, int | float)
                                                                    and math.isfinite(value) for value in box)
                 for box in boxes):
        problem = "each box is [x, y, width, height] in pixels"
    if problem:
        raise ValidationFailed("遮挡框无效，请重新绘制。", code="invalid_blur_boxes", details={"boxes": problem})
    fractions = []
    for x, y, w, h in boxes:
        left, top = max(0.0, min(x, x + w) / display_width), max(0.0, min(y, y + h) / display_height)
        right, bottom = min(1.0, max(x, x + w) / display_width), min(1.0, max(y, y + h) / display_height)
        if right > left and bottom > top:
            fractions.append([round(left, 5), round(top, 5), round(right - left, 5), round(bottom - top, 5)])
    return fractions


def set_photo_publication(actor: Actor, report_id: int, media_id: int, *, is_public: bool,
                          blur_boxes: list[list[float]]) -> ReportMedia:
    """A moderator's choice for one of a report's photos: public (as a copy blurred in ``blur_boxes``) or not.

    The copy made for an earlier choice goes at once; a job renders the new one, and until then the photo is not
    public anywhere. Audited; commits."""
    locked = _lock_report_photo(report_id, media_id)
    if locked is None or locked.kind != "photo":
        raise NotFound("该反映没有这张照片。")
    if is_public and media_services.media_info(media_id).status != "ready":
        raise Conflict("照片尚未处理完成，请稍后再公开。", code="media_not_ready")
    before = {"is_public": locked.is_public, "blur_boxes": locked.blur_boxes}
    if locked.public_media_id is not None:
        media_services.delete_media([locked.public_media_id])
    locked.is_public, locked.blur_boxes, locked.public_media_id = is_public, blur_boxes, None
    record_audit(actor, "report.photo_publication", "report", report_id,
                 before=before, after={"media_id": media_id, "is_public": is_public, "blur_boxes": blur_boxes})
    if is_public:
        enqueue_after_commit(citizen_jobs.render_public_photo, report_id, media_id)
    db.session.commit()
    return locked


def _lock_report_photo(report_id: int, media_id: int) -> ReportMedia | None:
    """The photo's row, locked until the transaction ends: a marking and the rendering of a copy one at a time."""
    return db.session.scalars(sa.select(ReportMedia).where(ReportMedia.report_id == report_id,
                                                           ReportMedia.media_id == media_id)
                              .with_for_update().execution_options(populate_existing=True)).one_or_none()


def render_public_photo(report_id: int, media_id: int) -> int | None:
    """Make the blurred copy of a photo marked public, unless it is no longer public or already has one; the copy's
    media id. The photo stays locked meanwhile (a second run waits, then finds the copy made). Commits."""
    locked = _lock_report_photo(report_id, media_id)
    if locked is None or not locked.is_public or locked.public_media_id is not None:
        db.session.rollback()
        return None
    locked.public_media_id = media_services.create_public_copy(media_id, locked.blur_boxes,
                                                               attached_to=f"report:{report_id}")
    db.session.commit()
    return locked.public_media_id


def public_photo_ids(reports: Iterable[Report]) -> dict[int, list[int]]:
    """By report id, the media ids of the public copies of its photos marked public, in order."""
    return {report.id: [item.public_media_id for item in report.media
                        if item.is_public and item.public_media_id is not None] for report in reports}


RESIDENT_CONFLICT = "该反映的状态刚刚发生了变化，请刷新后查看。"


def withdraw_report(resident_id: int, report_id: int) -> Report:
    report = get_resident_report(resident_id, report_id)
    # A moderator may act after the report was read: their change stands, the resident hears so.
    with _committed_unless_changed(RESIDENT_CONFLICT):
        transition(report, WITHDRAWN, actor_kind="resident")
    return report


def rate_report(resident_id: int, report_id: int, *, rating: int, comment: str) -> Report:
    report = get_resident_report(resident_id, report_id)
    if report.status not in {RESOLVED, CLOSED}:
        raise Conflict("问题处置完成后才能评价。", code="not_resolved", details={"status": report.status})
    if report.rating is not None:
        raise Conflict("您已评价过该反映。", code="already_rated")
    with _committed_unless_changed(RESIDENT_CONFLICT):
        report.rating, report.rating_comment, report.rated_at = rating, comment.strip() or None, utcnow()
        publish(REPORT_RATED, report.id)
    return report


# --- reading reports -----------------------------------------------------------------------

def _get_report(report_id: int) -> Report:
    return get_or_not_found(Report, report_id, "反映不存在。")


def get_report(report_id: int) -> Report:
    return _get_report(report_id)


# A report's sensitive fields, shown masked in the admin, and the role that may see each in the clear: the rating
# comment is read by those who moderate; the submitter's address is for an administrator handling abuse (the
# moderators' burst signal compares addresses without showing them).
REVEALABLE_REPORT_FIELDS = {"rating_comment": "moderator", "submitted_ip": "admin"}


def reveal_report_field(actor: Actor, report_id: int, field: str) -> str | None:
    """The clear value of one of REVEALABLE_REPORT_FIELDS, audited. The caller checks the role and commits."""
    report = _get_report(report_id)
    value = getattr(report, field)
    return None if value is None else reveal_sensitive(actor, "report", report_id, field, value)


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


# --- figures for other packages (read-only) -----------------------------------------------

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
    return sa.select(Report.id, Report.created_at, Report.category_id, Report.district, Report.status, Report.lat,
                     Report.lng, sa.case((Report.status == CLOSED, closed_at)).label("closed_at"), Report.rating,
                     Report.rated_at, Report.updated_at)


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


def report_id_digests(first_id: int, last_id: int, *, bucket: int) -> dict[int, tuple[int, int]]:
    """The reports with ids in [first_id, last_id], per bucket of ids: (how many, sum of ids); see core.db.id_digests."""
    return id_digests(Report.id, first_id, last_id, bucket=bucket)


# Ids looked up per statement: well under every database's limit of bound values.
_IDS_PER_LOOKUP = 1000


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


# --- the moderation queue ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QueueFilter:
    status: str | None = PENDING_REVIEW
    category_id: str | None = None
    district: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    flag: str | None = None

    @property
    def narrows_counts(self) -> bool:
        """Whether a filter other than the status applies (the counts are per status)."""
        return any((self.category_id, self.district, self.since, self.until, self.flag))


def _filtered(query: sa.Select[Any], filters: QueueFilter, *, with_status: bool = True) -> sa.Select[Any]:
    if with_status and filters.status:
        query = query.where(Report.status == filters.status)
    if filters.category_id:
        query = query.where(Report.category_id == filters.category_id)
    if filters.district:
        query = query.where(Report.district == filters.district)
    if filters.since:
        query = query.where(Report.created_at >= filters.since)
    if filters.until:
        query = query.where(Report.created_at < filters.until)
    if filters.flag:
        query = query.where(Report.id.in_(sa.select(ReportFlag.report_id).where(ReportFlag.flag == filters.flag)))
    return query


def moderation_queue(filters: QueueFilter, *, after: tuple[dt.datetime, int] | None, limit: int = 50,
                     ) -> list[Report]:
    """Oldest first, keyset-paginated on (created_at, id) so that page 1,000 costs what page 1 does."""
    query = _filtered(sa.select(Report), filters)
    if after is not None:
        query = query.where(sa.tuple_(Report.created_at, Report.id) > sa.tuple_(*after))
    return list(db.session.scalars(query.order_by(Report.created_at, Report.id).limit(limit)))


def status_counts(filters: QueueFilter) -> dict[str, int]:
    """Reports per status: without other filters from the kept totals (a few rows), else counted."""
    if filters.narrows_counts:
        rows = db.session.execute(_filtered(sa.select(Report.status, sa.func.count()), filters, with_status=False)
                                  .group_by(Report.status))
    else:
        rows = db.session.execute(sa.select(ReportStatusCount.status, sa.func.sum(ReportStatusCount.total))
                                  .group_by(ReportStatusCount.status))
    counts = dict.fromkeys(STATUS_NAMES, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


def rejection_templates(*, include_inactive: bool = False) -> list[RejectionTemplate]:
    query = sa.select(RejectionTemplate).order_by(RejectionTemplate.sort_order, RejectionTemplate.id)
    if not include_inactive:
        query = query.where(RejectionTemplate.is_active.is_(True))
    return list(db.session.scalars(query))


def save_rejection_template(actor: Actor, *, template_id: int | None, title: str, text: str,
                            is_active: bool) -> RejectionTemplate:
    title, text = title.strip(), text.strip()
    if not title or not text or len(title) > 64 or len(text) > 500:
        raise ValidationFailed("标题（≤ 64 字）和理由（≤ 500 字）都不能为空。", code="invalid_template")
    template = get_row(RejectionTemplate, template_id) if template_id else None
    if template_id and template is None:
        raise NotFound("驳回理由不存在。")
    values = dict(title=title, text=text, is_active=is_active)
    if template is None:
        # Written whole: its title and text are NOT NULL, and the audit needs its id.
        template = RejectionTemplate(sort_order=100, **values)
        db.session.add(template)
        db.session.flush()
        record_audit(actor, "rejection_template.save", "rejection_template", template.id, after=values)
    else:
        change_audited(actor, "rejection_template.save", "rejection_template", template, **values)
    return template


# --- automatic checks (flags for staff, never a silent rejection) --------------------------

@dataclasses.dataclass(frozen=True)
class DuplicateCandidate:
    report: Report
    distance_m: float
    photo_distance: int | None  # Hamming distance of the closest pair of photo hashes (0–64)


def duplicate_candidates(report: Report, settings: Config, limit: int = 10) -> list[DuplicateCandidate]:
    """Open reports of the same category nearby and recent, nearest and most alike first."""
    since = report.created_at - dt.timedelta(days=settings.duplicate_window_days)
    south, west, north, east = bounding_box(report.lat, report.lng, settings.duplicate_radius_m)
    nearby = db.session.execute(sa.select(Report.id, Report.lat, Report.lng).where(
        Report.id != report.id, Report.category_id == report.category_id, Report.created_at >= since,
        Report.status.notin_(CLOSED_FOR_DUPLICATES), Report.lat.between(south, north), Report.lng.between(west, east)))
    distances = {other_id: distance for other_id, lat, lng in nearby
                 if (distance := haversine_m(report.lat, report.lng, lat, lng)) <= settings.duplicate_radius_m}
    their_hashes: dict[int, list[str]] = {}
    if distances:
        rows = db.session.execute(sa.select(ReportMedia.report_id, ReportMedia.phash).where(
            ReportMedia.report_id.in_(distances), ReportMedia.kind == "photo", ReportMedia.phash.is_not(None)))
        for other_id, phash in rows:
            their_hashes.setdefault(other_id, []).append(phash)
    own_hashes = _photo_hashes(report)
    photo_distances = {other_id: _closest_hash_distance(own_hashes, their_hashes.get(other_id, []))
                       for other_id in distances}

    def score(other_id: int) -> float:
        photo_distance = photo_distances[other_id]
        return (distances[other_id] / settings.duplicate_radius_m
                + (photo_distance if photo_distance is not None else 32) / 64)

    best = sorted(distances, key=score)[:limit]
    if not best:
        return []
    reports = {other.id: other for other in db.session.scalars(sa.select(Report).where(Report.id.in_(best)))}
    return [DuplicateCandidate(reports[other_id], distances[other_id], photo_distances[other_id]) for other_id in best]


def _photo_hashes(report: Report) -> list[str]:
    return [item.phash for item in report.media if item.kind == "photo" and item.phash]


def _closest_hash_distance(ours: list[str], theirs: list[str]) -> int | None:
    pairs = [(int(a, 16) ^ int(b, 16)).bit_count() for a in ours for b in theirs]
    return min(pairs) if pairs else None


def run_checks(report_id: int, settings: Config, screen_text: Callable[[str], bool | None] | None = None) -> Report:
    """Flags for the moderator: possible duplicates, reused photos, evidence far away or old, risky text.

    ``screen_text`` is a content check (WeChat's, when configured) answering True for risky text, and None
    when it gave no answer: the checks stay pending for the sweep to run them again, and a flag from an
    earlier answer stays.
    """
    report = _get_report(report_id)
    media = [media_services.media_info(item.media_id) for item in report.media]
    flags_before = report.flags
    verdict = screen_text(report.description) if screen_text is not None else False
    _apply_checks(report, media, settings,
                  text_flagged=verdict if verdict is not None else "text_flagged" in flags_before,
                  checks_pending=verdict is None or _any_unprocessed(media))
    if report.flags != flags_before:
        # Listeners that decided on the flags (a reward held while the checks were pending) decide again.
        publish(REPORT_FLAGS_CHANGED, report.id)
    db.session.commit()
    return report


def _any_unprocessed(media: list[MediaInfo]) -> bool:
    return any(item.status == "processing" for item in media)


def requeue_pending_checks(now: dt.datetime | None = None) -> int:
    """Queue the checks again of reports still waiting for them after CHECKS_OVERDUE_AFTER: their job was
    lost with Redis or a worker, or ran while a photo was still being processed or the text check gave no
    answer. Commits."""
    overdue = (now or utcnow()) - CHECKS_OVERDUE_AFTER
    report_ids = db.session.scalars(
        sa.select(ReportFlag.report_id).join(Report, Report.id == ReportFlag.report_id)
        .where(ReportFlag.flag == CHECKS_PENDING, Report.created_at < overdue)
        .order_by(ReportFlag.report_id).limit(CHECKS_REQUEUE_BATCH)).all()
    for report_id in report_ids:
        enqueue_after_commit(citizen_jobs.check_report, report_id)
    db.session.commit()
    stuck = stuck_checks(now)
    if stuck.count:
        log.error("report checks stuck", extra={"reports": stuck.count_shown,
                                                "oldest_filed_at": stuck.oldest_filed_at.isoformat()})
    return len(report_ids)


@dataclasses.dataclass(frozen=True)
class StuckChecks:
    count: int  # at most STUCK_CHECKS_COUNTED
    oldest_filed_at: dt.datetime | None

    @property
    def pending_for_hours(self) -> int:
        return int(CHECKS_STUCK_AFTER / dt.timedelta(hours=1))

    @property
    def count_shown(self) -> str:
        return f"{self.count}+" if self.count >= STUCK_CHECKS_COUNTED else str(self.count)


def stuck_checks(now: dt.datetime | None = None) -> StuckChecks:
    """The reports whose checks have been pending for longer than CHECKS_STUCK_AFTER (counted up to
    STUCK_CHECKS_COUNTED), and when the oldest of them was filed."""
    stuck = (sa.select(Report.created_at).join(ReportFlag, ReportFlag.report_id == Report.id)
             .where(ReportFlag.flag == CHECKS_PENDING, Report.created_at < (now or utcnow()) - CHECKS_STUCK_AFTER)
             .order_by(Report.created_at).limit(STUCK_CHECKS_COUNTED).subquery())
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(stuck.c.created_at))).one()
    return StuckChecks(count, oldest)


def _apply_checks(report: Report, media: list[MediaInfo], settings: Config, *, text_flagged: bool = False,
                  checks_pending: bool = False) -> None:
    """Set the report's flags and checks from its media and the reports already filed (no commit).

    Works on a report not yet added to the session too: the id it lacks excludes nothing.
    """
    flags: set[str] = set(report.flags) & {"info_requested"}
    checks: dict[str, Any] = {}
    hashes = {info.id: info.perceptual_hash for info in media}
    for item in report.media:
        item.phash = hashes.get(item.media_id)

    candidates = duplicate_candidates(report, settings)
    if candidates:
        flags.add("possible_duplicate")
        checks["duplicates"] = [{"report_id": c.report.id, "distance_m": round(c.distance_m, 1),
                                 "photo_distance": c.photo_distance} for c in candidates]
    reused = _reused_photos(report)
    if reused:
        flags.add("photo_seen_before")
        checks["photo_seen_before"] = reused

    evidence = []
    for info in media:
        entry: dict[str, Any] = {"media_id": info.id}
        if info.gps is not None:
            entry["distance_m"] = round(haversine_m(report.lat, report.lng, *info.gps), 1)
            if entry["distance_m"] > settings.evidence_max_distance_m:
                flags.add("evidence_far_away")
        if info.taken_at is not None:
            entry["age_hours"] = round((report.created_at - info.taken_at).total_seconds() / 3600, 1)
            if entry["age_hours"] > settings.evidence_max_age_days * 24:
                flags.add("evidence_old")
        if len(entry) > 1:
            evidence.append(entry)
    if evidence:
        checks["evidence"] = evidence

    if text_flagged:
        flags.add("text_flagged")
    if checks_pending:
        flags.add(CHECKS_PENDING)
    report.checks = checks
    _set_flags(report, flags)


def _set_flags(report: Report, flags: set[str]) -> None:
    """The flags as shown (report.flags) and as the queue filters on them (ReportFlag rows), together."""
    report.flags = sorted(flags)
    kept = [row for row in report.flag_rows if row.flag in flags]
    report.flag_rows = kept + [ReportFlag(flag=flag) for flag in report.flags
                               if flag not in {row.flag for row in kept}]


def _reused_photos(report: Report) -> list[dict[str, Any]]:
    """The same bytes, or a near-identical picture, already on another report."""
    photos = [item for item in report.media if item.kind == "photo"]
    same = sa.or_(ReportMedia.sha256.in_({item.sha256 for item in photos}),
                  ReportMedia.phash.in_({item.phash for item in photos if item.phash}))
    rows = db.session.execute(sa.select(ReportMedia.report_id, ReportMedia.media_id, ReportMedia.sha256)
                              .where(same, ReportMedia.report_id != report.id).limit(20))
    own_bytes = {item.sha256 for item in photos}
    return [{"report_id": other, "media_id": media_id, "match": "identical" if sha256 in own_bytes else "similar"}
            for other, media_id, sha256 in rows]


# --- read-only facts for other packages -----------------------------------------------------

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
    return _get_report(report_id).created_at


def report_facts(report_id: int, *, burst_window: dt.timedelta) -> ReportFacts:
    report = _get_report(report_id)
    own_photos = sa.select(ReportMedia).where(ReportMedia.report_id == report.id, ReportMedia.kind == "photo").subquery()
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


# --- residents' data rights (PIPL) ---------------------------------------------------------

FORGOTTEN_OPENID_PREFIX = "forgotten:"
# The account of an Open311 client (cases.open311) filing reports through the API: the client's name after this.
API_CLIENT_OPENID_PREFIX = "open311:"
# Reports that became the city's cases are kept, anonymised; the rest go with the resident.
CASE_STATUSES = (ACCEPTED, FORWARDED, IN_PROGRESS, RESOLVED, CLOSED)
FINISHED_STATUSES = (REJECTED, WITHDRAWN, DUPLICATE, CLOSED)


def is_forgotten(resident: Resident) -> bool:
    return resident.forgotten_at is not None


def check_resident_may_act(resident_id: int) -> None:
    """For core.auth: a token stops working once its resident is blocked or forgotten."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or is_forgotten(resident):
        raise Unauthorized("登录凭证无效，请重新登录。", code="invalid_token")
    if resident.is_blocked:
        raise Forbidden("该账号已被停用。", code="resident_blocked")


def export_resident_data(resident_id: int) -> list[dict[str, Any]]:
    """The resident's reports with their timelines and the ids of their media."""
    reports = db.session.scalars(sa.select(Report).where(Report.resident_id == resident_id).order_by(Report.id))
    return [{**row_dict(report, exclude=("resident_id", "request_fingerprint", "checks", "flags", "reviewed_by",
                                         "submitted_ip_digest")),
             "category_name": report.category.name,
             "media": [row_dict(item, exclude=("report_id", "phash")) for item in report.media],
             "timeline": [row_dict(event, exclude=("report_id", "actor_name", "staff_note"))
                          for event in timeline(report)]}
            for report in reports]


def export_resident(resident_id: int) -> dict[str, Any]:
    """Everything every package holds about the resident, as one JSON document."""
    resident = get_resident(resident_id)
    return {
        "exported_at": utcnow().isoformat(),
        "resident": row_dict(resident, exclude=("is_blocked", "openid_digest", "unionid_digest", "forgotten_at")),
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
    reports = db.session.scalars(sa.select(Report).where(Report.resident_id == resident_id)).all()
    gone = [report.id for report in reports if report.status not in CASE_STATUSES]
    if gone:
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
        report.submitted_ip, report.rating_comment = None, None
        report.events.append(ReportEvent(from_status=report.status, to_status=report.status, actor_kind="system",
                                         note="反映人已注销账户，个人信息已删除。"))
    resident = get_resident(resident_id)
    resident.openid, resident.unionid = f"{FORGOTTEN_OPENID_PREFIX}{resident.id}", None
    resident.last_login_at, resident.forgotten_at = None, utcnow()


def forget_resident_everywhere(resident_id: int) -> None:
    """``DELETE /api/v1/me``: every package forgets the resident; this package's own records go last. Commits."""
    # One erasure at a time: another at once (a double tap) waits here, then finds nothing left to forget.
    resident = db.session.get(Resident, resident_id, with_for_update=True, populate_existing=True)
    if resident is None:
        raise NotFound("用户不存在。")
    if is_forgotten(resident):
        db.session.rollback()
        return
    for package, services in privacy.data_holders():
        if package != "citizen":
            services.forget_resident(resident_id)
    forget_resident(resident_id)
    db.session.commit()
    log.info("resident forgotten", extra={"resident_id": resident_id})


@dataclasses.dataclass(frozen=True)
class RetentionOutcome:
    residents_forgotten: int
    ip_addresses_cleared: int
    report_media_deleted: int


def enforce_retention(settings: Config, now: dt.datetime | None = None) -> RetentionOutcome:
    """What the retention periods say must go, goes: IP addresses of old reports, media of long-finished
    reports, and residents who have not signed in for the configured time. Commits."""
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
    db.session.commit()
    inactive_cutoff = now - dt.timedelta(days=settings.retention_inactive_resident_days)
    inactive = db.session.scalars(sa.select(Resident.id).where(
        Resident.forgotten_at.is_(None),
        sa.func.coalesce(Resident.last_login_at, Resident.created_at) < inactive_cutoff)).all()
    for resident_id in inactive:
        forget_resident_everywhere(resident_id)
    return RetentionOutcome(len(inactive), cleared, len(expired))


# Imported last: the cases package reads this module's lifecycle when it loads, and accepting a
# report writes its forwarding record through cases.services.open_delivery.
from cases import services as case_services  # noqa: E402
