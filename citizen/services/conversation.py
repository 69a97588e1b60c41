"""The resident's side of a conversation about their report: answering a moderator's request for information, and
reopening a closed report they are unhappy with."""

from __future__ import annotations

import datetime as dt

from citizen.facts import CLOSED, PENDING_REVIEW, REOPENED_TO, is_reopening
from citizen.models import Report, ReportEvent
from citizen.settings import CitizenSettings
from citizen.services.checks import INFO_REQUESTED, INFO_SUPPLIED, set_flags
from citizen.services.lifecycle import RESIDENT_CONFLICT, add_case_photos, transition, written_unless_changed
from citizen.services.reading import get_resident_report
from citizen.services.submission import check_resident_media, refuse_media_in_use
from core.db import db, utcnow
from core.errors import Conflict, ValidationFailed
from core.events import REPORT_REOPENED, emit
from core.jobs import enqueue_after_commit
from core.services import Actor, record_audit
from media import services as media_services
from media.services import MediaInfo

REPLY_PURPOSE, REOPEN_PURPOSE = "reply", "reopen"


def _resident_actor(resident_id: int) -> Actor:
    return Actor(None, f"resident:{resident_id}")


def _required_text(text: str, field: str, message: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationFailed(message, code=f"{field}_required", details={"fields": {field: ["must not be blank"]}})
    return text[:500]


def _resident_media(resident_id: int, report: Report, media_ids: tuple[int, ...]) -> list[MediaInfo]:
    media = check_resident_media(resident_id, media_ids, min_photos=0)
    in_use = media_services.media_in_use(media, attaching_to=f"report:{report.id}")
    if in_use:
        refuse_media_in_use(in_use)
    return media


def _with_media(report: Report, event: ReportEvent, media: list[MediaInfo], purpose: str) -> None:
    db.session.flush()
    if media:
        add_case_photos(report, event, media, purpose=purpose)


def reply_to_information_request(resident_id: int, report_id: int, *, text: str,
                                 media_ids: tuple[int, ...] = ()) -> Report:
    """The resident's answer to 要求补充信息 (text, and photos or a voice message): on the timeline, the report back in
    the moderators' queue flagged 已补充 (INFO_SUPPLIED), its checks run again on the new photos."""
    report = get_resident_report(resident_id, report_id)
    text = _required_text(text, "text", "请填写补充说明。")
    if report.status != PENDING_REVIEW or INFO_REQUESTED not in report.flags:
        raise Conflict("该反映当前不需要补充信息。", code="no_information_requested",
                       details={"status": report.status})
    media = _resident_media(resident_id, report, media_ids)
    with written_unless_changed(RESIDENT_CONFLICT):
        event = ReportEvent(from_status=PENDING_REVIEW, to_status=PENDING_REVIEW, actor_kind="resident", note=text)
        report.events.append(event)
        _with_media(report, event, media, REPLY_PURPOSE)
        set_flags(report, (set(report.flags) - {INFO_REQUESTED}) | {INFO_SUPPLIED})
        record_audit(_resident_actor(resident_id), "report.reply", "report", report.id,
                     after={"event_id": event.id, "media_ids": [item.id for item in media]})
    if media:
        enqueue_after_commit("citizen.jobs.check_report", report.id)
    return report


def resident_messages(report: Report) -> list[ReportEvent]:
    """What the resident said after filing: replies to a request for information, and reopenings."""
    return [event for event in report.events if event.actor_kind == "resident"
            and (event.from_status == event.to_status or is_reopening(event))]


def closed_at(report: Report) -> dt.datetime | None:
    return next((event.occurred_at for event in reversed(report.events) if event.to_status == CLOSED), None)


def reopen_count(report: Report) -> int:
    return sum(1 for event in report.events if is_reopening(event))


def reopen_report(resident_id: int, report_id: int, *, reason: str, media_ids: tuple[int, ...] = (),
                  settings: CitizenSettings, now: dt.datetime | None = None) -> Report:
    """A closed report the resident is unhappy with goes back to be handled (REOPENED_TO) with their reason and
    photos, within ``settings.reopen_window_days`` of closing and at most ``settings.reopens_per_report`` times;
    the case system hears of it in this transaction (the REPORT_REOPENED handlers: the desk's rework, an outbox
    row for the others)."""
    report = get_resident_report(resident_id, report_id)
    reason = _required_text(reason, "reason", "请填写重新办理的理由。")
    if report.status != CLOSED:
        raise Conflict("只有已结案的反映可以申请重新办理。", code="not_closed", details={"status": report.status})
    closed = closed_at(report)
    deadline = (closed or report.updated_at) + dt.timedelta(days=settings.reopen_window_days)
    if (now or utcnow()) > deadline:
        raise Conflict(f"已超过结案后 {settings.reopen_window_days} 天的重新办理期限。", code="reopen_window_passed",
                       details={"closed_at": closed.isoformat() if closed else None, "deadline": deadline.isoformat()})
    sequence = reopen_count(report) + 1
    if sequence > settings.reopens_per_report:
        raise Conflict(f"每条反映最多可申请重新办理 {settings.reopens_per_report} 次。", code="reopen_limit_reached",
                       details={"reopens": sequence - 1})
    media = _resident_media(resident_id, report, media_ids)
    with written_unless_changed(RESIDENT_CONFLICT):
        event = transition(report, REOPENED_TO, actor_kind="resident", note=f"您已申请重新办理：{reason}",
                           reopening=True)
        _with_media(report, event, media, REOPEN_PURPOSE)
        record_audit(_resident_actor(resident_id), "report.reopen", "report", report.id,
                     after={"sequence": sequence, "reason": reason, "media_ids": [item.id for item in media]})
        emit(REPORT_REOPENED, report_id=report.id, reason=reason, sequence=sequence)
    return report
