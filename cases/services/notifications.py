"""Resident notifications: WeChat subscribe messages about their reports' status, as far as they consented."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cases.models import Notification, SubscribeGrant
from cases.services.outbox import (COALESCED, DONE, FAILED, PENDING, RETRYING, SKIPPED, claim, finish,
                                   retry_later)
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
    """A subscribe message for each status change of the report not yet considered, to its reporter and to each
    follower (from when they followed), as far as each one's permissions go (the rest are skipped). A change whose
    resident still has a message of the report waiting replaces it (coalesced): one permission, the latest state.
    Listens to report.status_changed."""
    template_id = settings.wechat_status_template_id
    if not template_id:
        return 0
    report = citizen_services.get_report(report_id)
    considered = set(db.session.execute(sa.select(Notification.report_event_id, Notification.resident_id)
                                        .where(Notification.report_id == report_id)).all())
    recipients = [(report.resident_id, None, citizen_services.timeline(report))]
    follower_events = citizen_services.follower_timeline(report)
    recipients += [(follower.resident_id, follower.created_at, follower_events)
                   for follower in citizen_services.followers_of(report_id)]
    queued = 0
    for resident_id, since, events in recipients:
        for event in events:
            if ((event.id, resident_id) in considered or event.from_status in (None, event.to_status)
                    or event.to_status not in NOTIFIED_STATUSES or (since is not None and event.occurred_at < since)):
                continue
            queued += _queue_one(report, event, resident_id, settings)
    return queued


def _waiting(report_id: int, resident_id: int) -> Notification | None:
    return db.session.scalar(sa.select(Notification).where(
        Notification.report_id == report_id, Notification.resident_id == resident_id,
        Notification.status.in_((PENDING, RETRYING))).order_by(Notification.id.desc()).limit(1))


def _queue_one(report: Any, event: Any, resident_id: int, settings: CaseSettings) -> int:
    """The message of one change to one resident: replacing the one still waiting, else on a permission of its
    own, else skipped. 1 when a send was queued now."""
    template_id = settings.wechat_status_template_id
    now = utcnow()
    waiting = _waiting(report.id, resident_id)
    due = now + dt.timedelta(seconds=settings.wechat_status_coalesce_seconds)
    try:
        with db.session.begin_nested():
            notification = Notification(
                report_event_id=event.id, report_id=report.id, resident_id=resident_id, template_id=template_id,
                status=PENDING, attempts=0, next_attempt_at=waiting.next_attempt_at if waiting else due,
                data=_message_data(_message_values(report, event), settings.wechat_status_template_fields))
            db.session.add(notification)
            db.session.flush()
            # Changed in SQL on its state: a send that claimed the waiting one meanwhile keeps it.
            replaced = waiting is not None and db.session.execute(sa.update(Notification).where(
                Notification.id == waiting.id, Notification.status.in_((PENDING, RETRYING))).values(
                status=COALESCED, coalesced_into_id=notification.id, next_attempt_at=now,
                last_error=f"replaced by the newer change of notification {notification.id}")).rowcount == 1
            if not replaced and not _use_permission(resident_id, template_id):
                notification.status, notification.last_error = SKIPPED, "no subscription left"
    except IntegrityError:
        return 0  # Another job considered this change first.
    if notification.status != PENDING or notification.next_attempt_at > now:
        return 0  # Skipped, or sent by the sweep once its coalescing window is over.
    notification.enqueued_at = now
    enqueue_after_commit("cases.jobs.send_notification", notification.id)
    return 1


def _use_permission(resident_id: int, template_id: str) -> bool:
    return db.session.execute(sa.update(SubscribeGrant).where(
        SubscribeGrant.resident_id == resident_id, SubscribeGrant.template_id == template_id,
        SubscribeGrant.remaining > 0).values(remaining=SubscribeGrant.remaining - 1)).rowcount == 1


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


