"""Desk deadlines: each step's clock, urgent categories, the 督办 sweep, and the limits page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import CaseTimeLimit, DeskCase, DeskCaseStep, DeskSupervision
from citizen import services as citizen_services
from core.db import db, utcnow
from core.errors import Conflict
from core.models import AuditEntry
from core.services import Actor
from tests.cases.conftest import a_department, accepted_report, after_photos
from tests.core.admin_helpers import csrf_token, signed_in_staff

OFFICER = Actor(None, "时限测试调度员")
LATER = dt.timedelta(days=30)


@pytest.fixture
def dispatcher(app):
    return signed_in_staff(app, "limits-dispatcher", "dispatcher")


@pytest.fixture
def administrator(app):
    return signed_in_staff(app, "limits-admin", "admin")


def desk_case_of(report_id: int) -> DeskCase:
    return db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))


def step(case: DeskCase, action: str, *, department: str | None = None, **options) -> DeskCase:
    if department is not None:
        options["department_id"] = a_department(department)
    if action == "handle":
        options["after_photos"] = after_photos(case.report_id)
    services.act_on_desk_case(OFFICER, case.id, action, roles=("admin",), expected_version=case.version, **options)
    db.session.commit()
    return db.session.get(DeskCase, case.id)


def make_urgent(category_id: str, urgent: bool = True) -> None:
    category = next(c for c in citizen_services.list_categories(include_inactive=True) if c.id == category_id)
    citizen_services.update_category(OFFICER, category_id, name=category.name, hint=category.hint,
                                     is_active=category.is_active, is_urgent=urgent)
    db.session.commit()


def test_each_step_starts_its_clock_and_its_record_keeps_the_deadline_it_ended(app, client, resident, run_jobs,
                                                                                use_case_system, dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = desk_case_of(report_id)
        category_id = citizen_services.get_report(report_id).category_id
        limits = services.limits.effective_limits(services.limits.scope_chain(category_id, urgent=False))
        calendar = services.working_calendar()
        assert case.due_at == calendar.deadline(case.step_started_at, limits["received"])
        received_due = case.due_at

        case = step(case, "register")
        assert case.due_at == calendar.deadline(case.step_started_at, limits["registered"])
        case = step(case, "dispatch", department="市南区环卫所")
        assert case.due_at == calendar.deadline(case.step_started_at, limits["dispatched"])
        assert case.due_in_working_hours == limits["dispatched"].working_hours
        register_record = next(record for record in case.steps if record.action == "register")
        assert register_record.due_at == received_due

        for action in ("handle", "verify", "close"):
            case = step(case, action, note="已清理。")
        assert case.step == "closed" and case.due_at is None
        assert services.time_left([case]) == {}
        assert "逾期完成" not in dispatcher.get(f"/admin/desk/{case.id}").get_data(as_text=True)


def test_a_resident_s_reopening_restarts_the_handling_clock(app, client, resident, run_jobs, use_case_system,
                                                            dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = step(desk_case_of(report_id), "register")
        case = step(case, "dispatch", department="市南区环卫所")
        case.due_at = utcnow() - dt.timedelta(hours=1)  # the department let it lie past its deadline
        db.session.commit()
        first_due, first_start = case.due_at, case.step_started_at
        services.supervise_overdue()
        db.session.commit()
        case = db.session.get(DeskCase, case.id)
        assert case.overdue_at is not None
        for action in ("handle", "verify", "close"):
            case = step(case, action, note="已处理。")
        case_id = case.id
    # The handling came after the deadline: its record says so.
    assert "逾期完成" in dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    with app.app_context():
        case = db.session.get(DeskCase, case_id)
        services.rework_desk_case(report_id, "垃圾又堆起来了")
        db.session.commit()
        case = db.session.get(DeskCase, case.id)
        assert case.step == "dispatched" and case.overdue_at is None
        assert case.step_started_at > first_start and case.due_at > first_due
        category_id = citizen_services.get_report(report_id).category_id
        handling = services.limits.effective_limits(services.limits.scope_chain(category_id, urgent=False))
        assert case.due_at == services.working_calendar().deadline(case.step_started_at, handling["dispatched"])


def test_an_urgent_category_takes_the_urgent_limits_and_the_top_of_the_desk_queue(app, client, resident, run_jobs,
                                                                                 use_case_system):
    use_case_system("desk")
    usual_id = accepted_report(app, client, resident, run_jobs)
    urgent_id = accepted_report(app, client, resident, run_jobs, category="S0401")
    later_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        make_urgent("S0401")
        try:
            case = step(desk_case_of(urgent_id), "register")
            urgent = services.limits.effective_limits(("urgent",))
            assert case.is_urgent
            assert case.due_at == case.step_started_at + dt.timedelta(minutes=urgent["registered"].minutes)
            officer = services.viewer_of(OFFICER, ("admin",))
            ids = [c.report_id for c in services.desk_queue(officer, None)]
            assert ids.index(urgent_id) < ids.index(later_id) < ids.index(usual_id)
            by_deadline = [c.report_id for c in services.desk_queue(officer, None, sort="due")]
            assert by_deadline[0] == urgent_id
        finally:
            make_urgent("S0401", urgent=False)


def test_the_sweep_supervises_an_overdue_case_once_and_notifies_its_department(app, client, resident, run_jobs,
                                                                               use_case_system, dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = step(step(desk_case_of(report_id), "register"), "dispatch", department="崂山区市政养护中心")
        late = case.due_at + dt.timedelta(minutes=1)
        before_count = services.overdue_count(now=late)
        assert services.overdue_count(now=case.due_at - dt.timedelta(minutes=1)) < before_count
        version = case.version
        assert services.supervise_overdue(now=late) >= 1
        db.session.commit()
        assert services.supervise_overdue(now=late) == 0  # the same deadline is never supervised twice
        services.supervise_overdue(now=late + LATER)
        db.session.commit()
        supervisions = db.session.scalars(sa.select(DeskSupervision).where(DeskSupervision.case_id == case.id)).all()
        assert [(s.step, s.department, s.due_at) for s in supervisions] == [
            ("dispatched", "崂山区市政养护中心", case.due_at)]
        assert db.session.get(DeskCase, case.id).version == version + 1
        audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "desk_case.supervise",
                                                               AuditEntry.object_id == str(case.id))).all()
        assert len(audit) == 1 and audit[0].after["department"] == "崂山区市政养护中心"
        case_id, supervision_id = case.id, supervisions[0].id

    notices = dispatcher.get("/admin/desk/supervisions?department=崂山区市政养护中心").get_data(as_text=True)
    assert f"案件 #{case_id}" in notices and "处置" in notices
    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert "督办记录" in page and "处置超过时限" in page
    form = {"csrf_token": csrf_token(dispatcher, "/admin/desk/supervisions"), "department": ""}
    assert dispatcher.post(f"/admin/desk/supervisions/{supervision_id}/read", data=form).status_code == 302
    with app.app_context():
        assert db.session.get(DeskSupervision, supervision_id).read_by is not None
        assert services.supervision_notices(department="崂山区市政养护中心", unread_only=True) == []


def test_a_staff_step_begun_before_the_sweep_marked_the_case_is_refused(app, client, resident, run_jobs,
                                                                       use_case_system):
    # The sweep changes the case's version: a step read before the mark would otherwise move the case on and keep
    # the old step's overdue mark.
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = desk_case_of(report_id)
        read_version = case.version
        services.supervise_overdue(now=case.due_at + dt.timedelta(minutes=1))
        db.session.commit()
        with pytest.raises(Conflict):
            services.act_on_desk_case(OFFICER, case.id, "register", roles=("admin",), expected_version=read_version)
        db.session.rollback()


def test_the_desk_list_shows_time_left_and_flags_overdue_cases(app, client, resident, run_jobs, use_case_system,
                                                              dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = desk_case_of(report_id)
        case_id = case.id
        assert not services.time_left([case])[case.id].overdue
        case.due_at = utcnow() - dt.timedelta(hours=30)
        case.due_in_working_hours = False
        db.session.commit()
    page = dispatcher.get("/admin/desk?step=received&sort=due").get_data(as_text=True)
    row = re.search(rf"案件 #{case_id}</a>.*?</tr>", page, re.S).group(0)
    assert re.search(r'tag-overdue">超时 (29|30) 小时', row)


def test_an_administrator_sets_a_class_s_limits_audited(app, administrator):
    page = administrator.get("/admin/desk/limits").get_data(as_text=True)
    assert "事件 04 突发事件" in page and "工作日历" in page
    form = {"csrf_token": csrf_token(administrator, "/admin/desk/limits"), "scope": "S05"}
    for name in services.LIMITED_STEPS:
        form |= {f"{name}_hours": "2.5", f"{name}_working": "on"}
    del form["dispatched_working"]  # unticked: clock hours
    response = administrator.post("/admin/desk/limits", data=form, follow_redirects=True)
    assert "已保存时限" in response.get_data(as_text=True)
    try:
        with app.app_context():
            limits = services.limits.effective_limits(services.limits.scope_chain("S0501", urgent=False))
            assert limits["dispatched"] == services.Limit(150, working_hours=False)
            assert limits["verified"] == services.Limit(150, working_hours=True)
            entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case_time_limit.update")
                                       .order_by(AuditEntry.id.desc())).first()
            assert entry.object_id == "S05" and entry.after["dispatched"] == {"hours": 2.5, "working_hours": False}

        refused = administrator.post("/admin/desk/limits", data=form | {"received_hours": "0"}, follow_redirects=True)
        assert "立案时限须大于 0" in refused.get_data(as_text=True)
        unknown = administrator.post("/admin/desk/limits", data=form | {"scope": "X99"}, follow_redirects=True)
        assert "没有这个类别或大类" in unknown.get_data(as_text=True)
        garbled = administrator.post("/admin/desk/limits", data=form | {"handled_hours": "两小时"},
                                     follow_redirects=True)
        assert "时限须为数字" in garbled.get_data(as_text=True)
    finally:
        reset = administrator.post("/admin/desk/limits", data=form | {"reset": "on"}, follow_redirects=True)
        assert "已恢复默认时限" in reset.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(sa.select(CaseTimeLimit).where(CaseTimeLimit.scope == "S05")).all() == []


def test_a_holiday_listed_by_an_administrator_stops_the_working_clock(app, administrator):
    token = csrf_token(administrator, "/admin/desk/limits")
    form = {"csrf_token": token, "day": "2031-10-01", "name": "国庆节"}
    assert "已保存 2031-10-01" in administrator.post("/admin/desk/calendar", data=form,
                                                      follow_redirects=True).get_data(as_text=True)
    try:
        with app.app_context():
            calendar = services.working_calendar()
            assert not calendar.is_workday(dt.date(2031, 10, 1))  # a Wednesday
            assert db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case_calendar.set")).first()
        nameless = administrator.post("/admin/desk/calendar", data=form | {"name": " "}, follow_redirects=True)
        assert "请填写 1–32 字的名称" in nameless.get_data(as_text=True)
    finally:
        administrator.post("/admin/desk/calendar", data=form | {"remove": "on"})
    with app.app_context():
        assert services.working_calendar().is_workday(dt.date(2031, 10, 1))


def test_only_administrators_edit_limits(dispatcher):
    assert dispatcher.get("/admin/desk/limits").status_code == 403


def test_a_step_record_without_a_deadline_before_this_revision_is_left_alone(app, client, resident, run_jobs,
                                                                            use_case_system):
    # Cases open before the limits existed have no deadline until their next step: never overdue, never swept.
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case = desk_case_of(report_id)
        case.due_at = None
        db.session.commit()
        assert services.time_left([case]) == {}
        services.supervise_overdue(now=utcnow() + LATER)
        db.session.commit()
        assert db.session.scalars(sa.select(DeskSupervision).where(DeskSupervision.case_id == case.id)).all() == []
        case = step(case, "register")
        assert db.session.scalars(sa.select(DeskCaseStep.due_at).where(DeskCaseStep.case_id == case.id,
                                                                       DeskCaseStep.action == "register")).one() is None
        assert case.due_at is not None
