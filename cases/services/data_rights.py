"""Residents' data rights: what cases holds of a resident, exported or forgotten."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cases.models import Notification, SubscribeGrant
from core.db import db
from core.privacy import row_dict

def export_resident_data(resident_id: int) -> dict[str, Any]:
    """The resident's subscribe-message consents and the messages sent or due about their reports."""
    grants = db.session.scalars(sa.select(SubscribeGrant).where(SubscribeGrant.resident_id == resident_id))
    notifications = db.session.scalars(sa.select(Notification).where(Notification.resident_id == resident_id)
                                       .order_by(Notification.id))
    return {"subscriptions": [row_dict(grant, exclude=("id", "resident_id")) for grant in grants],
            "notifications": [row_dict(item, exclude=("resident_id", "lease_until", "enqueued_at", "last_error"))
                              for item in notifications]}


def forget_resident(resident_id: int) -> None:
    """Consents and messages go. The city's case records hold only report ids: what they show of a report
    is read from the citizen package, which anonymises it. The caller commits."""
    for model in (SubscribeGrant, Notification):
        db.session.execute(sa.delete(model).where(model.resident_id == resident_id))
