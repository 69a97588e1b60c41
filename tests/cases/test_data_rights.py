"""A resident's subscribe-message consents and messages: exported, and gone with the account."""

from __future__ import annotations

import sqlalchemy as sa

from cases.models import Notification, SubscribeGrant
from core.db import db


def test_consents_are_exported_and_erased_with_the_account(app, client, resident, use_case_system):
    use_case_system("desk")
    client.post("/api/v1/notifications/subscriptions", headers=resident, json={"results": {"TMPL_STATUS": "accept"}})
    exported = client.get("/api/v1/me/export", headers=resident).json["data"]["cases"]
    assert exported["subscriptions"] == [{"template_id": "TMPL_STATUS", "remaining": 1,
                                          **{key: exported["subscriptions"][0][key]
                                             for key in ("created_at", "updated_at")}}]
    assert exported["notifications"] == []
    assert client.delete("/api/v1/me", headers=resident).status_code == 204
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscribeGrant)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
