"""The working week of the desk's calendar, edited by an administrator on the 办理时限 page: weekdays and working
periods, checked, stored, audited, and counted by the deadlines; the shipped week is the default."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import CaseWorkingWeek
from core.db import db
from core.models import AuditEntry
from core.services import SYSTEM_ACTOR
from tests.common.factories import ReportFactory
from tests.core.admin_helpers import csrf_token, signed_in_staff

SHANGHAI = services.limits.SHANGHAI
# Monday to Saturday, 08:00–12:00 and 14:00–18:00.
SIX_DAYS = {"weekdays": ["1", "2", "3", "4", "5", "6"], "opens": ["08:00", "14:00", ""],
            "closes": ["12:00", "18:00", ""]}


@pytest.fixture
def administrator(app):
    client = signed_in_staff(app, "week-admin", "admin")
    yield client
    with app.app_context():  # back to the shipped week for the tests after this one
        services.reset_working_week(SYSTEM_ACTOR)
        db.session.commit()


def post_week(administrator, form: dict) -> str:
    token = csrf_token(administrator, "/admin/desk/limits")
    return administrator.post("/admin/desk/calendar/week", data={"csrf_token": token, **form},
                              follow_redirects=True).get_data(as_text=True)


def week_entries() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case_calendar.week")))


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


def test_the_shipped_week_applies_until_an_administrator_sets_one(app, administrator):
    page = administrator.get("/admin/desk/limits").get_data(as_text=True)
    assert "周一、周二、周三、周四、周五 09:00–12:00、13:30–17:30" in page and "系统默认" in page
    with app.app_context():
        week = services.working_week()
        assert not week.edited and week.weekdays == frozenset({1, 2, 3, 4, 5})
        assert week.periods == ((dt.time(9), dt.time(12)), (dt.time(13, 30), dt.time(17, 30)))


def test_an_administrator_s_week_is_stored_audited_and_counted_by_deadlines(app, administrator):
    assert "已保存工作日与工作时间" in post_week(administrator, SIX_DAYS)
    page = administrator.get("/admin/desk/limits").get_data(as_text=True)
    assert "周一、周二、周三、周四、周五、周六 08:00–12:00、14:00–18:00" in page and "已修改" in page
    with app.app_context():
        row = db.session.get(CaseWorkingWeek, 1)
        assert (row.weekdays, row.periods) == ([1, 2, 3, 4, 5, 6], [["08:00", "12:00"], ["14:00", "18:00"]])
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case_calendar.week")
                                   .order_by(AuditEntry.id.desc())).first()
        assert entry.before == {"weekdays": ["周一", "周二", "周三", "周四", "周五"],
                                "periods": ["09:00–12:00", "13:30–17:30"]}
        assert entry.after == {"weekdays": ["周一", "周二", "周三", "周四", "周五", "周六"],
                               "periods": ["08:00–12:00", "14:00–18:00"]}
        # 2031-10-04 is a Saturday: worked now, and five working hours from 07:00 end at 15:00 (4 h + 1 h).
        calendar = services.working_calendar()
        five_hours = services.Limit(300, working_hours=True)
        assert calendar.deadline(at("2031-10-04", "07:00"), five_hours) == at("2031-10-04", "15:00")
        # A case's step counts with it: 立案's one working hour from Saturday 10:00 ends at 11:00 that day.
        case = services.open_desk_case(ReportFactory(status="forwarded").id)
        services.limits.clock_step(case, case.steps[-1], now=at("2031-10-04", "10:00"))
        assert case.due_at == at("2031-10-04", "11:00")
        db.session.rollback()


def test_a_reset_brings_back_the_shipped_week_audited(app, administrator):
    post_week(administrator, SIX_DAYS)
    assert "已恢复默认工作日与工作时间" in post_week(administrator, {**SIX_DAYS, "reset": "on"})
    with app.app_context():
        assert db.session.get(CaseWorkingWeek, 1) is None
        assert not services.working_calendar().is_workday(dt.date(2031, 10, 4))
        assert db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case_calendar.week_reset")).first()


@pytest.mark.parametrize(("form", "message"), [
    ({"weekdays": [], "opens": ["09:00"], "closes": ["17:00"]}, "请至少选择一个工作日。"),
    ({"weekdays": ["8"], "opens": ["09:00"], "closes": ["17:00"]}, "工作日须为周一至周日。"),
    ({"weekdays": ["周一"], "opens": ["09:00"], "closes": ["17:00"]}, "工作日须为周一至周日。"),
    ({"weekdays": ["1"], "opens": ["", ""], "closes": ["", ""]}, "请至少填写一段工作时间"),
    ({"weekdays": ["1"], "opens": ["9点"], "closes": ["17:00"]}, "第 1 段工作时间的「9点」不是时间，请按 HH:MM 填写"),
    ({"weekdays": ["1"], "opens": ["09:00"], "closes": ["24:00"]}, "「24:00」不是时间"),
    ({"weekdays": ["1"], "opens": ["09:00", "13:00"], "closes": ["12:00", ""]},
     "第 2 段工作时间须同时填写开始和结束时间。"),
    ({"weekdays": ["1"], "opens": ["12:00"], "closes": ["09:00"]},
     "第 1 段工作时间的结束时间 09:00 须晚于开始时间 12:00。"),
    ({"weekdays": ["1"], "opens": ["09:00", "11:30"], "closes": ["12:00", "17:00"]},
     "第 2 段工作时间 11:30–17:00 须在上一段 09:00–12:00 结束后开始：各段按时间先后填写，不能重叠。"),
    ({"weekdays": ["1"], "opens": ["13:30", "09:00"], "closes": ["17:30", "12:00"]}, "各段按时间先后填写，不能重叠"),
])
def test_a_week_that_cannot_be_is_refused_in_chinese_and_nothing_changes(app, administrator, form, message):
    with app.app_context():
        audited = len(week_entries())
    assert message in post_week(administrator, form)
    with app.app_context():
        assert db.session.get(CaseWorkingWeek, 1) is None and len(week_entries()) == audited


def test_a_period_written_without_its_leading_zero_is_kept_as_hh_mm(app, administrator):
    post_week(administrator, {"weekdays": ["1"], "opens": ["9:00"], "closes": ["17:00"]})
    with app.app_context():
        assert db.session.get(CaseWorkingWeek, 1).periods == [["09:00", "17:00"]]


def test_only_administrators_edit_the_week(app):
    dispatcher = signed_in_staff(app, "week-dispatcher", "dispatcher")
    token = csrf_token(dispatcher, "/admin/desk")
    assert dispatcher.post("/admin/desk/calendar/week", data={"csrf_token": token, **SIX_DAYS}).status_code == 403
