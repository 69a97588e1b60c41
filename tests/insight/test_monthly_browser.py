"""The monthly report in a real headless Chromium: on screen the data tables fold away, printed they are open;
the hot-spot map shows the districts' boundaries under the grid."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core import services as core_services
from core.db import db
from insight import services
from insight.settings import InsightSettings
from tests.common.factories import STAFF_PASSWORD
from tests.core.test_admin_browser import log_in
from tests.insight.helpers import seed_october

pytestmark = pytest.mark.browser


def test_the_monthly_report_prints_its_tables_open_over_a_map_of_the_districts(page, live_app, live_server):
    with live_app.app_context():
        core_services.create_staff(core_services.SYSTEM_ACTOR, username="insight_monthly", display_name="月报",
                                   password=STAFF_PASSWORD, roles=["moderator"])
        seed_october()
        services.rebuild(live_app.config["APP_SETTINGS"].area(InsightSettings))
        db.session.commit()
    log_in(page, live_server, "insight_monthly")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in {"error", "warning"} else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server}/admin/insight/monthly?month=2026-10")
    expect(page.get_by_role("heading", name="本月概要")).to_be_visible()
    daily = page.get_by_role("table", name="每日反映量（2026 年 10 月）")
    expect(daily).to_be_hidden()  # folded under its "数据表" toggle on screen
    # The districts under the grid, drawn and visible.
    hot_spots = page.get_by_role("img", name="问题热点网格（2026 年 10 月）")
    expect(hot_spots.locator("path.district").first).to_be_visible()
    assert hot_spots.locator("path.district").count() >= 3
    page.emulate_media(media="print")
    expect(daily).to_be_visible()
    expect(daily.get_by_role("row", name="10-02 1")).to_be_visible()
    expect(page.get_by_text("数据表", exact=True).first).to_be_hidden()
    page.emulate_media(media="screen")
    expect(daily).to_be_hidden()
    assert problems == []
