"""The built-in case desk driven in headless Chromium: accepted, registered, dispatched, handled, verified, closed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import services as core_services
from core.db import db
from tests.citizen.helpers import new_report, sign_in
from tests.core.test_admin_browser import log_in
from tests.common.media_files import photo_bytes

pytestmark = pytest.mark.browser


def desk_with_report(live_app, monkeypatch, *, username: str, openid: str, template_id: str, description: str,
                     **settings: object) -> dict:
    """The built-in case desk with a staff member ``username`` (moderator and dispatcher), and a report of a resident
    who allowed one status message."""
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(
        case_system="desk", wechat_status_template_id=template_id, **settings))
    with live_app.app_context():
        core_services.create_staff(core_services.SYSTEM_ACTOR, username=username, display_name="调度员",
                                   password="correct-horse-battery", roles=["moderator", "dispatcher"])
        db.session.commit()
    client = live_app.test_client()
    resident = sign_in(client, openid)
    client.post("/api/v1/notifications/subscriptions", headers=resident, json={"results": {template_id: "accept"}})
    report = new_report(client, resident, description=description)
    return {"client": client, "resident": resident, "id": report["id"]}


@pytest.fixture
def desk_report(live_app, monkeypatch):
    return desk_with_report(live_app, monkeypatch, username="browser_desk", openid="oBrowserDeskResident00001",
                            template_id="TMPL_DESK", description="浏览器案件台：井盖缺失",
                            wechat_status_coalesce_seconds=0)


def test_a_dispatcher_works_a_case_through_every_step(page, live_server, desk_report, fake_wechat, tmp_path):
    report_id = desk_report["id"]
    log_in(page, live_server, "browser_desk")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_role("button", name="受理").click()
    expect(page.get_by_text(f"已受理反映 #{report_id}。")).to_be_visible()

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="案件办理").click()
    page.get_by_role("row", name=re.compile(f"#{report_id} 浏览器案件台")).get_by_role(
        "link", name=re.compile("^案件 #")).click()
    page.get_by_role("button", name="立案").click()
    expect(page.get_by_role("heading", name=re.compile("已立案"))).to_be_visible()

    page.get_by_label("处置部门").fill("市南区市政养护中心")
    page.get_by_role("button", name="派遣").click()
    expect(page.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()

    photo = tmp_path / "fixed.jpg"
    photo.write_bytes(photo_bytes(4242))
    handle = page.get_by_role("form", name="处置")
    handle.get_by_label("处置照片").set_input_files(str(photo))
    handle.get_by_label(re.compile("处置说明")).fill("已补装井盖。")
    handle.get_by_label(re.compile("作为公开答复")).check()
    handle.get_by_role("button", name="处置", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("已处置"))).to_be_visible()
    expect(page.get_by_role("img", name="处置照片 2")).to_be_visible()

    page.get_by_role("button", name="核查").click()
    page.get_by_role("button", name="结案").click()
    expect(page.get_by_role("heading", name=re.compile("已结案"))).to_be_visible()
    expect(page.get_by_text("案件已结案。")).to_be_visible()

    report = desk_report["client"].get(f"/api/v1/reports/{report_id}", headers=desk_report["resident"]).json
    assert report["status"] == "closed"
    notes = [entry["note"] for entry in report["timeline"]]
    assert "已派遣至市南区市政养护中心处置。" in notes and "已补装井盖。" in notes
    sent = [m for m in fake_wechat.wechat.subscribe_messages if m["template_id"] == "TMPL_DESK"]
    assert [m["data"]["phrase3"]["value"] for m in sent] == ["已受理"]  # one subscription, one message
