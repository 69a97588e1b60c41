"""Two moderators claiming one report at once, on PostgreSQL (SQLite has one writer): the first is held between its
write and its commit while the second runs into its lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from citizen import services
from core.db import db
from core.services import Actor
from tests.common.factories import ReportFactory, StaffFactory
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted
from tests.core.admin_helpers import csrf_token, signed_in_staff

pytestmark = [pytest.mark.live_database, pytest.mark.services_only]


def test_the_second_of_two_claims_at_once_finds_the_report_held(live_app):
    """Both read the report as nobody's and inserted its holder: the second failed on the primary key (a 500)."""
    with live_app.app_context():
        first = Actor.of(StaffFactory(username="race_claim_first", display_name="先认领的审核员"))
        report_id = ReportFactory(status="pending_review").id
        db.session.commit()
    second = signed_in_staff(live_app, "race_claim_second", "moderator")
    form = {"csrf_token": csrf_token(second, f"/admin/reports/{report_id}")}
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(live_app) as observer:
        with uncommitted(live_app, lambda: services.claim_report(first, report_id)):
            answer = pool.submit(second.post, f"/admin/reports/{report_id}/claim", data=form)
            assert lock_waiters_appear(observer)
        response = answer.result(timeout=60)
    assert response.status_code == 302
    assert "该反映已由 先认领的审核员 认领。" in second.get(response.location).get_data(as_text=True)
    with live_app.app_context():
        assert services.assignments_of([report_id])[report_id].staff.username == "race_claim_first"
