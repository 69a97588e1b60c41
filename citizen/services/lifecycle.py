"""A report's lifecycle: its status changes, what the resident and the public are told, the case system's steps,
and what the resident may still do (withdraw, rate)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.orm.exc import StaleDataError

from citizen.facts import (ACCEPTED, CLOSED, DUPLICATE, FORWARDED, IN_PROGRESS, PENDING_REVIEW, REJECTED,
                           REOPENED_TO, RESOLVED, STATUS_NAMES, TRANSITIONS, WITHDRAWN)
from citizen.models import EVENT_VISIBILITIES, Report, ReportEvent, ReportMedia
from citizen.services.reading import get_resident_report
from core import privacy
from core.db import db, utcnow
from core.errors import Conflict
from core.events import REPORT_RATED, REPORT_STATUS_CHANGED, publish
from media import services as media_services
from media.services import MediaInfo

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


def transition(report: Report, to_status: str, *, actor_kind: str, actor_name: str | None = None,
               note: str | None = None, expected_version: int | None = None, public_reply: bool = False,
               staff_note: str | None = None, reopening: bool = False) -> ReportEvent:
    """Move a report along its lifecycle; anything the lifecycle does not allow is refused here. Only the
    resident's ``reopening`` moves a closed report back (to REOPENED_TO): no case system's update can.

    ``note`` is what the resident reads (by default the status's standard text); as a ``public_reply`` the public
    reads it too, masked. ``staff_note`` stays with staff."""
    if expected_version is not None and report.version != expected_version:
        raise Conflict("该反映已被其他人处理，请刷新后查看最新状态。", code="report_changed",
                       details={"status": report.status})
    allowed = TRANSITIONS.get(report.status, set())
    if reopening and report.status == CLOSED:
        allowed = allowed | {REOPENED_TO}
    if to_status not in allowed:
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


@contextlib.contextmanager
def written_unless_changed(message: str = "该反映已被其他审核员处理，请刷新后查看。") -> Iterator[None]:
    """Write (flush) what the block changes in a report, unless another request changed the report since it was
    read: its version moved on, found at this flush or at any before it (a lazy load inside the block flushes).
    Then nothing is applied and the caller gets a conflict instead of a 500. The unit of work commits the rest."""
    try:
        yield
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(message, code="report_changed") from None


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


def add_case_photos(report: Report, event: ReportEvent, media: list[MediaInfo], *,
                    purpose: str = "resolution") -> None:
    """Photos (the case system's resolution photo; a resident's reply or reopening) on the timeline step they
    illustrate."""
    if event.id is None:
        db.session.flush()
    known = {item.media_id for item in report.media}
    position = len(report.media)
    for item in media:
        if item.id not in known:
            report.media.append(ReportMedia(media_id=item.id, kind=item.kind, position=position, purpose=purpose,
                                            sha256=item.sha256, phash=item.perceptual_hash, event_id=event.id))
            position += 1
    media_services.attach_media([item.id for item in media], attached_to=f"report:{report.id}")


RESIDENT_CONFLICT = "该反映的状态刚刚发生了变化，请刷新后查看。"


def withdraw_report(resident_id: int, report_id: int) -> Report:
    report = get_resident_report(resident_id, report_id)
    # A moderator may act after the report was read: their change stands, the resident hears so.
    with written_unless_changed(RESIDENT_CONFLICT):
        transition(report, WITHDRAWN, actor_kind="resident")
    return report


def check_ratable(report: Report, earlier_rating: int | None) -> None:
    """A resident rates a report once, after it was resolved."""
    if report.status not in {RESOLVED, CLOSED}:
        raise Conflict("问题处置完成后才能评价。", code="not_resolved", details={"status": report.status})
    if earlier_rating is not None:
        raise Conflict("您已评价过该反映。", code="already_rated")


def rate_report(resident_id: int, report_id: int, *, rating: int, comment: str) -> Report:
    report = get_resident_report(resident_id, report_id)
    check_ratable(report, report.rating)
    with written_unless_changed(RESIDENT_CONFLICT):
        report.rating, report.rating_comment, report.rated_at = rating, comment.strip() or None, utcnow()
        publish(REPORT_RATED, report.id)
    return report
