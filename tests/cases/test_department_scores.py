"""Departments' 考核 over the desk cases closed in a period: each measure with its sample, none below the minimum."""

from __future__ import annotations

import datetime as dt

import pytest

from cases import services
from cases.models import DeskCase
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.config import current_settings
from core.db import db, utcnow
from core.services import Actor
from tests.cases.conftest import a_department, after_photos
from tests.common.factories import ReportFactory
from tests.common.statements import recorded_statements

OFFICER = Actor(None, "考核测试调度员")
BUSY, SMALL = "考核测试·市北区环卫所", "考核测试·李沧区市政所"


def act(case_id: int, action: str, *, department: str | None = None, **options) -> DeskCase:
    case = db.session.get(DeskCase, case_id)
    if department is not None:
        options["department_id"] = a_department(department)
    if action == "handle":
        options["after_photos"] = after_photos(case.report_id)
    services.act_on_desk_case(OFFICER, case_id, action, roles=("admin",), expected_version=case.version, **options)
    return db.session.get(DeskCase, case_id)


def closed_case(department: str, *, late: bool = False, checked_twice: bool = False, returned: bool = False,
                rating: int | None = None) -> int:
    """A desk case taken through every step to 结案 by ``department``: handled after its deadline (``late``), sent
    back by the check once (``checked_twice``), or first sent back by the department (``returned``)."""
    report = ReportFactory(status="forwarded", rating=rating)
    services.open_delivery(report.id, case_system="desk")  # its forwarding record, as a reopening looks it up
    case_id = services.open_desk_case(report.id).id
    act(case_id, "register")
    if returned:
        act(case_id, "dispatch", department=department)
        act(case_id, "return_request", note="不属于本单位职责。")
        act(case_id, "return_accepted")
    case = act(case_id, "dispatch", department=department)
    if late:
        case.due_at = utcnow() - dt.timedelta(hours=1)
    act(case_id, "handle", note="已处置。")
    if checked_twice:
        act(case_id, "send_back", note="现场仍有垃圾。")
        act(case_id, "handle", note="已再次处置。")
    act(case_id, "verify")
    act(case_id, "close")
    db.session.flush()
    return case_id


def scores() -> dict[str, services.DepartmentScore]:
    now = utcnow()
    found = services.department_scores(now - dt.timedelta(days=1), now + dt.timedelta(days=1), min_sample=10)
    return {score.department: score for score in found if score.department in (BUSY, SMALL)}


@pytest.fixture
def desk(use_case_system):
    use_case_system("desk")


def test_each_measure_counts_its_own_sample(app, desk):
    with app.app_context():
        for index in range(10):
            closed_case(BUSY, late=index < 2, checked_twice=index == 2, returned=index == 3,
                        rating=None if index == 9 else 4 + index % 2)
        busy = scores()[BUSY]
        assert busy.closed == 10
        assert (busy.on_time.value, busy.on_time.sample) == (0.8, 10)
        # The check's failure is a rework, the department's return before handling is not.
        assert (busy.rework.value, busy.returned.value) == (0.1, 0.1)
        # Nine ratings: below the minimum, so no satisfaction score, though every other measure has one.
        assert busy.satisfaction == services.Measure(None, 9)
        assert busy.scored


def test_a_department_that_closed_one_case_on_time_is_never_top(app, desk):
    with app.app_context():
        for index in range(10):
            closed_case(BUSY, late=index < 5, rating=3)
        closed_case(SMALL, rating=5)
        found = scores()
        small, busy = found[SMALL], found[BUSY]
        assert small.closed == 1 and small.on_time == services.Measure(None, 1) and not small.scored
        assert small.satisfaction == services.Measure(None, 1)
        assert busy.on_time.value == 0.5 and busy.satisfaction == services.Measure(3.0, 10)
        now = utcnow()
        order = [score.department for score in services.department_scores(
            now - dt.timedelta(days=1), now + dt.timedelta(days=1), min_sample=10)]
        assert order.index(BUSY) < order.index(SMALL)


def test_a_resident_s_reopening_counts_as_rework(app, desk):
    with app.app_context():
        case_ids = [closed_case(BUSY) for _ in range(10)]
        report = citizen_services.get_report(db.session.get(DeskCase, case_ids[0]).report_id)
        citizen_services.reopen_report(report.resident_id, report.id, reason="又坏了",
                                       settings=current_settings(CitizenSettings))
        for action in ("handle", "verify", "close"):
            act(case_ids[0], action, note="已返工。")
        assert scores()[BUSY].rework == services.Measure(0.1, 10)


def test_a_return_counts_against_the_department_that_returned_the_case(app, desk):
    with app.app_context():
        for index in range(10):
            case_id = services.open_desk_case(ReportFactory(status="forwarded").id).id
            act(case_id, "register")
            if index == 0:  # SMALL says it is not theirs; BUSY takes it over and closes it
                act(case_id, "dispatch", department=SMALL)
                act(case_id, "return_request", note="不属于本单位职责。")
                act(case_id, "return_accepted")
            act(case_id, "dispatch", department=BUSY)
            for action in ("handle", "verify", "close"):
                act(case_id, action, note="已处置。")
        found = services.department_scores(utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(days=1),
                                           min_sample=1)
        by_name = {score.department: score for score in found}
        assert by_name[BUSY].returned == services.Measure(0.0, 10)
        assert by_name[SMALL].returned == services.Measure(1.0, 1) and by_name[SMALL].closed == 0


def test_a_period_counts_only_the_cases_closed_in_it(app, desk):
    with app.app_context():
        closed_case(SMALL)
        now = utcnow()
        earlier = services.department_scores(now - dt.timedelta(days=30), now - dt.timedelta(days=1), min_sample=1)
        assert SMALL not in {score.department for score in earlier}


def test_scores_read_the_residents_ratings_in_one_statement_however_many_cases(app, desk):
    with app.app_context():
        def statements_scoring() -> int:
            with recorded_statements(app) as statements:
                scores()
            return len(statements)

        for _ in range(2):
            closed_case(BUSY, rating=4)
        few = statements_scoring()
        for _ in range(4):
            closed_case(BUSY, rating=5)
        assert statements_scoring() == few
        assert scores()[BUSY].satisfaction.sample == 6
