"""The outbox: written with the acceptance, delivered by a job to the configured case system, retried, swept."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import CaseDelivery, DeskCase
from cases.settings import CaseSettings
from citizen import services as citizen_services
from citizen.models import Report
from core.config import Config
from core.db import db, utcnow
from core.errors import Conflict
from core.events import REPORT_ACCEPTED, emit
from core.models import AuditEntry
from core.services import Actor
from tests.cases.conftest import MODERATOR, accepted_report, current_case_settings, delivery_of, report_status
from tests.citizen.helpers import new_report
from tests.core.admin_helpers import admin_login, admin_post
from tests.common.factories import StaffFactory


def test_the_forwarding_record_commits_with_the_acceptance_or_not_at_all(app, client, resident, use_case_system):
    use_case_system("desk")
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        report = db.session.get(Report, report_id)
        stale = report.version
        citizen_services.accept_report(MODERATOR, report_id, expected_version=stale)
        db.session.commit()
        # A second moderator's acceptance on the stale version is refused and writes no second record.
        with pytest.raises(Conflict):
            citizen_services.accept_report(Actor(None, "other"), report_id, expected_version=stale)
        db.session.rollback()
        rows = db.session.scalars(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id)).all()
        assert len(rows) == 1 and rows[0].case_system == "desk"


def test_a_rejected_report_is_never_forwarded(app, client, resident, use_case_system):
    use_case_system("desk")
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        citizen_services.reject_report(MODERATOR, report_id, expected_version=db.session.get(Report, report_id).version,
                                       reason="不属于城市管理范围")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseDelivery)) == 0


def test_the_built_in_desk_takes_an_accepted_report_and_it_is_forwarded(app, client, resident, run_jobs,
                                                                       use_case_system):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery = delivery_of(app, report_id)
    assert delivery.status == "done" and delivery.attempts == 1 and delivery.external_id.startswith("D")
    assert report_status(app, report_id) == "forwarded"
    with app.app_context():
        desk_case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
        assert desk_case.step == "received" and f"D{desk_case.id}" == delivery.external_id
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert [entry["status"] for entry in timeline] == ["pending_review", "accepted", "forwarded"]


def test_open311_delivery_sends_the_georeport_fields(app, client, resident, run_jobs, use_case_system, case_system):
    use_case_system("open311", open311_service_codes=(("S0102", "garbage-exposed"),), open311_jurisdiction_id="qd")
    report_id = accepted_report(app, client, resident, run_jobs)
    [form] = case_system.posts
    assert form["api_key"] == "case-system-api-key" and form["jurisdiction_id"] == "qd"
    assert form["service_code"] == "garbage-exposed" and form["attribute[external_id]"] == str(report_id)
    assert abs(float(form["lat"]) - 36.0671) < 1e-6 and abs(float(form["long"]) - 120.3826) < 1e-6
    assert form["address_string"] == "青岛市市南区香港中路 1 号" and "暴露垃圾" in form["description"]
    assert form["media_url"].startswith(("http://", "https://"))
    delivery = delivery_of(app, report_id)
    assert delivery.status == "done" and delivery.external_id == case_system.cases[str(report_id)]["service_request_id"]
    assert report_status(app, report_id) == "forwarded"


def test_a_token_answer_is_kept_and_resolved_when_polling(app, client, resident, run_jobs, use_case_system,
                                                          case_system):
    use_case_system("open311")
    case_system.answer_with_token = True
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery = delivery_of(app, report_id)
    assert delivery.external_id is None and delivery.external_token.startswith("tok-")
    assert report_status(app, report_id) == "forwarded"
    with app.app_context():
        services.poll_case_system(current_case_settings())
    assert delivery_of(app, report_id).external_id == case_system.cases[str(report_id)]["service_request_id"]



def test_the_acceptance_event_opens_the_delivery_in_its_transaction(app, client, resident, run_jobs, use_case_system):
    """citizen announces an acceptance with REPORT_ACCEPTED and the report id alone; the delivery to the configured
    case system is written in the acceptance's transaction, and goes with it when that rolls back."""
    use_case_system("webhook")
    report_id = new_report(client, resident)["id"]
    run_jobs()
    delivery_row = sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id)
    with app.app_context():
        emit(REPORT_ACCEPTED, report_id=report_id)
        delivery = db.session.scalar(delivery_row)
        assert delivery is not None and delivery.case_system == "webhook" and delivery.status == "pending"
        db.session.rollback()
        assert db.session.scalar(delivery_row) is None

def test_a_4xx_stops_and_marks_the_delivery_failed_with_the_reason(app, client, resident, run_jobs, use_case_system,
                                                                  case_system):
    use_case_system("open311", open311_api_key="wrong-key")
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery = delivery_of(app, report_id)
    assert delivery.status == "failed" and "HTTP 403" in delivery.last_error and delivery.attempts == 1
    assert report_status(app, report_id) == "accepted"
    with app.app_context():
        assert services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(days=1)).deliveries == 0


def test_a_5xx_waits_with_backoff_and_the_sweep_tries_again(app, client, resident, run_jobs, use_case_system,
                                                             case_system):
    use_case_system("open311")
    case_system.failures = [503]
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery = delivery_of(app, report_id)
    assert delivery.status == "retrying" and "HTTP 503" in delivery.last_error
    wait = (delivery.next_attempt_at - delivery.attempt_log[0].started_at).total_seconds()
    assert 15 <= wait <= 30  # the first backoff: half of 30 s fixed, half jitter
    with app.app_context():
        settings = current_case_settings()
        assert services.sweep(settings, now=delivery.next_attempt_at - dt.timedelta(seconds=1)).deliveries == 0
        assert services.sweep(settings, now=delivery.next_attempt_at).deliveries == 1
        db.session.commit()
    run_jobs()
    delivery = delivery_of(app, report_id)
    assert delivery.status == "done" and delivery.attempts == 2
    assert [attempt.outcome for attempt in delivery.attempt_log] == ["retrying", "done"]


def test_a_timeout_is_retried(app, client, resident, run_jobs, use_case_system):
    # Nothing listens on port 9 of loopback: the connection fails like a case system that is down.
    use_case_system("open311", open311_endpoint="http://127.0.0.1:9/open311", case_http_timeout_seconds=0.5)
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery = delivery_of(app, report_id)
    assert delivery.status == "retrying" and "unreachable" in delivery.last_error


def test_backoff_doubles_up_to_its_ceiling_with_jitter():
    settings = CaseSettings(case_delivery_backoff_base_seconds=10, case_delivery_backoff_max_seconds=100)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = {services.backoff_seconds(attempts, settings) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1


def test_it_gives_up_after_the_configured_attempts(app, client, resident, run_jobs, use_case_system, case_system):
    use_case_system("open311", case_delivery_max_attempts=2)
    case_system.failures = [500, 500]
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(hours=1))
        db.session.commit()
    run_jobs()
    delivery = delivery_of(app, report_id)
    assert delivery.status == "failed" and delivery.last_error.startswith("gave up after 2 attempts")


def test_the_signed_webhook_carries_the_case_and_a_valid_signature(app, client, resident, run_jobs,
                                                                   use_case_system, case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    [post] = case_system.webhook_posts
    assert post["payload"]["report_id"] == report_id and post["payload"]["idempotency_key"] == str(report_id)
    assert post["payload"]["location"]["crs"] == "WGS-84" and post["payload"]["category"]["id"] == "S0102"
    assert post["headers"]["Idempotency-Key"] == str(report_id)
    assert delivery_of(app, report_id).external_id == f"W{report_id}"


def test_the_deliveries_page_lists_and_retries_with_an_audit(app, client, resident, run_jobs, use_case_system,
                                                             case_system):
    use_case_system("open311", open311_api_key="wrong-key")
    report_id = accepted_report(app, client, resident, run_jobs)
    delivery_id = delivery_of(app, report_id).id
    with app.app_context():
        StaffFactory(username="dispatcher-1", roles=["dispatcher"])
    staff = app.test_client()
    admin_login(staff, "dispatcher-1")
    page = staff.get("/admin/deliveries?status=failed").get_data(as_text=True)
    assert f"#{report_id}" in page and "HTTP 403" in page and "失败" in page
    use_case_system("open311")
    response = admin_post(staff, "/admin/deliveries/retry", {"delivery_id": str(delivery_id)},
                          form_page="/admin/deliveries")
    assert response.status_code == 302
    run_jobs()
    assert delivery_of(app, report_id).status == "done"
    assert report_status(app, report_id) == "forwarded"
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "case_delivery.retry"))
        assert entry.actor_name == "dispatcher-1" and entry.before["status"] == "failed"
        assert entry.object_id == str(delivery_id)


@pytest.mark.parametrize("odd_id", [str(2**31), "1" * 40, "abc", "²", "-1", ""])
def test_retrying_a_delivery_id_that_is_no_id_retries_nothing_not_a_500(app, client, resident, run_jobs,
                                                                        use_case_system, odd_id):
    """2**31 and more was an integer-out-of-range 500 on PostgreSQL; "abc" was read as no id, so every
    delivery was retried."""
    use_case_system("open311", open311_api_key="wrong-key")
    report_id = accepted_report(app, client, resident, run_jobs)
    assert delivery_of(app, report_id).status == "failed"
    with app.app_context():
        StaffFactory(username="dispatcher-odd", roles=["dispatcher"])
    staff = app.test_client()
    admin_login(staff, "dispatcher-odd")
    response = admin_post(staff, "/admin/deliveries/retry", {"delivery_id": odd_id}, form_page="/admin/deliveries")
    assert response.status_code == 302
    assert "没有可重试的转办" in staff.get(response.location).get_data(as_text=True)
    assert delivery_of(app, report_id).status == "failed"


def test_the_deliveries_page_needs_a_dispatcher(app, resident, client):
    with app.app_context():
        StaffFactory(username="moderator-only", roles=["moderator"])
    staff = app.test_client()
    admin_login(staff, "moderator-only")
    assert staff.get("/admin/deliveries").status_code == 403


def test_the_case_system_setting_is_read_and_checked():
    settings = Config.from_env({"CASE_SYSTEM": "open311", "OPEN311_SERVICE_CODES": json.dumps({"S0102": "g"}),
                                "CASE_MEDIA_HOSTS": "Photos.Example.cn, cdn.example.cn"}).area(CaseSettings)
    assert settings.case_system == "open311" and settings.open311_service_codes == (("S0102", "g"),)
    assert settings.case_media_hosts == ("photos.example.cn", "cdn.example.cn")
    with pytest.raises(Exception, match="CASE_SYSTEM"):
        Config.from_env({"CASE_SYSTEM": "fax"})
