"""The home page's to-do counts (工作台): each package registers its own, each role sees its own."""

from __future__ import annotations

import re

import pytest

from core.admin import register_todo
from tests.citizen.helpers import new_report, sign_in
from tests.core.admin_helpers import signed_in_staff

TODO = re.compile(r'<a href="([^"]+)">([^<]+) <strong class="todo-count">(\d+)</strong></a>')


def todos(staff) -> dict[str, tuple[str, int]]:
    """Each to-do on the home page: label → (link, count)."""
    page = staff.get("/admin/").get_data(as_text=True)
    return {label: (url, int(count)) for url, label, count in TODO.findall(page)}


def test_a_to_do_registered_twice_is_refused(app):
    with pytest.raises(ValueError, match="to_moderate"):
        register_todo(app, "to_moderate", "待审核反映", ("moderator",), lambda _staff: 0, "citizen_admin.queue")


def test_a_moderator_sees_the_reports_waiting_with_a_link_to_that_queue(app, client):
    resident = sign_in(client, "oTodoResident0000000001")
    for number in range(2):
        new_report(client, resident, description=f"待办测试 {number}")
    moderator = signed_in_staff(app, "todo_moderator", "moderator")
    assert todos(moderator) == {"待审核反映": ("/admin/reports?status=pending_review", 2)}


def test_each_role_sees_its_own_to_dos_and_an_admin_all_of_them(app):
    seen = {role: set(todos(signed_in_staff(app, f"todo_{role}", role)))
            for role in ("dispatcher", "reward_officer", "signboard_reviewer", "admin")}
    assert seen["dispatcher"] == {"待立案案件", "待派遣案件", "超时案件", "转办失败"}
    assert seen["reward_officer"] == {"待审批奖励", "待复核奖励"}
    assert seen["signboard_reviewer"] == {"待审核招牌申请"}
    assert seen["admin"] == {todo.label for todo in app.extensions["admin_todos"].values()} >= {
        "待审核反映", "待立案案件", "待派遣案件", "待处置案件", "待核查案件", "超时案件", "转办失败", "待审批奖励",
        "待复核奖励", "待审核招牌申请"}
