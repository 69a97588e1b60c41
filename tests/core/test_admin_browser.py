"""The admin shell in a real headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import services
from core.db import db
from tests.common.factories import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def make_staff(live_app, username: str, roles: list[str]) -> None:
    with live_app.app_context():
        services.create_staff(services.SYSTEM_ACTOR, username=username, display_name=f"{username} 同志",
                              password=STAFF_PASSWORD, roles=roles)
        db.session.commit()


def log_in(page, live_server: str, username: str, password: str = STAFF_PASSWORD) -> None:
    page.goto(f"{live_server}/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_a_moderator_logs_in_sees_the_dashboard_and_is_refused_staff_management(page, live_app, live_server):
    make_staff(live_app, "browser_moderator", ["moderator"])
    log_in(page, live_server, "browser_moderator")
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    expect(page.get_by_text("欢迎，browser_moderator 同志。")).to_be_visible()
    assert page.get_by_role("link", name="人员管理").count() == 0

    response = page.goto(f"{live_server}/admin/staff")
    assert response.status == 403
    expect(page.get_by_role("heading", name="无权访问")).to_be_visible()


def test_an_admin_creates_a_staff_account_in_the_browser(page, live_app, live_server):
    make_staff(live_app, "browser_admin", ["admin"])
    log_in(page, live_server, "browser_admin")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="人员管理").click()
    page.get_by_role("link", name="新建账户").click()
    page.get_by_label("用户名").fill("new_reviewer")
    page.get_by_label("初始密码（至少 10 位）").fill("a-long-enough-password")
    page.get_by_label("姓名").fill("招牌审核员甲")
    page.get_by_label("招牌审核员").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已创建账户 new_reviewer。")).to_be_visible()
    expect(page.get_by_role("cell", name="招牌审核员甲")).to_be_visible()

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="操作日志").click()
    expect(page.get_by_role("cell", name="新建人员账户", exact=True).first).to_be_visible()


def test_a_wrong_password_shows_a_chinese_error(page, live_app, live_server):
    make_staff(live_app, "browser_typo", ["moderator"])
    log_in(page, live_server, "browser_typo", password="wrong-password!")
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误。"
