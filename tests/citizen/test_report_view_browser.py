"""The read-only report page in headless Chromium: the roles deciding on what follows from a report (the case, the
reward) reach it from their own pages and see its photos, with no moderation to do."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.citizen.helpers import new_report, sign_in
from tests.core.test_admin_browser import log_in, make_staff
from tests.rewards.helpers import moderate

pytestmark = pytest.mark.browser


@pytest.fixture
def accepted_on_the_desk(live_app, monkeypatch):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserReportViewer00001")
    report_id = new_report(client, resident, description="浏览器只读：护栏倒伏")["id"]
    moderate(live_app, lambda: None, report_id, "accepted")
    return report_id


def expect_the_read_view(page, report_id: int) -> None:
    expect(page.get_by_role("heading", name=re.compile(f"^反映 #{report_id}"))).to_be_visible()
    photo = page.get_by_role("img", name="反映照片 1")
    expect(photo).to_be_visible()
    # Loaded through its signed link, not a broken picture.
    assert photo.evaluate("image => image.complete && image.naturalWidth > 0")
    expect(page.get_by_text("浏览器只读：护栏倒伏")).to_be_visible()
    expect(page.get_by_role("heading", name="处理时间线")).to_be_visible()
    expect(page.get_by_role("button", name="受理")).to_have_count(0)
    expect(page.get_by_role("button", name="驳回")).to_have_count(0)
    expect(page.get_by_text("openid")).to_have_count(0)


def test_a_dispatcher_opens_the_report_behind_a_case_from_the_case_list(page, live_server, live_app,
                                                                       accepted_on_the_desk):
    report_id = accepted_on_the_desk
    make_staff(live_app, "browser_view_dispatcher", ["dispatcher"])
    log_in(page, live_server, "browser_view_dispatcher")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="案件办理").click()
    page.get_by_role("link", name="全部").click()
    page.get_by_role("row", name=re.compile("浏览器只读")).get_by_role("link", name=f"#{report_id}", exact=True).click()
    assert page.url.endswith(f"/admin/reports/{report_id}/view")
    expect_the_read_view(page, report_id)


def test_a_reward_officer_reads_a_report_and_its_photos_but_not_the_moderators_page(page, live_server, live_app,
                                                                                   accepted_on_the_desk):
    report_id = accepted_on_the_desk
    make_staff(live_app, "browser_view_officer", ["reward_officer"])
    log_in(page, live_server, "browser_view_officer")
    page.goto(f"{live_server}/admin/reports/{report_id}/view")
    expect_the_read_view(page, report_id)
    refused = page.goto(f"{live_server}/admin/reports/{report_id}")
    assert refused.status == 403
