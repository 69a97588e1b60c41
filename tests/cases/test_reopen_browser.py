"""A dispatcher finds a reopened case back on the desk (返工) with the resident's reason, in headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.cases.conftest import site_photo_bytes
from tests.cases.test_desk_browser import DEPARTMENT, EVERY_DESK_ROLE, desk_staff
from tests.citizen.helpers import QINGDAO, new_report, sign_in
from tests.core.test_admin_browser import log_in

pytestmark = pytest.mark.browser


def test_a_dispatcher_sees_a_reopened_case_back_at_handling(page, live_app, live_server, monkeypatch, tmp_path):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    desk_staff(live_app, "browser_rework", EVERY_DESK_ROLE, departments=(DEPARTMENT,))
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserReopeningResident")
    report_id = new_report(client, resident, description="浏览器返工：人行道破损")["id"]

    log_in(page, live_server, "browser_rework")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_role("button", name="受理").click()
    page.goto(f"{live_server}/admin/desk?step=")
    page.get_by_role("row", name=re.compile(f"#{report_id} 浏览器返工")).get_by_role(
        "link", name=re.compile("^案件 #")).click()
    case_url = page.url
    page.get_by_role("button", name="立案").click()
    page.get_by_label("处置部门").select_option(label=f"{DEPARTMENT}（市政）")
    page.get_by_role("button", name="派遣").click()
    photo = tmp_path / "mended.jpg"
    photo.write_bytes(site_photo_bytes(QINGDAO))
    page.get_by_role("form", name="处置").get_by_label("处置照片").set_input_files(str(photo))
    page.get_by_role("form", name="处置").get_by_label(re.compile("处置说明")).fill("已修补。")
    page.get_by_role("form", name="处置").get_by_role("button", name="处置", exact=True).click()
    page.get_by_role("button", name="核查", exact=True).click()
    page.get_by_role("button", name="结案").click()
    expect(page.get_by_role("heading", name=re.compile("已结案"))).to_be_visible()

    reopened = client.post(f"/api/v1/reports/{report_id}/reopen", headers=resident,
                           json={"reason": "只修了一半，另一半仍然破损。"})
    assert reopened.status_code == 200, reopened.json

    page.goto(f"{live_server}/admin/desk?step=dispatched")
    row = page.get_by_role("row", name=re.compile(f"#{report_id} 浏览器返工"))
    expect(row.get_by_text("返工", exact=True)).to_be_visible()
    row.get_by_role("link", name=re.compile("^案件 #")).click()
    assert page.url == case_url
    expect(page.get_by_role("heading", name=re.compile("已派遣.*返工"))).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="返工")).to_contain_text("只修了一半，另一半仍然破损。")
    expect(page.get_by_role("form", name="处置")).to_be_visible()
