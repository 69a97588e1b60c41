"""The built-in case desk driven in headless Chromium: accepted, registered, dispatched to the department the routing
rules propose, handled by that department's handler (who sees only its cases), verified, closed, with each step's
deadline shown and an overdue case flagged; a department's return; the departments pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from cases import services as case_services
from core import services as core_services
from core.db import db, utcnow
from core.models import StaffAccount
from tests.cases.conftest import site_photo_bytes
from tests.citizen.helpers import QINGDAO, new_report, sign_in
from tests.core.test_admin_browser import log_in

pytestmark = pytest.mark.browser
DEPARTMENT = "浏览器市政养护中心"
EVERY_DESK_ROLE = ["moderator", "dispatcher", "handler", "verifier"]


def desk_staff(live_app, username: str, roles: list[str], *, display_name: str = "调度员",
               departments: tuple[str, ...] = ()) -> None:
    """A staff member with these roles, a handler of each of ``departments`` (created as municipal works)."""
    with live_app.app_context():
        staff = core_services.create_staff(core_services.SYSTEM_ACTOR, username=username, display_name=display_name,
                                           password="correct-horse-battery", roles=roles)
        db.session.flush()
        for name in departments:
            department_id = department_named(name)
            case_services.set_members(core_services.SYSTEM_ACTOR, department_id,
                                      case_services.member_ids(department_id) | {staff.id})
        db.session.commit()


def department_named(name: str, kind: str = "市政") -> int:
    """The id of the department of this name, created the first time (inside an app context)."""
    existing = next((department for department in case_services.list_departments() if department.name == name), None)
    return (existing or case_services.create_department(core_services.SYSTEM_ACTOR, name=name, kind=kind)).id


def desk_with_report(live_app, monkeypatch, *, username: str, openid: str, template_id: str, description: str,
                     **settings: object) -> dict:
    """The built-in case desk with a staff member ``username`` holding every desk role (a handler of
    浏览器市政养护中心), and a report of a resident who allowed one status message."""
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(
        case_system="desk", wechat_status_template_id=template_id, **settings))
    desk_staff(live_app, username, EVERY_DESK_ROLE, departments=(DEPARTMENT,))
    client = live_app.test_client()
    resident = sign_in(client, openid)
    client.post("/api/v1/notifications/subscriptions", headers=resident, json={"results": {template_id: "accept"}})
    report = new_report(client, resident, description=description)
    return {"client": client, "resident": resident, "id": report["id"]}


@pytest.fixture
def signed_in(browser, live_server):
    """signed_in(username): a page of a browser of its own, signed in as that staff member."""
    contexts = []

    def sign_in_staff(username: str):
        contexts.append(browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai"))
        contexts[-1].set_default_timeout(10_000)
        page = contexts[-1].new_page()
        log_in(page, live_server, username)
        return page

    yield sign_in_staff
    for context in contexts:
        context.close()


@pytest.fixture
def desk_report(live_app, monkeypatch):
    return desk_with_report(live_app, monkeypatch, username="browser_desk", openid="oBrowserDeskResident00001",
                            template_id="TMPL_DESK", description="浏览器案件台：井盖缺失",
                            wechat_status_coalesce_seconds=0)


def open_case(page, live_server: str, report_id: int, description: str, *, step: str = "") -> None:
    page.goto(f"{live_server}/admin/desk?step={step}")
    row = page.get_by_role("row", name=re.compile(f"#{report_id} {description}"))
    row.get_by_role("link", name=re.compile("^案件 #")).click()


def accept_and_register(page, live_server: str, report_id: int, description: str) -> None:
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_role("button", name="受理").click()
    expect(page.get_by_text(f"已受理反映 #{report_id}。")).to_be_visible()
    open_case(page, live_server, report_id, description)
    page.get_by_role("button", name="立案").click()
    expect(page.get_by_role("heading", name=re.compile("已立案"))).to_be_visible()


def test_one_person_holding_every_desk_role_works_a_case_through_every_step(page, live_server, desk_report,
                                                                           fake_wechat, tmp_path):
    report_id = desk_report["id"]
    log_in(page, live_server, "browser_desk")
    accept_and_register(page, live_server, report_id, "浏览器案件台")

    page.get_by_label("处置部门").select_option(label=f"{DEPARTMENT}（市政）")
    page.get_by_role("button", name="派遣").click()
    expect(page.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()

    photo = tmp_path / "fixed.jpg"
    photo.write_bytes(site_photo_bytes(QINGDAO))
    handle = page.get_by_role("form", name="处置")
    handle.get_by_label("处置照片").set_input_files(str(photo))
    handle.get_by_label(re.compile("处置说明")).fill("已补装井盖。")
    handle.get_by_label(re.compile("作为公开答复")).check()
    handle.get_by_role("button", name="处置", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("已处置"))).to_be_visible()
    expect(page.get_by_role("img", name="处置后照片 1")).to_be_visible()

    page.get_by_role("button", name="核查", exact=True).click()
    page.get_by_role("button", name="结案").click()
    expect(page.get_by_role("heading", name=re.compile("已结案"))).to_be_visible()
    expect(page.get_by_text("案件已结案。")).to_be_visible()
    # One person, several duties: the record says in which role each step was taken.
    expect(page.get_by_text("处置 → 已处置（处置人员 browser_desk）")).to_be_visible()
    expect(page.get_by_text("核查 → 已核查（核查员 browser_desk）")).to_be_visible()

    report = desk_report["client"].get(f"/api/v1/reports/{report_id}", headers=desk_report["resident"]).json
    assert report["status"] == "closed"
    notes = [entry["note"] for entry in report["timeline"]]
    assert f"已派遣至{DEPARTMENT}处置。" in notes and "已补装井盖。" in notes
    sent = [m for m in fake_wechat.wechat.subscribe_messages if m["template_id"] == "TMPL_DESK"]
    assert [m["data"]["phrase3"]["value"] for m in sent] == ["已受理"]  # one subscription, one message


def test_separate_duties_route_a_case_to_the_proposed_department_whose_handler_alone_sees_it(
        signed_in, live_app, live_server, monkeypatch, tmp_path):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    desk_staff(live_app, "duty_dispatcher", ["moderator", "dispatcher"])
    desk_staff(live_app, "duty_handler", ["handler"], display_name="处置员", departments=("浏览器市南区环卫",))
    desk_staff(live_app, "duty_verifier", ["verifier"], display_name="核查员")
    with live_app.app_context():
        case_services.add_rule(core_services.SYSTEM_ACTOR, department_named("浏览器市南区环卫", "环卫"),
                               category_prefix="S01", district="市南区")
        department_named("浏览器市北区环卫", "环卫")
        db.session.commit()
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserDutiesResident001")
    ours = new_report(client, resident, description="分工案件：暴露垃圾")["id"]
    theirs = new_report(client, resident, description="分工案件：别的部门")["id"]

    dispatcher = signed_in("duty_dispatcher")
    accept_and_register(dispatcher, live_server, ours, "分工案件：暴露垃圾")
    expect(dispatcher.get_by_text("推荐：浏览器市南区环卫，按分派规则「类别 S01 · 市南区」推荐")).to_be_visible()
    expect(dispatcher.get_by_label("处置部门")).to_have_value(str(department_id_of(live_app, "浏览器市南区环卫")))
    dispatcher.get_by_role("button", name="派遣").click()
    expect(dispatcher.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()
    expect(dispatcher.get_by_role("form", name="处置")).to_have_count(0)  # not the dispatcher's duty
    accept_and_register(dispatcher, live_server, theirs, "分工案件：别的部门")
    dispatcher.get_by_label("处置部门").select_option(label="浏览器市北区环卫（环卫）")
    dispatcher.get_by_role("button", name="派遣").click()
    expect(dispatcher.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()
    expect(dispatcher.get_by_role("definition").filter(has_text=re.compile(r"前（剩余 \d+ 工作(小时|分钟)）"))
           ).to_be_visible()  # 处置时限, in working hours
    theirs_url = dispatcher.url
    # The other department lets its case lie past the deadline: the sweep flags it (督办).
    with live_app.app_context():
        late = case_services.get_desk_case(int(theirs_url.rsplit("/", 1)[1]))
        late.due_at, late.due_in_working_hours = utcnow() - dt.timedelta(hours=3, minutes=5), False
        db.session.commit()
        assert case_services.supervise_overdue() == 1
        db.session.commit()
    dispatcher.goto(f"{live_server}/admin/desk?step=dispatched&sort=due")
    overdue = dispatcher.get_by_role("row", name=re.compile(f"#{theirs} 分工案件"))
    expect(overdue.get_by_text("超时 3 小时")).to_have_class(re.compile("tag-overdue"))
    expect(dispatcher.get_by_role("row", name=re.compile(f"#{ours} 分工案件")).get_by_text(
        re.compile(r"剩余 \d+ 工作"))).to_be_visible()
    dispatcher.goto(theirs_url)
    expect(dispatcher.get_by_role("heading", name=re.compile("已超时"))).to_be_visible()
    expect(dispatcher.get_by_role("list", name="督办记录")).to_contain_text("处置超过时限")

    handler = signed_in("duty_handler")
    handler.get_by_role("navigation", name="主导航").get_by_role("link", name="案件办理").click()
    expect(handler.get_by_role("row", name=re.compile(f"#{ours} 分工案件"))).to_be_visible()
    expect(handler.get_by_role("row", name=re.compile(f"#{theirs} 分工案件"))).to_have_count(0)
    assert handler.goto(theirs_url).status == 404
    open_case(handler, live_server, ours, "分工案件", step="dispatched")
    handle = handler.get_by_role("form", name="处置")
    photo = tmp_path / "cleared.jpg"
    photo.write_bytes(site_photo_bytes(QINGDAO))
    handle.get_by_label("处置照片").set_input_files(str(photo))
    handle.get_by_label(re.compile("处置说明")).fill("垃圾已清运。")
    handle.get_by_role("button", name="处置", exact=True).click()
    expect(handler.get_by_role("heading", name=re.compile("已处置"))).to_be_visible()
    expect(handler.get_by_text("当前环节没有您可办理的操作。")).to_be_visible()

    verifier = signed_in("duty_verifier")
    open_case(verifier, live_server, ours, "分工案件", step="handled")
    verifier.get_by_role("button", name="核查", exact=True).click()
    expect(verifier.get_by_role("heading", name=re.compile("已核查"))).to_be_visible()

    dispatcher.reload()
    open_case(dispatcher, live_server, ours, "分工案件", step="verified")
    dispatcher.get_by_role("button", name="结案").click()
    record = dispatcher.get_by_role("list").filter(has_text="结案 → 已结案")
    expect(record).to_contain_text("派遣 → 已派遣（案件调度员 duty_dispatcher）")
    expect(record).to_contain_text("处置 → 已处置（处置人员 duty_handler）")
    expect(record).to_contain_text("核查 → 已核查（核查员 duty_verifier）")


def department_id_of(live_app, name: str) -> int:
    with live_app.app_context():
        return department_named(name)


def test_a_department_returns_a_case_and_the_dispatcher_accepts_it(signed_in, live_app, live_server, monkeypatch):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    desk_staff(live_app, "return_dispatcher", ["moderator", "dispatcher"])
    desk_staff(live_app, "return_handler", ["handler"], departments=("浏览器园林绿化中心",))
    client = live_app.test_client()
    report_id = new_report(client, sign_in(client, "oBrowserReturnResident01"), description="退回案件：树枝折断")["id"]

    dispatcher = signed_in("return_dispatcher")
    accept_and_register(dispatcher, live_server, report_id, "退回案件")
    dispatcher.get_by_label("处置部门").select_option(label="浏览器园林绿化中心（市政）")
    dispatcher.get_by_role("button", name="派遣").click()
    case_url = dispatcher.url

    handler = signed_in("return_handler")
    handler.goto(case_url)
    form = handler.get_by_role("form", name="申请退回")
    form.get_by_label("退回理由").fill("该树木属于小区物业，不归园林部门。")
    form.get_by_role("button", name="申请退回").click()
    expect(handler.get_by_role("heading", name=re.compile("申请退回"))).to_be_visible()

    dispatcher.reload()
    expect(dispatcher.get_by_role("status", name="退回申请")).to_contain_text("该树木属于小区物业，不归园林部门。")
    dispatcher.get_by_role("button", name="同意退回", exact=True).click()
    expect(dispatcher.get_by_role("heading", name=re.compile("已立案"))).to_be_visible()
    expect(dispatcher.get_by_role("form", name="派遣")).to_be_visible()
    assert handler.goto(case_url).status == 404


def test_an_admin_keeps_the_departments_directory(page, live_app, live_server, tmp_path):
    desk_staff(live_app, "directory_admin", ["admin"])
    desk_staff(live_app, "directory_handler", ["handler"], display_name="园林处置员")
    log_in(page, live_server, "directory_admin")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="处置部门").click()
    create = page.get_by_role("form", name="新建部门")
    create.get_by_label("部门名称").fill("浏览器崂山区园林")
    create.get_by_label("部门类型").select_option("园林")
    create.get_by_role("button", name="新建").click()
    expect(page.get_by_text("已新建部门「浏览器崂山区园林」。")).to_be_visible()

    rule = page.get_by_role("form", name="添加分派规则")
    rule.get_by_label(re.compile("问题类别")).fill("B04")
    rule.get_by_label("所在区").select_option("崂山区")
    rule.get_by_role("button", name="添加规则").click()
    expect(page.get_by_role("table", name="分派规则")).to_contain_text("类别 B04 · 崂山区")
    members = page.get_by_role("form", name="处置人员")
    members.get_by_label(re.compile("园林处置员")).check()
    members.get_by_role("button", name="保存处置人员").click()
    expect(page.get_by_text("已保存部门处置人员。")).to_be_visible()
    with live_app.app_context():
        handler_id = db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == "directory_handler"))
        assert case_services.departments_of(handler_id) == {department_named("浏览器崂山区园林")}

    details = page.get_by_role("form", name="部门信息")
    details.get_by_label(re.compile("启用")).uncheck()
    details.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", name=re.compile("已停用"))).to_be_visible()

    bad = tmp_path / "departments.csv"
    bad.write_text("name,kind,district,categories,active\n浏览器好部门,环卫,,S0104,1\n浏览器坏部门,环卫,浦东新区,S0105,1\n",
                   encoding="utf-8")
    page.get_by_role("link", name="返回处置部门").click()
    upload = page.get_by_role("form", name="导入部门")
    upload.get_by_label("部门文件").set_input_files(str(bad))
    upload.get_by_role("button", name="导入").click()
    expect(page.get_by_text(re.compile("第 3 行：「浦东新区」不是青岛市的区（市）。"))).to_be_visible()
    expect(page.get_by_role("link", name="浏览器好部门")).to_have_count(0)
