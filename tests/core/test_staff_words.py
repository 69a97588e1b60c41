"""Staff read Chinese, never internal names: every audit action recorded in the code has a Chinese name, audit
entries show their changes as 字段：前 → 后, machines that act are named (no 已转办（desk）, no （system）)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cases.services import DESK_ACTIONS
from core import staff_words
from core.config import DOMAIN_PACKAGES, PROJECT_ROOT
from signboard_templates.services.applications import DECISIONS
from tests.citizen.helpers import new_report, sign_in
from tests.common.factories import StaffFactory
from tests.core.admin_helpers import admin_post, signed_in_staff
from tests.rewards.helpers import moderate

AUDITING_CALLS = {"record_audit": 1, "change_audited": 1}  # function → position of its action argument
HAN = re.compile(r"[\u4e00-\u9fff]")


def _source_files() -> list[Path]:
    return [path for package in ("core", *DOMAIN_PACKAGES) for path in sorted((PROJECT_ROOT / package).rglob("*.py"))]


def _called_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def _actions_passed_as(tree: ast.Module, function: ast.FunctionDef, parameter: str) -> list[ast.expr]:
    """What the module's calls of ``function`` pass for its ``parameter``: an action handed down to the call that
    records it (citizen's _moderate)."""
    position = [argument.arg for argument in function.args.args].index(parameter)
    return [argument for call in ast.walk(tree) if isinstance(call, ast.Call) and _called_name(call) == function.name
            for argument in [_argument(call, position, parameter)] if argument is not None]


def recorded_actions() -> tuple[set[str], set[str]]:
    """Every audit action the code records: the literal ones, and the patterns of those it builds (``desk_case.*``).
    An action in a variable is followed to the literals its function is called with; one that cannot be is an
    error, so that no action escapes the check."""
    literals, patterns = set(), set()
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or _called_name(call) not in AUDITING_CALLS:
                continue
            action = _argument(call, AUDITING_CALLS[_called_name(call)], "action")
            if action is None:
                continue  # the definition's own call of another name, or a forwarding wrapper
            pending = [action]
            while pending:
                node = pending.pop()
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.add(node.value)
                elif isinstance(node, ast.JoinedStr):
                    patterns.add("".join(re.escape(part.value) if isinstance(part, ast.Constant) else "[a-z_]+"
                                         for part in node.values))
                elif isinstance(node, ast.Name):
                    enclosing = parents.get(call)
                    while enclosing is not None and not isinstance(enclosing, ast.FunctionDef):
                        enclosing = parents.get(enclosing)
                    assert enclosing is not None and node.id in [a.arg for a in enclosing.args.args], (
                        f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}: audit action {node.id} is not traceable")
                    if enclosing.name in ("record_audit", "change_audited"):
                        continue  # core's own definitions passing their parameter on
                    passed = _actions_passed_as(tree, functions[enclosing.name], node.id)
                    assert passed, f"{path.relative_to(PROJECT_ROOT)}: nothing calls {enclosing.name}"
                    pending.extend(passed)
                else:
                    pytest.fail(f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}: an audit action of another kind")
    return literals, patterns


def test_every_audit_action_recorded_in_the_code_has_a_chinese_name(app):
    names = staff_words.audit_actions(app)
    literals, patterns = recorded_actions()
    assert {"staff.login", "report.accept", "report.reject", "reward.approve"} <= literals  # the scan finds them
    assert sorted(literals - set(names)) == []
    for pattern in patterns:
        assert any(re.fullmatch(pattern, action) for action in names), f"no action named like {pattern}"
    # The actions built from a name: each name they are built from.
    assert {f"desk_case.{name}" for name in DESK_ACTIONS} | {f"signboard.{name}" for name in DECISIONS} <= set(names)
    assert [action for action, name in names.items() if not HAN.search(name)] == []


def test_every_audited_object_has_a_chinese_name(app):
    objects = staff_words.audit_objects(app)
    recorded = set()
    for path in _source_files():
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(call, ast.Call) and _called_name(call) in AUDITING_CALLS:
                object_type = _argument(call, 2, "object_type")
                if isinstance(object_type, ast.Constant):
                    recorded.add(object_type.value)
    assert "staff_account" in recorded and sorted(recorded - set(objects)) == []


def test_a_change_reads_as_field_before_and_after_with_codes_named(app):
    with app.test_request_context():
        rows = staff_words.audit_changes(
            "staff_account", {"display_name": "张三", "roles": ["moderator"], "is_active": True},
            {"display_name": "张三", "roles": ["dispatcher", "moderator"], "is_active": False,
             "password_changed": True})
        step = staff_words.audit_changes("desk_case", {"step": "registered", "department": None},
                                         {"step": "dispatched", "department": "市南区环卫所"})
    assert [(row.field, row.before, row.after) for row in rows] == [
        ("角色", "审核员", "案件调度员、审核员"), ("启用", "是", "否"), ("已改密码", "—", "是")]
    assert [(row.field, row.before, row.after) for row in step] == [
        ("环节", "已立案", "已派遣"), ("处置部门", "—", "市南区环卫所")]
    with app.test_request_context():
        attributes = staff_words.audit_changes("facility", {"attributes": {"free": True}},
                                               {"attributes": {"free": False}})
    assert [(row.before, row.after) for row in attributes] == [("free：是", "free：否")]


def test_the_audit_page_shows_actions_objects_and_changes_in_chinese(app):
    chief = signed_in_staff(app, "words_chief", "admin")
    with app.app_context():
        colleague_id = StaffFactory(username="words_colleague", roles=["moderator"]).id
    admin_post(chief, f"/admin/staff/{colleague_id}",
               {"display_name": "同事", "roles": ["moderator", "dispatcher"], "is_active": "on"})
    page = chief.get("/admin/audit").get_data(as_text=True)
    table = page[page.index("<tbody>"):]
    assert "<td>登录</td>" in table and "<td>修改人员账户</td>" in table
    assert f"人员账户 #{colleague_id}" in table
    assert "角色：审核员 → 案件调度员、审核员" in table
    assert "staff." not in table and "staff_account" not in table and "{" not in table


def test_machines_that_move_a_report_are_named_in_chinese(app, client, run_jobs):
    app.config["APP_SETTINGS"] = app.config["APP_SETTINGS"].replace(case_system="desk")
    report_id = new_report(client, sign_in(client, "oStaffWordsResident000001"))["id"]
    moderate(app, run_jobs, report_id, "accepted")
    moderator = signed_in_staff(app, "words_moderator", "moderator", "dispatcher")
    report_page = moderator.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    assert "已转办（内置案件台）" in report_page and "（desk）" not in report_page
    desk_page = moderator.get("/admin/desk?step=").get_data(as_text=True)
    case_id = re.search(r'href="/admin/desk/(\d+)"', desk_page).group(1)
    case_page = moderator.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert "（系统）" in case_page and "（system）" not in case_page
