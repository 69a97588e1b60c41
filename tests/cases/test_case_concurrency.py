"""Staff, workers and the case system acting on one case at once, on PostgreSQL (SQLite has one writer): each race is
played in a fixed order, one side held between its writes and its commit while the other runs into its locks."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cases import services
from cases.adapters import ExternalUpdate
from cases.models import CaseDelivery
from core.db import db, utcnow
from core.models import AuditEntry
from tests.cases.conftest import accepted_report, case_settings, delivery_of, report_status, signed_update
from tests.citizen.helpers import sign_in
from tests.conftest import app_on_own_database
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted

pytestmark = [pytest.mark.live_database, pytest.mark.services_only]


@pytest.fixture(scope="module")
def cases_app(tmp_path_factory, fake_wechat, request, case_server):
    with app_on_own_database(tmp_path_factory.mktemp("cases_race"), fake_wechat, request, "cases_race",
                             **case_settings(case_server, "open311", open311_api_key="wrong-key")) as app:
        yield app


@pytest.fixture(scope="module")
def dispatcher(cases_app):
    return signed_in_staff(cases_app, "race-dispatcher", "dispatcher")


def _claimed_by_a_worker(delivery_id: int, status: str) -> None:
    """What a worker writes when it takes the delivery (working, under a lease) or has just delivered it (done)."""
    db.session.execute(sa.update(CaseDelivery).where(CaseDelivery.id == delivery_id).values(
        status=status, attempts=CaseDelivery.attempts + 1, lease_until=utcnow() + dt.timedelta(minutes=5)))


@pytest.mark.parametrize("taken_as", [services.WORKING, services.DONE])
def test_a_retry_leaves_alone_a_delivery_a_worker_took_after_the_page_was_read(cases_app, dispatcher, case_system,
                                                                              taken_as):
    """The retry read the delivery as failed, then a worker's claim committed before the retry's write: the retry
    set it back to "retrying" and queued it again (sent twice), and said it had retried it."""
    client = cases_app.test_client()
    report_id = accepted_report(cases_app, client, sign_in(client, f"oRetryRace{taken_as}"), lambda: None)
    failed = delivery_of(cases_app, report_id)
    assert failed.status == services.FAILED
    form = {"delivery_id": str(failed.id), "csrf_token": csrf_token(dispatcher, "/admin/deliveries?status=failed")}
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(cases_app) as observer:
        with uncommitted(cases_app, lambda: _claimed_by_a_worker(failed.id, taken_as)):
            answer = pool.submit(dispatcher.post, "/admin/deliveries/retry", data=form)
            assert lock_waiters_appear(observer)
        response = answer.result(timeout=60)
    assert response.status_code == 302
    assert "没有可重试的转办" in dispatcher.get(response.location).get_data(as_text=True)
    delivery = delivery_of(cases_app, report_id)
    assert (delivery.status, delivery.attempts) == (taken_as, failed.attempts + 1)
    assert len(delivery.attempt_log) == len(failed.attempt_log)
    with cases_app.app_context():
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "case_delivery.retry",
                                                             AuditEntry.object_id == str(failed.id))) is None


@pytest.mark.parametrize("second", ["another update", "the same update"])
def test_two_updates_of_one_report_at_once_apply_one_after_the_other(cases_app, case_system, second):
    """The second update read the report while the first one's change was written but not committed, then failed on
    the report's version once the first committed (a 500). Now it waits for the first and moves the report on from
    there; the same update sent twice is applied once and answered as a repeat."""
    client = cases_app.test_client()
    resident = sign_in(client, f"oUpdateRace{second.split()[0]}")
    report_id = accepted_report(cases_app, client, resident, lambda: None)
    first = {"update_id": f"race-{report_id}-1", "report_id": report_id, "status": "in_progress",
             "note": "已派遣处置。", "public": True}
    then = first if second == "the same update" else {"update_id": f"race-{report_id}-2", "report_id": report_id,
                                                        "status": "resolved", "note": "已处置完毕。", "public": True}
    first_body = json.dumps(first, ensure_ascii=False).encode()
    first_update = ExternalUpdate(update_id=first["update_id"], report_id=report_id, status=first["status"],
                                  note=first["note"], public=True)
    apply_first = lambda: services.apply_update("push", first_update, body_digest=services.digest(first_body),  # noqa: E731
                                                actor_name="webhook")
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(cases_app) as observer:
        with uncommitted(cases_app, apply_first):
            answer = pool.submit(signed_update, client, then)
            assert lock_waiters_appear(observer)
        response = answer.result(timeout=60)
    assert response.status_code == 200, response.json
    assert response.json["applied"] is (then is not first)
    assert response.json["status"] == then["status"] == report_status(cases_app, report_id)
    notes = [entry["note"] for entry in client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]]
    assert notes.count("已派遣处置。") == 1 and notes.count("已处置完毕。") == (then is not first)
