"""The dashboard in a real headless Chromium: it loads with no console errors and its charts show."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import services as core_services
from core.db import db, utcnow
from insight import services
from insight.settings import InsightSettings
from tests.core.test_admin_browser import log_in
from tests.common.factories import STAFF_PASSWORD
from tests.insight.helpers import make_report

pytestmark = pytest.mark.browser


def test_the_dashboard_loads_without_console_errors(page, live_app, live_server):
    with live_app.app_context():
        core_services.create_staff(core_services.SYSTEM_ACTOR, username="insight_browser", display_name="看板",
                                   password=STAFF_PASSWORD, roles=["moderator"])
        make_report(utcnow(), status="accepted")
        services.rebuild(live_app.config["APP_SETTINGS"].area(InsightSettings))
        db.session.commit()
    log_in(page, live_server, "insight_browser")  # the sign-in page's missing favicon is not the dashboard's
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in {"error", "warning"} else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="数据看板").click()
    expect(page.get_by_role("heading", name="数据看板")).to_be_visible()
    expect(page.get_by_role("img", name="每日反映量（近 30 天）")).to_be_visible()
    expect(page.get_by_role("img", name="问题热点网格（近 30 天）")).to_be_visible()
    page.get_by_label("时段").select_option("7")
    page.get_by_role("button", name="查看", exact=True).click()
    page.wait_for_url(re.compile(r"days=7"))
    expect(page.get_by_role("img", name="问题热点网格（近 7 天）")).to_be_visible()
    page.wait_for_load_state("load")
    assert problems == []
