"""Two schedulers' 督办 sweeps at once on PostgreSQL: an overdue case is supervised once, whoever comes second waits
for the first's mark and then leaves the case alone."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import DeskCase, DeskSupervision
from core.db import db
from core.models import AuditEntry
from tests.cases.conftest import accepted_report, case_settings
from tests.citizen.helpers import sign_in
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted
from tests.conftest import app_on_own_database

pytestmark = [pytest.mark.live_database, pytest.mark.services_only]


@pytest.fixture(scope="module")
def limits_app(tmp_path_factory, fake_wechat, request, case_server):
    with app_on_own_database(tmp_path_factory.mktemp("limits_race"), fake_wechat, request, "limits_race",
                             **case_settings(case_server, "desk")) as app:
        yield app


def test_two_sweeps_at_once_supervise_an_overdue_case_once(limits_app):
    client = limits_app.test_client()
    report_id = accepted_report(limits_app, client, sign_in(client, "oSupervisionRace0001"), lambda: None)
    with limits_app.app_context():
        case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
        case_id, late = case.id, case.due_at + dt.timedelta(minutes=5)

    def second_sweep() -> int:
        with limits_app.app_context():
            marked = services.supervise_overdue(now=late)
            db.session.commit()
            return marked

    first: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(limits_app) as observer:
        with uncommitted(limits_app, lambda: first.append(services.supervise_overdue(now=late))):
            second = pool.submit(second_sweep)
            assert lock_waiters_appear(observer)  # the second waits on the first's mark of the case
        assert second.result(timeout=60) == 0
    assert first == [1]
    with limits_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DeskSupervision)
                                 .where(DeskSupervision.case_id == case_id)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "desk_case.supervise", AuditEntry.object_id == str(case_id))) == 1
