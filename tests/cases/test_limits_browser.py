"""Time limits in headless Chromium: an overdue case flagged, supervised and its notice read, by a dispatcher and by
the department's handler; an administrator's limits, working week, holidays and urgent category; the departments'
考核 on the dashboard."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from cases import services
from cases.models import CaseTimeLimit, DeskCase
from citizen import services as citizen_services
from core.db import db, utcnow
from core.services import SYSTEM_ACTOR
from tests.cases.conftest import a_department
from tests.cases.test_desk_browser import desk_staff
from tests.cases.test_department_scores import closed_case
from tests.common.factories import ReportFactory
from tests.core.test_admin_browser import log_in, make_staff

pytestmark = pytest.mark.browser
DEPARTMENT = "浏览器时限·市南区环卫所"


def test_an_overdue_case_is_flagged_supervised_and_its_notice_read(page, live_app, live_server):
    make_staff(live_app, "browser_limits_desk", ["dispatcher"])
    with live_app.app_context():
        report = ReportFactory(status="forwarded", description="浏览器时限：垃圾满溢")
        case = services.open_desk_case(report.id)
        services.act_on_desk_case(SYSTEM_ACTOR, case.id, "register", roles=("admin",), expected_version=case.version)
        services.act_on_desk_case(SYSTEM_ACTOR, case.id, "dispatch", roles=("admin",), expected_version=case.version,
                                  department_id=a_department(DEPARTMENT))
        # Two clock hours past the deadline, as if the department had let it lie.
        case.due_at, case.due_in_working_hours = utcnow() - dt.timedelta(hours=2, minutes=5), False
        db.session.commit()
        assert services.supervise_overdue() >= 1
        db.session.commit()
        case_id = case.id

    log_in(page, live_server, "browser_limits_desk")
    page.goto(f"{live_server}/admin/desk?step=dispatched")
    page.get_by_role("link", name="按时限排序（超时在前）").click()
    row = page.get_by_role("row", name=re.compile(f"案件 #{case_id} "))
    expect(row.get_by_text("超时 2 小时")).to_have_class(re.compile("tag-overdue"))
    row.get_by_role("link", name=f"案件 #{case_id}").click()
    expect(page.get_by_role("heading", name=re.compile("已超时"))).to_be_visible()
    expect(page.get_by_text("超时 2 小时")).to_be_visible()
    expect(page.get_by_role("list", name="督办记录")).to_contain_text("处置超过时限（应于")
    expect(page.get_by_role("list", name="督办记录")).to_contain_text(f"已督办{DEPARTMENT}")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="督办通知").click()
    page.get_by_label("部门").select_option(DEPARTMENT)
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("button", name=f"标记案件 #{case_id} 的督办为已阅").click()
    expect(page.get_by_text("已标记为已阅。")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(f"案件 #{case_id}"))).to_contain_text("已阅")


def test_a_handler_reads_the_notices_of_its_department_s_cases_only(page, live_app, live_server):
    ours, theirs = DEPARTMENT + "·处置人员", DEPARTMENT + "·别的部门"
    desk_staff(live_app, "browser_limits_handler", ["handler"], display_name="处置员", departments=(ours,))
    case_ids = {}
    with live_app.app_context():
        for department in (ours, theirs):
            report = ReportFactory(status="forwarded", description="浏览器时限：处置人员督办")
            case = services.open_desk_case(report.id)
            services.act_on_desk_case(SYSTEM_ACTOR, case.id, "register", roles=("admin",),
                                      expected_version=case.version)
            services.act_on_desk_case(SYSTEM_ACTOR, case.id, "dispatch", roles=("admin",),
                                      expected_version=case.version, department_id=a_department(department))
            case.due_at, case.due_in_working_hours = utcnow() - dt.timedelta(hours=1), False
            case_ids[department] = case.id
        db.session.commit()
        assert services.supervise_overdue() >= 2
        db.session.commit()

    log_in(page, live_server, "browser_limits_handler")
    todo = page.get_by_role("list", name="待办事项").get_by_role("link", name=re.compile("未阅督办通知"))
    expect(todo).to_have_text("未阅督办通知 1")
    todo.click()
    notices = page.get_by_role("table", name="督办通知")
    expect(notices.get_by_role("link", name=f"案件 #{case_ids[ours]}")).to_be_visible()
    expect(notices.get_by_role("link", name=f"案件 #{case_ids[theirs]}")).to_have_count(0)
    expect(page.get_by_label("部门").locator("option")).to_have_text(["全部", ours])
    page.get_by_role("button", name=f"标记案件 #{case_ids[ours]} 的督办为已阅").click()
    expect(page.get_by_text("已标记为已阅。")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(f"案件 #{case_ids[ours]} "))).to_contain_text(
        "browser_limits_handler 已阅")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="工作台").click()
    expect(todo).to_have_text("未阅督办通知 0")


def test_an_administrator_sets_the_working_week(page, live_app, live_server):
    make_staff(live_app, "browser_limits_week", ["admin"])
    log_in(page, live_server, "browser_limits_week")
    page.goto(f"{live_server}/admin/desk/limits")
    week = page.get_by_role("form", name="工作日与工作时间")
    try:
        week.get_by_label("周六").check()
        week.get_by_label("第 2 段开始").fill("14:00")
        week.get_by_label("第 2 段结束").fill("18:00")
        week.get_by_role("button", name="保存工作时间").click()
        expect(page.get_by_text("已保存工作日与工作时间，新开始的环节按此计算时限。")).to_be_visible()
        expect(page.get_by_text("工作时间：周一、周二、周三、周四、周五、周六 09:00–12:00、14:00–18:00（北京时间），"
                                "已修改")).to_be_visible()
        week = page.get_by_role("form", name="工作日与工作时间")
        expect(week.get_by_label("周六")).to_be_checked()
        expect(week.get_by_label("第 2 段开始")).to_have_value("14:00")
        with live_app.app_context():
            assert services.working_calendar().is_workday(dt.date(2032, 10, 9))  # a Saturday

        # Overlapping periods are refused, saying which; the week stays as it was.
        week.get_by_label("第 3 段开始").fill("17:00")
        week.get_by_label("第 3 段结束").fill("19:00")
        week.get_by_role("button", name="保存工作时间").click()
        expect(page.get_by_text("第 3 段工作时间 17:00–19:00 须在上一段 14:00–18:00 结束后开始")).to_be_visible()
        expect(page.get_by_role("form", name="工作日与工作时间").get_by_label("第 3 段开始")).to_have_value("")

        page.get_by_role("form", name="工作日与工作时间").get_by_role("button", name="恢复默认工作时间").click()
        expect(page.get_by_text("已恢复默认工作日与工作时间。")).to_be_visible()
        expect(page.get_by_text("周一、周二、周三、周四、周五 09:00–12:00、13:30–17:30（北京时间），系统默认")
               ).to_be_visible()
    finally:
        with live_app.app_context():
            services.reset_working_week(SYSTEM_ACTOR)
            db.session.commit()


def test_an_administrator_sets_limits_a_holiday_and_an_urgent_category(page, live_app, live_server):
    make_staff(live_app, "browser_limits_admin", ["admin"])
    log_in(page, live_server, "browser_limits_admin")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="办理时限").click()
    try:
        street = page.get_by_role("form", name="事件 05 街面秩序时限")
        street.get_by_label("处置", exact=True).fill("3")
        street.get_by_label("工作时").nth(2).uncheck()
        street.get_by_role("button", name="保存").click()
        expect(page.get_by_text("已保存时限，新开始的环节按新时限计算。")).to_be_visible()
        street = page.get_by_role("form", name="事件 05 街面秩序时限")
        expect(street.get_by_label("处置", exact=True)).to_have_value("3")
        expect(street.get_by_text("已修改")).to_have_count(5)
        with live_app.app_context():
            limits = services.limits.effective_limits(services.limits.scope_chain("S0501", urgent=False))
            assert limits["dispatched"] == services.Limit(180, working_hours=False)

        holidays = page.get_by_role("form", name="登记日期")
        holidays.get_by_label("日期").fill("2032-10-01")
        holidays.get_by_label("名称").fill("国庆节")
        holidays.get_by_role("button", name="登记").click()
        expect(page.get_by_text("已保存 2032-10-01。")).to_be_visible()
        expect(page.get_by_role("table", name="节假日与调休")).to_contain_text("国庆节")
        page.get_by_role("button", name="删除 2032-10-01").click()
        expect(page.get_by_role("table", name="节假日与调休")).not_to_contain_text("国庆节")

        page.get_by_role("navigation", name="主导航").get_by_role("link", name="问题类别").click()
        row = page.locator("tr#S0102")
        row.get_by_label("急要件").check()
        row.get_by_role("button", name="保存").click()
        expect(page.get_by_text("已保存类别。")).to_be_visible()
        expect(page.locator("tr#S0102").get_by_label("急要件")).to_be_checked()
    finally:
        with live_app.app_context():
            db.session.query(CaseTimeLimit).filter_by(scope="S05").delete()
            category = next(c for c in citizen_services.list_categories(include_inactive=True) if c.id == "S0102")
            category.is_urgent = False
            db.session.commit()


def test_the_dashboard_shows_departments_scores_with_samples(page, live_app, live_server):
    make_staff(live_app, "browser_limits_director", ["dispatcher"])
    with live_app.app_context():
        closed_case(DEPARTMENT + "·考核", rating=5)
        db.session.commit()
    log_in(page, live_server, "browser_limits_director")
    page.goto(f"{live_server}/admin/insight")
    table = page.get_by_role("table", name=re.compile("处置部门考核"))
    row = table.get_by_role("row", name=re.compile(DEPARTMENT + "·考核"))
    expect(row).to_contain_text("样本不足（1）")
    expect(row.get_by_role("cell").first).to_have_text("—")  # one case: not ranked


def test_the_urgent_case_stands_first_in_the_desk_queue(page, live_app, live_server):
    make_staff(live_app, "browser_limits_urgent", ["dispatcher"])
    with live_app.app_context():
        usual = services.open_desk_case(ReportFactory(status="forwarded", description="浏览器时限：普通").id)
        urgent = services.open_desk_case(ReportFactory(status="forwarded", description="浏览器时限：急件").id)
        urgent.is_urgent = True
        db.session.commit()
        usual_id, urgent_id = usual.id, urgent.id
    log_in(page, live_server, "browser_limits_urgent")
    page.goto(f"{live_server}/admin/desk?step=received")
    links = page.get_by_role("link", name=re.compile(r"^案件 #\d+$"))
    names = links.all_inner_texts()
    assert names.index(f"案件 #{urgent_id}") < names.index(f"案件 #{usual_id}")
    urgent_row = page.get_by_role("row", name=re.compile(f"案件 #{urgent_id} "))
    expect(urgent_row.get_by_text("急", exact=True)).to_be_visible()
    with live_app.app_context():
        db.session.get(DeskCase, urgent_id).is_urgent = False
        db.session.commit()
