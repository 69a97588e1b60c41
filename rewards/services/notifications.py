"""WeChat Pay's notifications that a bill is final: verified, applied once."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.db import db, utcnow
from core.errors import AppError
from rewards.models import Payout, PayoutNotification
from rewards.services.ledger import lock
from rewards.services.payouts import apply_bill_state
from rewards.settings import RewardSettings
from rewards.wechatpay import TRANSFER_FINISHED_EVENT, TransferGateway

log = logging.getLogger(__name__)


class NotificationRefused(AppError):
    status = 401
    code = "notification_refused"


def handle_notification(headers: Mapping[str, str], body: bytes, gateway: TransferGateway, settings: RewardSettings,
                        now: dt.datetime | None = None) -> str:
    """Apply a verified MCHTRANSFER.BILL.FINISHED notification once; stale, forged or replayed ones change nothing."""
    now = now or utcnow()
    try:
        sent_at = int(headers.get("Wechatpay-Timestamp", ""))
    except ValueError:
        raise NotificationRefused("通知缺少时间戳。", code="notification_stale") from None
    # In whole seconds: no float holds a 400-digit timestamp.
    if abs(int(now.timestamp()) - sent_at) > settings.wechatpay_notify_window_seconds:
        raise NotificationRefused("通知时间戳超出允许范围。", code="notification_stale")
    notification = gateway.verify_notification(headers, body)
    if notification is None:
        raise NotificationRefused("通知签名验证失败。", code="notification_bad_signature")
    resource = notification.get("resource") or {}
    if notification.get("event_type") != TRANSFER_FINISHED_EVENT \
            or resource.get("mch_id") not in (None, gateway.mch_id):
        return "ignored"
    notification_id = str(notification.get("id") or "")[:64]
    if not notification_id or db.session.get(PayoutNotification, notification_id) is not None:
        return "duplicate"
    payout = db.session.scalar(sa.select(Payout).where(Payout.out_bill_no == resource.get("out_bill_no")))
    if payout is None:
        log.warning("notification for an unknown bill")
        return "unknown_bill"
    payout = lock(Payout, payout.id)
    try:
        with db.session.begin_nested():
            db.session.add(PayoutNotification(id=notification_id, out_bill_no=payout.out_bill_no,
                                              state=str(resource.get("state"))[:20]))
    except IntegrityError:
        return "duplicate"
    apply_bill_state(payout, resource)
    db.session.flush()
    return "applied"
