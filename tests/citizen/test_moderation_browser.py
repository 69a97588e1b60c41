"""A moderator works the queue in a real headless Chromium."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from citizen.models import Report
from core import services as core_services
from core.db import db
from core.models import AuditEntry
from tests.citizen.helpers import new_report, sign_in
from tests.core.test_admin_browser import log_in

pytestmark = pytest.mark.browser
MERGE_PLACE = (36.0800, 120.4200)  # 崂山区, 3 km east of QINGDAO


@pytest.fixture
def queue(live_app):
    with live_app.app_context():
        core_services.create_staff(core_services.SYSTEM_ACTOR, username="browser_queue_mod", display_name="审核员",
                                   password="correct-horse-battery", roles=["moderator"])
        db.session.commit()
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserResident")
    return {
        "garbage": new_report(client, resident, description="浏览器测试：暴露垃圾"),
        "advert": new_report(client, resident, description="浏览器测试：小广告", category="S0201"),
        # A place of their own: the browser tests' other reports at QINGDAO would crowd the candidates out.
        "original": new_report(client, resident, description="浏览器测试：原始反映", location=MERGE_PLACE),
        "copy": new_report(client, resident, description="浏览器测试：重复反映", location=MERGE_PLACE),
    }


def open_report(page, report_id: int) -> None:
    page.get_by_role("link", name=f"#{report_id}", exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/reports/{report_id}$"))


def test_a_moderator_filters_accepts_rejects_and_merges(page, live_server, queue):
    log_in(page, live_server, "browser_queue_mod")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="反映审核").click()

    page.get_by_role("group", name="类别").get_by_text("事件", exact=True).click()
    page.get_by_text("S02 宣传广告").click()
    page.get_by_label("S0201 非法小广告").check()
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_role("link", name=f"#{queue['advert']['id']}", exact=True)).to_be_visible()
    assert page.get_by_role("link", name=f"#{queue['garbage']['id']}", exact=True).count() == 0

    open_report(page, queue["advert"]["id"])
    page.get_by_label("驳回理由模板").select_option(label="照片无法反映问题")
    page.get_by_role("button", name="驳回").click()
    expect(page.get_by_text(f"已驳回反映 #{queue['advert']['id']}。")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("未受理"))).to_be_visible()

    page.goto(f"{live_server}/admin/reports")
    open_report(page, queue["garbage"]["id"])
    assert page.locator("#report-map[data-ready=true]").count() == 1
    expect(page.get_by_role("img", name="反映照片 1")).to_be_visible()
    page.get_by_role("button", name="受理").click()
    expect(page.get_by_text(f"已受理反映 #{queue['garbage']['id']}。")).to_be_visible()

    page.goto(f"{live_server}/admin/reports/{queue['copy']['id']}")
    page.get_by_role("button", name=f"合并到 #{queue['original']['id']}").click()
    expect(page.get_by_text(f"已将反映 #{queue['copy']['id']} 合并到 #{queue['original']['id']}。")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("重复反映"))).to_be_visible()


def test_masked_submitter_details_are_shown_in_the_clear_only_on_request_and_the_reveal_is_audited(
        page, live_server, live_app):
    client = live_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    report_id = new_report(client, sign_in(client, "oBrowserMaskedResident0000001"))["id"]
    with live_app.app_context():
        report = db.session.get(Report, report_id)
        report.rating, report.rating_comment = 2, "处理后两天又堆满了，电话13812345678"
        for username, roles in (("browser_reveal_mod", ["moderator"]), ("browser_reveal_admin", ["admin"])):
            core_services.create_staff(core_services.SYSTEM_ACTOR, username=username, display_name="审核员",
                                       password="correct-horse-battery", roles=roles)
        db.session.commit()

    log_in(page, live_server, "browser_reveal_mod")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    facts = page.locator("dl.facts").last
    expect(facts).to_contain_text("198.51.*.*")
    expect(facts).not_to_contain_text("13812345678")
    expect(page.get_by_role("button", name="显示提交 IP")).to_have_count(0)
    page.get_by_role("button", name="显示评价内容").click()
    expect(page.locator(".revealed")).to_have_text("处理后两天又堆满了，电话13812345678")
    expect(page.locator("dl.facts").last).not_to_contain_text("198.51.100.23")

    page.get_by_role("button", name="退出登录").click()
    log_in(page, live_server, "browser_reveal_admin")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_role("button", name="显示提交 IP").click()
    expect(page.locator(".revealed")).to_have_text("198.51.100.23")

    page.goto(f"{live_server}/admin/audit")
    expect(page.get_by_role("row", name=re.compile("查看敏感信息 反映 #.*字段：— → 提交 IP")).first).to_be_visible()
    with live_app.app_context():
        reveals = db.session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "sensitive.reveal", AuditEntry.object_id == str(report_id))
            .order_by(AuditEntry.id)).all()
        assert [(entry.actor_name, entry.after) for entry in reveals] == [
            ("browser_reveal_mod", {"field": "rating_comment"}), ("browser_reveal_admin", {"field": "submitted_ip"})]
