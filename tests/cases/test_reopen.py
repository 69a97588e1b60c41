"""Reopening a closed report: through the API, back to the case system (the desk's 返工, a new Open311 request or
webhook call referring to the old one), within the window and the limit."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import CaseReopening, DeskCase
from citizen import services as citizen_services
from citizen.models import ReportEvent
from core.db import db
from core.models import AuditEntry
from core.services import Actor
from tests.cases.conftest import (a_department, accepted_report, after_photos, current_case_settings, delivery_of,
                                  report_status, signed_in_handler, signed_update)
from tests.citizen.helpers import sign_in, upload_photo

DISPATCHER = Actor(None, "dispatcher-reopen")
DESK_STEPS = (("register", {}), ("dispatch", {"department": "市南区环卫所"}), ("handle", {"note": "已清运垃圾。"}),
              ("verify", {}), ("close", {}))


def desk_case_of(report_id: int) -> DeskCase:
    return db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))


def close_on_desk(app, report_id: int, steps=DESK_STEPS) -> int:
    with app.app_context():
        case_id = desk_case_of(report_id).id
        for action, form in steps:
            if action == "dispatch":
                form = {"department_id": a_department(form["department"])}
            proof = {"after_photos": after_photos(report_id)} if action == "handle" else {}
            services.act_on_desk_case(DISPATCHER, case_id, action, roles=("admin",),
                                      expected_version=services.get_desk_case(case_id).version, **form, **proof)
            db.session.commit()
    return case_id


def reopen(client, auth: dict[str, str], report_id: int, **body):
    return client.post(f"/api/v1/reports/{report_id}/reopen", json=body, headers=auth)


@pytest.fixture
def closed_desk_report(app, client, resident, run_jobs, use_case_system):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = close_on_desk(app, report_id)
    run_jobs()
    assert report_status(app, report_id) == "closed"
    return report_id, case_id


def test_an_unhappy_resident_reopens_a_closed_report_and_the_desk_reworks_it(app, client, resident, run_jobs,
                                                                            closed_desk_report):
    report_id, case_id = closed_desk_report
    assert client.post(f"/api/v1/reports/{report_id}/rating", json={"rating": 2, "comment": "没清干净"},
                       headers=resident).status_code == 200
    photo = upload_photo(client, resident)

    response = reopen(client, resident, report_id, reason=" 东侧绿化带旁的垃圾仍在。 ", media_ids=[photo])

    assert response.status_code == 200, response.json
    assert response.json["status"] == "in_progress"
    step = response.json["timeline"][-1]
    assert (step["by"], step["note"]) == ("resident", "您已申请重新办理：东侧绿化带旁的垃圾仍在。")
    assert [item["id"] for item in step["media"]] == [photo]
    with app.app_context():
        desk_case = desk_case_of(report_id)
        assert (desk_case.step, desk_case.department, desk_case.reworked) == ("dispatched", "市南区环卫所", True)
        assert desk_case.steps[-1].note == "市民申请重新办理（返工）：东侧绿化带旁的垃圾仍在。"
        actions = set(db.session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.object_id.in_([str(report_id), str(case_id)]))))
        assert {"report.reopen", "desk_case.rework"} <= actions
    handler = signed_in_handler(app, "desk-reopen-handler")
    page = handler.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert "返工" in page and "东侧绿化带旁的垃圾仍在。" in page and 'aria-label="处置"' in page

    # The rework runs the desk's usual steps to a close again.
    close_on_desk(app, report_id, DESK_STEPS[2:])
    assert report_status(app, report_id) == "closed"


def test_reopening_is_refused_with_the_right_status(app, client, resident, run_jobs, closed_desk_report,
                                                     override_settings):
    report_id, _ = closed_desk_report
    other = sign_in(client, "oNotTheReporter0000000001")
    assert reopen(client, other, report_id, reason="不是我的").status_code == 404
    blank = reopen(client, resident, report_id, reason=" \t ")
    assert (blank.status_code, blank.json["error"]["code"]) == (422, "reason_required")
    override_settings(reopens_per_report=1)
    assert reopen(client, resident, report_id, reason="仍未处理。").status_code == 200
    not_closed = reopen(client, resident, report_id, reason="还是没处理。")
    assert (not_closed.status_code, not_closed.json["error"]["code"]) == (409, "not_closed")
    close_on_desk(app, report_id, DESK_STEPS[2:])
    limited = reopen(client, resident, report_id, reason="第二次申请。")
    assert (limited.status_code, limited.json["error"]["code"]) == (409, "reopen_limit_reached")


def test_reopening_is_refused_after_the_window(app, client, resident, closed_desk_report, override_settings):
    report_id, _ = closed_desk_report
    override_settings(reopen_window_days=30)
    with app.app_context():
        closing = db.session.scalar(sa.select(ReportEvent).where(ReportEvent.report_id == report_id,
                                                                 ReportEvent.to_status == "closed"))
        closing.occurred_at -= dt.timedelta(days=31)
        db.session.commit()
    late = reopen(client, resident, report_id, reason="一个多月后又堆满了。")
    assert (late.status_code, late.json["error"]["code"]) == (409, "reopen_window_passed")
    assert report_status(app, report_id) == "closed"


def test_an_open311_case_system_gets_a_new_request_referring_to_the_old_one(app, client, resident, run_jobs,
                                                                           use_case_system, case_system):
    use_case_system("open311")
    report_id = accepted_report(app, client, resident, run_jobs)
    old_id = delivery_of(app, report_id).external_id
    case_system.set_status(old_id, "closed", "垃圾已清运。", "2026-11-29T12:00:00+08:00")
    with app.app_context():
        services.poll_case_system(current_case_settings())
        db.session.commit()
    assert report_status(app, report_id) == "closed"

    assert reopen(client, resident, report_id, reason="东侧仍有垃圾。").status_code == 200
    run_jobs()

    post = case_system.posts[-1]
    assert post["attribute[external_id]"] == f"{report_id}-reopen-1"
    assert post["attribute[reopened_from]"] == old_id
    assert post["description"].startswith(f"【市民申请重新办理，原工单 {old_id}】东侧仍有垃圾。")
    with app.app_context():
        reopening = db.session.scalar(sa.select(CaseReopening).where(CaseReopening.report_id == report_id))
        assert (reopening.status, reopening.previous_external_id) == ("done", old_id)
        new_id = reopening.external_id
    assert new_id != old_id
    # The new request is polled like the first: its close closes the report again.
    case_system.set_status(new_id, "closed", "东侧垃圾已清运。", "2026-12-01T12:00:00+08:00")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        db.session.commit()
    assert report_status(app, report_id) == "closed"
    # A second reopening refers to the request the first was sent as.
    assert reopen(client, resident, report_id, reason="又堆起来了。").status_code == 200
    run_jobs()
    assert case_system.posts[-1]["attribute[reopened_from]"] == new_id


def test_a_webhook_case_system_hears_of_the_reopening_and_pushes_updates_to_it(app, client, resident, run_jobs,
                                                                              use_case_system, case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    assert signed_update(client, {"update_id": "r-1", "report_id": report_id, "status": "closed"}).status_code == 200

    assert reopen(client, resident, report_id, reason="路灯又不亮了，请联系我 13812345678。").status_code == 200
    run_jobs()

    payload = case_system.webhook_posts[-1]["payload"]
    assert payload["event"] == "reopened" and payload["idempotency_key"] == f"{report_id}-reopen-1"
    # The case records, and so the case system, get the reason masked like every other personal datum they keep.
    assert payload["reopened_from"] == {"case_id": f"W{report_id}"}
    assert payload["reopen_reason"] == "路灯又不亮了，请联系我 ［手机号］。"
    assert case_system.webhook_posts[-1]["headers"]["Idempotency-Key"] == f"{report_id}-reopen-1"
    assert signed_update(client, {"update_id": "r-2", "report_id": report_id, "status": "resolved"}).status_code == 200
    assert report_status(app, report_id) == "resolved"

    # Erasure: the report stays a case, the resident's own words on its timeline lose their phone number.
    assert client.delete("/api/v1/me", headers=resident).status_code == 204
    with app.app_context():
        notes = [event.note for event in citizen_services.get_report(report_id).events
                 if event.actor_kind == "resident"]
        assert "您已申请重新办理：路灯又不亮了，请联系我 [已删除]。" in notes
        assert not any("13812345678" in note for note in notes)


def test_a_lost_reopening_job_is_swept_up(app, client, resident, run_jobs, use_case_system, case_system, jobs_lost):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    signed_update(client, {"update_id": "l-1", "report_id": report_id, "status": "closed"})
    with jobs_lost():
        assert reopen(client, resident, report_id, reason="仍未修好。").status_code == 200
    assert case_system.webhook_posts[-1]["payload"].get("event") is None
    with app.app_context():
        result = services.sweep(current_case_settings(), now=citizen_services.get_report(report_id).updated_at
                                + dt.timedelta(hours=1))
        db.session.commit()
    assert result.reopenings == 1
    run_jobs()
    assert case_system.webhook_posts[-1]["payload"]["event"] == "reopened"
