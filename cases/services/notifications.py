"""Resident notifications: WeChat subscribe messages about their reports' status, as far as they consented."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cases.models import Notification, SubscribeGrant
from cases.services.outbox import DONE, FAILED, PENDING, SKIPPED, claim, finish, retry_later
from cases.settings import CaseSettings
from citizen import services as citizen_services
from core.db import db, utcnow
from core.errors import ValidationFailed
from core.jobs import enqueue_after_commit

SHANGHAI = ZoneInfo("Asia/Shanghai")

NOTIFIED_STATUSES = (citizen_services.ACCEPTED, citizen_services.REJECTED, citizen_services.DUPLICATE,
                     citizen_services.FORWARDED, citizen_services.IN_PROGRESS, citizen_services.RESOLVED,
                     citizen_services.CLOSED)
# WeChat's limits per data key type: thing ≤ 20 characters, phrase ≤ 5, character_string ≤ 32.
_FIELD_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "name": 10}
# WeChat errcodes that sending again cannot fix: no subscription left / refused, bad openid, bad data.
_PERMANENT_WECHAT_ERRORS = {43101, 40003, 47003, 40037}


def record_subscriptions(resident_id: int, results: dict[str, str], template_id: str | None) -> dict[str, int]:
    """What wx.requestSubscribeMessage answered ({template_id: "accept"|"reject"|"ban"}): each accept allows
    one more message of that template. Only the configured template (``template_id``) counts."""
    unknown = sorted(key for key in results if key != template_id)
    if unknown:
        raise ValidationFailed("未知的订阅消息模板。", code="unknown_template", details={"template_ids": unknown})
    remaining = {}
    for template, answer in results.items():
        ours = (SubscribeGrant.resident_id == resident_id, SubscribeGrant.template_id == template)
        if db.session.scalar(sa.select(SubscribeGrant.id).where(*ours)) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(SubscribeGrant(resident_id=resident_id, template_id=template, remaining=0))
            except IntegrityError:
                pass  # A consent posted at the same moment created it first.
        # Changed in SQL, not read and written back: consents posted at once, and messages using them up, all count.
        if answer == "accept":
            db.session.execute(sa.update(SubscribeGrant).where(*ours).values(remaining=SubscribeGrant.remaining + 1))
        elif answer == "ban":
            db.session.execute(sa.update(SubscribeGrant).where(*ours).values(remaining=0))
        remaining[template] = db.session.scalar(sa.select(SubscribeGrant.remaining).where(*ours))
    return remaining


def _message_values(report: Any, event: Any) -> dict[str, str]:
    return {"report_no": str(report.id), "category": report.category.name,
            "status": citizen_services.STATUS_NAMES[event.to_status],
            "time": event.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"), "note": event.note}


def _message_data(values: dict[str, str], fields: tuple[tuple[str, str], ...]) -> dict[str, dict[str, str]]:
    data = {}
    for key, name in fields:
        kind = key.rstrip("0123456789")
        text = values.get(name, "")
        limit = _FIELD_LIMITS.get(kind)
        if limit is not None and len(text) > limit:
            text = text[:limit - 1] + "…"
        data[key] = {"value": text}
    return data


def queue_notifications(report_id: int, settings: CaseSettings) -> int:
    """A subscribe message for each status change of the report not yet considered, as far as the
    resident's subscriptions go (the rest are skipped). Listens to report.status_changed."""
    template_id = settings.wechat_status_template_id
    if not template_id:
        return 0
    report = citizen_services.get_report(report_id)
    known = set(db.session.scalars(sa.select(Notification.report_event_id).where(Notification.report_id == report_id)))
    queued = 0
    for event in citizen_services.timeline(report):
        if (event.id in known or event.from_status in (None, event.to_status)
                or event.to_status not in NOTIFIED_STATUSES):
            continue
        try:
            with db.session.begin_nested():
                granted = db.session.execute(sa.update(SubscribeGrant).where(
                    SubscribeGrant.resident_id == report.resident_id, SubscribeGrant.template_id == template_id,
                    SubscribeGrant.remaining > 0).values(remaining=SubscribeGrant.remaining - 1)).rowcount == 1
                notification = Notification(
                    report_event_id=event.id, report_id=report.id, resident_id=report.resident_id,
                    template_id=template_id, status=PENDING if granted else SKIPPED,
                    last_error=None if granted else "no subscription left", attempts=0,
                    data=_message_data(_message_values(report, event), settings.wechat_status_template_fields),
                    enqueued_at=utcnow())
                db.session.add(notification)
        except IntegrityError:
            continue  # Another job considered this change first.
        if granted:
            enqueue_after_commit("cases.jobs.send_notification", notification.id)
            queued += 1
    return queued


def send_notification(notification_id: int, wechat: Any, settings: CaseSettings) -> str | None:
    """Send one subscribe message; a failure is retried later and never touches the report."""
    from wechatpy.exceptions import WeChatClientException

    now = utcnow()
    notification = claim(Notification, notification_id, now, settings)
    if notification is None:
        return None
    if wechat is None:
        finish(notification, FAILED, "WeChat is not configured")
        return notification.status
    resident = citizen_services.get_resident(notification.resident_id)
    page = f"{settings.wechat_status_page}?id={notification.report_id}"
    try:
        wechat.send_subscribe_message(resident.openid, notification.template_id, notification.data, page)
    except WeChatClientException as exc:
        error = f"errcode {exc.errcode}: {exc.errmsg}"
        if exc.errcode in _PERMANENT_WECHAT_ERRORS:
            finish(notification, FAILED, error)
        else:
            retry_later(notification, error, now, settings)
    except requests.RequestException as exc:
        retry_later(notification, f"unreachable: {type(exc).__name__}", now, settings)
    else:
        finish(notification, DONE)
        notification.sent_at = now
    db.session.flush()
    return notification.status


def notifications_for(report_id: int) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.report_id == report_id)
                                   .order_by(Notification.id)))


