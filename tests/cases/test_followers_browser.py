"""What staff see of 附议 (issue #21), in headless Chromium: the count in the moderation queue, on the report page
and on the case desk's page, with the subscribe messages sent, coalesced or skipped."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.cases.test_desk_browser import desk_with_report
from tests.citizen.helpers import sign_in
from tests.core.test_admin_browser import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def followed_report(live_app, monkeypatch):
    return desk_with_report(live_app, monkeypatch, username="browser_follow", openid="oBrowserFollowReporter01",
                            template_id="TMPL_FOLLOW", description="浏览器附议：路灯不亮",
                            wechat_status_coalesce_seconds=60)


def test_staff_see_how_many_residents_added_their_voice(page, live_server, followed_report):
    report_id = followed_report["id"]
    log_in(page, live_server, "browser_follow")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_role("button", name="受理").click()
    expect(page.get_by_text(f"已受理反映 #{report_id}。")).to_be_visible()

    client = followed_report["client"]
    for number in (1, 2, 3):
        neighbour = sign_in(client, f"oBrowserFollowNeighbour{number}")
        assert client.post(f"/api/v1/reports/{report_id}/me-too", headers=neighbour).status_code == 200

    page.goto(f"{live_server}/admin/reports?status=forwarded")
    row = page.get_by_role("row", name=re.compile(f"#{report_id} "))
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()
    page.get_by_role("link", name=f"#{report_id}", exact=True).click()
    expect(page.get_by_text("3 位市民附议")).to_be_visible()

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="案件办理").click()
    page.get_by_role("row", name=re.compile(f"#{report_id} 浏览器附议")).get_by_role(
        "link", name=re.compile("^案件 #")).click()
    expect(page.get_by_text("3 位市民附议")).to_be_visible()
    messages = page.get_by_role("table", name="订阅消息")
    # Accepted and forwarded at once: the acceptance's message was replaced by the forwarding's, one permission.
    expect(messages.get_by_role("row", name=re.compile("已受理.*已合并"))).to_be_visible()
    expect(messages.get_by_role("row", name=re.compile("已转办.*待发送"))).to_be_visible()
