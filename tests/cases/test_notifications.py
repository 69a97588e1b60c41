"""Subscribe messages: one per status change the resident allowed, sent by a job, retried, never in the way."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cases import services
from cases.models import Notification
from core.db import db, utcnow
from tests.cases.conftest import accept, accepted_report, current_case_settings, report_status, signed_update
from tests.citizen.helpers import new_report


def subscribe(client, resident, times: int = 1) -> None:
    for _ in range(times):
        response = client.post("/api/v1/notifications/subscriptions", headers=resident,
                               json={"results": {"TMPL_STATUS": "accept"}})
        assert response.status_code == 200


def notifications(app, report_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [(n.status, n.data["phrase3"]["value"]) for n in services.notifications_for(report_id)]


def test_the_template_to_ask_for_comes_from_configuration(client, resident, use_case_system):
    use_case_system("desk")
    assert client.get("/api/v1/notifications/subscriptions", headers=resident).json == {"template_ids": ["TMPL_STATUS"]}
    refused = client.post("/api/v1/notifications/subscriptions", headers=resident,
                          json={"results": {"OTHER": "accept"}})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "unknown_template"


def test_each_allowed_status_change_reaches_wechat(app, client, resident, run_jobs, use_case_system, fake_wechat):
    use_case_system("webhook")
    fake_wechat.wechat.subscribe_messages.clear()
    subscribe(client, resident, times=2)
    report_id = accepted_report(app, client, resident, run_jobs)
    run_jobs()
    # Accepted and forwarded used both subscriptions; in progress finds none left.
    signed_update(client, {"update_id": "n-1", "report_id": report_id, "status": "in_progress"})
    run_jobs()
    assert notifications(app, report_id) == [("done", "已受理"), ("done", "已转办"), ("skipped", "处置中")]
    messages = [m for m in fake_wechat.wechat.subscribe_messages
                if m["data"]["character_string1"]["value"] == str(report_id)]
    assert len(messages) == 2
    assert messages[0]["touser"] == "oCasesResident0000000001" and messages[0]["template_id"] == "TMPL_STATUS"
    assert messages[0]["page"] == f"pages/report/detail?id={report_id}"
    assert messages[0]["data"]["thing2"]["value"] == "暴露垃圾"
    assert all(len(m["data"]["thing5"]["value"]) <= 20 for m in messages)


def test_a_failed_send_is_retried_and_never_undoes_the_change(app, client, resident, run_jobs, use_case_system,
                                                              fake_wechat):
    use_case_system("webhook")
    subscribe(client, resident)
    fake_wechat.wechat.subscribe_failures[:] = [-1, 45009]  # busy, then over quota
    report_id = new_report(client, resident)["id"]
    run_jobs()
    accept(app, report_id)
    run_jobs()
    assert report_status(app, report_id) == "forwarded"
    with app.app_context():
        # The one permission is carried by the acceptance's message, or by the forwarding's that replaced it
        # (coalesced) when the forwarding came first or while the acceptance's waited for its retry.
        def carrying() -> Notification:
            return db.session.scalar(sa.select(Notification).where(
                Notification.report_id == report_id, Notification.status.not_in(("skipped", "coalesced"))))

        assert carrying().status in ("retrying", "pending")
        for _ in range(3):
            services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(hours=2))
            db.session.commit()
            run_jobs()
        db.session.expire_all()
        assert carrying().status == "done"
        # Busy, then over quota, then sent: three attempts, whichever message made them.
        assert sum(n.attempts for n in services.notifications_for(report_id)) == 3
    fake_wechat.wechat.subscribe_failures.clear()


def test_a_refused_subscription_is_not_retried(app, client, resident, run_jobs, use_case_system, fake_wechat):
    use_case_system("webhook")
    subscribe(client, resident)
    fake_wechat.wechat.subscribe_failures[:] = [43101]
    report_id = accepted_report(app, client, resident, run_jobs)
    run_jobs()
    with app.app_context():
        sent = [n for n in services.notifications_for(report_id) if n.status != "skipped"]
        assert [(n.status, n.attempts) for n in sent] == [("failed", 1)]
        assert services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(days=1)).notifications == 0
    fake_wechat.wechat.subscribe_failures.clear()


def test_without_a_template_nothing_is_queued(app, client, resident, run_jobs, use_case_system):
    use_case_system("desk", wechat_status_template_id=None)
    report_id = accepted_report(app, client, resident, run_jobs)
    assert notifications(app, report_id) == []
