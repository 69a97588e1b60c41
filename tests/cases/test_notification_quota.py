"""Subscribe messages within the one-time quota (issue #21): changes close together make one message, followers
are told like the reporter, and wx.requestSubscribeMessage's answer is taken as the mini-program receives it."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import SubscribeGrant
from cases.settings import CaseSettings
from citizen import services as citizen_services
from citizen.models import Report
from core.config_values import ConfigError
from core.db import db, utcnow
from tests.cases.conftest import MODERATOR, accept, accepted_report, current_case_settings, signed_update
from tests.cases.test_notifications import subscribe
from tests.citizen.helpers import new_report, sign_in


def sweep_later(app, run_jobs, minutes: int = 2) -> None:
    """The jobs queued so far, then the scheduled sweep once the coalescing window is over."""
    run_jobs()
    with app.app_context():
        services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(minutes=minutes))
        db.session.commit()
    run_jobs()


def records(app, report_id: int) -> list[tuple[int, str, str]]:
    with app.app_context():
        return [(n.resident_id, n.status, n.data["phrase3"]["value"]) for n in services.notifications_for(report_id)]


def messages_about(fake_wechat, report_id: int) -> list[tuple[str, str]]:
    return [(m["touser"], m["data"]["phrase3"]["value"]) for m in fake_wechat.wechat.subscribe_messages
            if m["data"]["character_string1"]["value"] == str(report_id)]


def remaining(app, resident_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(SubscribeGrant.remaining).where(
            SubscribeGrant.resident_id == resident_id))


def resident_id_of(client, auth) -> int:
    return client.get("/api/v1/me", headers=auth).json["id"]


def test_the_success_object_with_its_errmsg_is_taken_as_is(client, resident, use_case_system):
    use_case_system("desk")
    as_received = client.post("/api/v1/notifications/subscriptions", headers=resident,
                              json={"errMsg": "requestSubscribeMessage:ok", "TMPL_STATUS": "accept"})
    assert as_received.status_code == 200 and as_received.json == {"remaining": {"TMPL_STATUS": 1}}
    wrapped = client.post("/api/v1/notifications/subscriptions", headers=resident,
                          json={"results": {"errMsg": "requestSubscribeMessage:ok", "TMPL_STATUS": "accept"}})
    assert wrapped.status_code == 200 and wrapped.json == {"remaining": {"TMPL_STATUS": 2}}
    # Nothing but the errMsg (the resident answered nothing): no answer to record.
    empty = client.post("/api/v1/notifications/subscriptions", headers=resident,
                        json={"errMsg": "requestSubscribeMessage:ok"})
    assert empty.status_code == 422
    unknown = client.post("/api/v1/notifications/subscriptions", headers=resident,
                          json={"errMsg": "requestSubscribeMessage:ok", "OTHER": "accept"})
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_template"


def test_accepting_and_forwarding_spend_one_permission_on_one_message(app, client, resident, run_jobs,
                                                                       use_case_system, fake_wechat):
    use_case_system("desk", wechat_status_coalesce_seconds=60)
    fake_wechat.wechat.subscribe_messages.clear()
    subscribe(client, resident, times=2)
    me = resident_id_of(client, resident)
    report_id = accepted_report(app, client, resident, run_jobs)
    # Within the window nothing went yet; the forward replaced the acceptance's message.
    assert records(app, report_id) == [(me, "coalesced", "已受理"), (me, "pending", "已转办")]
    assert messages_about(fake_wechat, report_id) == []
    assert remaining(app, me) == 1
    sweep_later(app, run_jobs)
    assert messages_about(fake_wechat, report_id) == [("oCasesResident0000000001", "已转办")]
    with app.app_context():
        coalesced, sent = services.notifications_for(report_id)
        assert coalesced.coalesced_into_id == sent.id and sent.sent_at is not None
    assert remaining(app, me) == 1
    # A later change has its own message, on the permission left.
    signed_update(client, {"update_id": "quota-1", "report_id": report_id, "status": "in_progress"})
    sweep_later(app, run_jobs)
    assert [status for _, status in messages_about(fake_wechat, report_id)] == ["已转办", "处置中"]
    assert remaining(app, me) == 0


def test_followers_get_the_messages_of_the_changes_after_they_followed(app, client, resident, run_jobs,
                                                                       use_case_system, fake_wechat):
    use_case_system("webhook")
    fake_wechat.wechat.subscribe_messages.clear()
    report_id = accepted_report(app, client, resident, run_jobs)
    run_jobs()
    neighbour = sign_in(client, "oCasesNeighbour000000001")
    subscribe(client, neighbour)
    assert client.post(f"/api/v1/reports/{report_id}/me-too", headers=neighbour).status_code == 200
    signed_update(client, {"update_id": "follow-1", "report_id": report_id, "status": "in_progress"})
    run_jobs()
    neighbour_id = resident_id_of(client, neighbour)
    # The reporter had no permission: skipped, and recorded so. The neighbour hears only of what came after.
    assert [(status, phrase) for who, status, phrase in records(app, report_id) if who == neighbour_id] == [
        ("done", "处置中")]
    assert ("oCasesNeighbour000000001", "处置中") in messages_about(fake_wechat, report_id)
    page = [m["page"] for m in fake_wechat.wechat.subscribe_messages if m["touser"] == "oCasesNeighbour000000001"]
    assert page == [f"pages/report/detail?id={report_id}"]
    assert all(status == "skipped" for who, status, _ in records(app, report_id) if who != neighbour_id)


def test_a_merged_reporter_hears_how_the_original_goes_on(app, client, resident, run_jobs, use_case_system,
                                                          fake_wechat):
    use_case_system("webhook")
    fake_wechat.wechat.subscribe_messages.clear()
    original = new_report(client, resident)["id"]
    other = sign_in(client, "oCasesMergedReporter0001")
    subscribe(client, other, times=2)
    duplicate = new_report(client, other)["id"]
    run_jobs()
    with app.app_context():
        version = db.session.get(Report, duplicate).version
        citizen_services.mark_duplicate(MODERATOR, duplicate, expected_version=version, duplicate_of_id=original)
        db.session.commit()
    run_jobs()
    accept(app, original)
    run_jobs()
    sent = [status for who, status in messages_about(fake_wechat, duplicate) if who == "oCasesMergedReporter0001"]
    assert sent == ["重复反映"]
    about_original = [status for who, status in messages_about(fake_wechat, original)
                      if who == "oCasesMergedReporter0001"]
    assert about_original == ["已受理"]


def test_the_coalescing_window_is_configured_and_may_be_zero():
    assert CaseSettings.from_env({}).wechat_status_coalesce_seconds == 60
    assert CaseSettings.from_env({"WECHAT_STATUS_COALESCE_SECONDS": "0"}).wechat_status_coalesce_seconds == 0
    with pytest.raises(ConfigError, match="WECHAT_STATUS_COALESCE_SECONDS"):
        CaseSettings.from_env({"WECHAT_STATUS_COALESCE_SECONDS": "a minute"})
