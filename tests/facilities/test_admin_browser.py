"""The facility admin pages in a real headless Chromium."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from core.db import db
from facilities import imports
from facilities.models import Facility
from tests.core.test_admin_browser import log_in, make_staff

pytestmark = pytest.mark.browser


def test_an_admin_searches_edits_and_disables_a_facility_and_sees_import_history(page, live_app, live_server,
                                                                                  tmp_path):
    make_staff(live_app, "facility_admin", ["admin"])
    path = tmp_path / "toilets.csv"
    path.write_text("source_id,kind,name,lat,lng,address\nadm-1,0301,台东步行街公厕,36.0810,120.3550,台东三路\n"
                    "adm-2,0301,,36.08,120.35,\n", encoding="utf-8")
    with live_app.app_context():
        imports.import_file(path, "csv")
        imports.load_sample(20)
    log_in(page, live_server, "facility_admin")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="设施管理").click()
    expect(page.get_by_text("（示例数据）").first).to_be_visible()
    page.get_by_label("搜索").fill("台东")
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("row", name=re.compile("台东步行街公厕")).get_by_role("link", name="编辑").click()
    page.get_by_label(re.compile("^开放时间")).fill("25:00-06:00")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("opening_hours")).to_be_visible()  # refused, with the field named
    page.get_by_label(re.compile("^开放时间")).fill("22:00-06:00")
    page.get_by_label("婴儿护理台").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已保存设施 台东步行街公厕。")).to_be_visible()
    page.get_by_role("row", name=re.compile("台东步行街公厕")).get_by_role("button", name="停用").click()
    expect(page.get_by_text("已停用设施 台东步行街公厕。")).to_be_visible()
    with live_app.app_context():
        facility = db.session.scalar(sa.select(Facility).where(Facility.source_id == "adm-1"))
        assert (facility.opening_hours, facility.status, facility.attributes["baby_changing"]) == (
            "22:00-06:00", "removed", True)

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="设施导入").click()
    page.get_by_role("row", name=re.compile("toilets.csv")).first.get_by_role("link").click()
    expect(page.get_by_role("row", name=re.compile("第 3 行 adm-2 name 必填"))).to_be_visible()

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="操作日志").click()
    expect(page.get_by_role("cell", name="facility.update").first).to_be_visible()
