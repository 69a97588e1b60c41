"""The departments directory: routing rules proposing a department, CSV import (whole or not at all), the sample,
and the admin pages' edits, each audited."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import Department
from core.config import PROJECT_ROOT
from core.db import db
from core.errors import Conflict, ValidationFailed
from core.models import AuditEntry
from core.services import Actor
from tests.common.factories import StaffFactory
from tests.core.admin_helpers import csrf_token, signed_in_staff

ADMIN = Actor(None, "departments-admin")
SAMPLE = PROJECT_ROOT / "cases" / "data" / "departments_qingdao.csv"
HEADER = "name,kind,district,categories,active\n"


def department_named(name: str) -> Department | None:
    return db.session.scalar(sa.select(Department).where(Department.name == name))


def test_the_most_specific_rule_proposes_the_department(app):
    with app.app_context():
        services.import_departments(ADMIN, HEADER + "\n".join([
            "市南区街道办,街道办事处,市南区,*,1",
            "市南区环卫,环卫,市南区,S01,1",
            "全市环卫,环卫,,S01,1",
            "自来水公司,公用事业,,S0402,1",
            "停用的部门,其他,市北区,S0102,0",
        ]))
        assert services.propose_department("S0102", "市南区").department.name == "市南区环卫"
        assert services.propose_department("S0102", "市北区").department.name == "全市环卫"  # its rule is inactive
        assert services.propose_department("S0402", "市南区").department.name == "自来水公司"  # category first
        proposal = services.propose_department("B0301", "市南区")
        assert proposal.department.name == "市南区街道办" and proposal.reason == "按分派规则「全部类别 · 市南区」推荐"
        assert services.propose_department("B0301", None) is None


@pytest.mark.parametrize(("rows", "reason"), [
    ("某部门,环卫,市南区,S99,1", "第 3 行：类别「S99」不存在"),
    ("某部门,环卫,上海市,S01,1", "第 3 行：「上海市」不是青岛市的区（市）"),
    ("某部门,银行,,S01,1", "第 3 行：部门类型须为"),
    (",环卫,,S01,1", "第 3 行：部门名称不能为空"),
    ("某部门,环卫,,S01,也许", "第 3 行：启用一栏须为 1 或 0"),
    ("某部门,环卫,,S0102,1", "第 3 行：规则「类别 S0102 · 全市」已属于「好部门」"),
], ids=["category", "district", "kind", "name", "active", "rule-twice"])
def test_a_bad_row_refuses_the_whole_file_with_a_chinese_reason(app, rows, reason):
    with app.app_context():
        with pytest.raises(services.DepartmentImportRefused) as refused:
            services.import_departments(ADMIN, HEADER + "好部门,环卫,,S0102,1\n" + rows + "\n")
        assert any(problem.startswith(reason) for problem in refused.value.problems), refused.value.problems
        assert department_named("好部门") is None  # the good row was not written either


def test_a_reimport_updates_by_name_and_replaces_the_rules(app):
    with app.app_context():
        first = services.import_departments(ADMIN, HEADER + "甲,环卫,市南区,S01 B03,1\n乙,市政,,B02,1\n")
        again = services.import_departments(ADMIN, HEADER + "甲,环卫,市南区,B03,0\n乙,市政,,B02 S01,1\n")
        assert (first.created, again.created, again.updated) == (2, 0, 2)
        assert department_named("甲").is_active is False
        assert [(rule.category_prefix, rule.district) for rule in department_named("乙").rules] == [
            ("B02", ""), ("S01", "")]
        assert [entry.after["names"] for entry in db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "department.import"))] == [["乙", "甲"], ["乙", "甲"]]


def test_the_sample_loads_from_the_command_and_again(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cases", "departments-import", str(SAMPLE)])
    assert result.exit_code == 0 and "departments: 39 created, 0 updated" in result.output
    assert "0 created, 39 updated" in runner.invoke(args=["cases", "departments-import", str(SAMPLE)]).output
    with app.app_context():
        assert services.propose_department("S0402", "崂山区").department.name == "青岛海润自来水集团有限公司"
        assert services.propose_department("S0102", "市北区").department.name == "市北区环境卫生服务中心"
        assert services.propose_department("S0505", "市南区").department.name == "青岛市公安局交通警察支队"
        assert services.propose_department("S0501", "市南区").department.name == "市南区八大关街道办事处"


def test_a_bad_file_from_the_command_prints_each_reason_and_writes_nothing(app, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "好部门,环卫,,S01,1\n坏部门,环卫,浦东新区,S02,1\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["cases", "departments-import", str(bad)])
    assert result.exit_code == 1 and "第 3 行：「浦东新区」不是青岛市的区（市）。" in result.output
    with app.app_context():
        assert department_named("好部门") is None


def test_rules_and_names_are_unique_and_checked(app):
    with app.app_context():
        department = services.create_department(ADMIN, name="市南区环卫", kind="环卫")
        services.add_rule(ADMIN, department.id, category_prefix="s01*", district="市南区")
        assert [(rule.category_prefix, rule.district) for rule in department.rules] == [("S01", "市南区")]
        other = services.create_department(ADMIN, name="市北区环卫", kind="环卫")
        with pytest.raises(Conflict, match="已属于「市南区环卫」"):
            services.add_rule(ADMIN, other.id, category_prefix="S01", district="市南区")
        with pytest.raises(Conflict, match="已有名为"):
            services.update_department(ADMIN, other.id, name="市南区环卫", kind="环卫", is_active=True)
        with pytest.raises(ValidationFailed, match="不存在"):
            services.add_rule(ADMIN, other.id, category_prefix="X1", district="")


def test_members_are_handlers_only(app):
    with app.app_context():
        department = services.create_department(ADMIN, name="李沧区园林", kind="园林")
        handler = StaffFactory(username="dept-handler", roles=["handler"])
        moderator = StaffFactory(username="dept-moderator", roles=["moderator"])
        with pytest.raises(ValidationFailed, match="处置人员角色"):
            services.set_members(ADMIN, department.id, [handler.id, moderator.id])
        services.set_members(ADMIN, department.id, [handler.id])
        assert services.departments_of(handler.id) == {department.id}
        services.set_members(ADMIN, department.id, [])
        assert services.departments_of(handler.id) == set()


def test_an_admin_creates_edits_deactivates_and_imports_departments(app):
    staff = signed_in_staff(app, "departments-page-admin", "admin")
    token = csrf_token(staff, "/admin/departments")
    created = staff.post("/admin/departments", data={"csrf_token": token, "name": "黄岛区环卫", "kind": "环卫"})
    page = staff.get(created.location).get_data(as_text=True)
    assert "已新建部门「黄岛区环卫」。" in page
    staff.post(f"{created.location}/rules", data={"csrf_token": token, "category_prefix": "S01", "district": "黄岛区"})
    page = staff.get(created.location).get_data(as_text=True)
    assert "类别 S01 · 黄岛区" in page
    staff.post(created.location, data={"csrf_token": token, "name": "黄岛区环卫", "kind": "环卫"})
    assert "已停用" in staff.get(created.location).get_data(as_text=True)

    upload = {"csrf_token": token, "file": (io.BytesIO((HEADER + "坏部门,环卫,,Z1,1\n").encode()), "bad.csv")}
    response = staff.post("/admin/departments/import", data=upload, content_type="multipart/form-data")
    assert "第 2 行：类别「Z1」不存在" in staff.get(response.location).get_data(as_text=True)
    upload = {"csrf_token": token, "file": (io.BytesIO((HEADER + "好部门,环卫,,S02,1\n").encode()), "good.csv")}
    response = staff.post("/admin/departments/import", data=upload, content_type="multipart/form-data")
    assert "新建 1 个部门，更新 0 个，分派规则 1 条。" in staff.get(response.location).get_data(as_text=True)
    with app.app_context():
        actions = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "department")
                                          .order_by(AuditEntry.id)))
    assert actions == ["department.create", "department.rule_add", "department.update", "department.import"]


def test_the_departments_pages_are_for_administrators(app):
    assert signed_in_staff(app, "departments-dispatcher", "dispatcher").get("/admin/departments").status_code == 403
