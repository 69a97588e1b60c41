"""The facility admin pages in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from core.db import db
from core.services import SYSTEM_ACTOR
from facilities import imports, jobs
from facilities.models import Facility
from tests.conftest import LosingQueue
from tests.core.test_admin_browser import log_in, make_staff
from tests.facilities.conftest import facility_file

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
    expect(page.get_by_role("cell", name="修改设施", exact=True).first).to_be_visible()


SHANGHAI_ROW = "sh-1,0301,人民广场公厕,31.2304,121.4737,人民大道,市南区,"
WRONG_DISTRICT_ROW = "mis-1,0301,台东公厕,36.0900,120.3700,台东三路,市南区,"


def test_an_admin_uploads_a_city_sized_file_and_reads_its_progress_counts_and_rejected_rows(page, live_app,
                                                                                            live_server, tmp_path):
    make_staff(live_app, "facility_importer", ["admin"])
    path = tmp_path / "公厕普查.csv"
    path.write_text(facility_file(6_000, prefix="city", bad_rows=(SHANGHAI_ROW, WRONG_DISTRICT_ROW)),
                    encoding="utf-8")
    log_in(page, live_server, "facility_importer")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="设施导入").click()
    upload = page.get_by_role("form", name="上传设施文件")
    upload.get_by_label("设施文件").set_input_files(path)
    upload.get_by_label("格式").select_option("csv")
    upload.get_by_label("坐标系").select_option("wgs84")
    upload.get_by_role("button", name="上传并导入").click()

    expect(page.get_by_text("已上传 公厕普查.csv，导入在后台进行。")).to_be_visible()
    progress = page.get_by_role("progressbar", name="导入进度")
    expect(progress).to_have_attribute("max", "6002")
    expect(progress).to_have_attribute("value", "6002")
    expect(page.get_by_text("已读取 6002 / 6002 行")).to_be_visible()
    expect(page.locator("dd[data-field=rows_accepted]")).to_have_text("6000")
    expect(page.locator("dd[data-field=rows_rejected]")).to_have_text("2")
    expect(page.get_by_role("row", name=re.compile("第 6002 行 sh-1 lat,lng 坐标不在青岛市服务范围内"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("第 6003 行 mis-1 district 坐标位于市北区，与所填区（市南区）不符"))
           ).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载被拒绝的行（CSV）").click()
    rows = list(csv.reader(io.StringIO(download_info.value.path().read_text(encoding="utf-8-sig"))))
    assert [row[:3] for row in rows] == [["行号", "来源编号", "列"], ["6002", "sh-1", "lat,lng"],
                                         ["6003", "mis-1", "district"]]
    with live_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Facility)
                                 .where(Facility.source_id.like("city-%"))) == 6_000


def test_the_import_page_follows_a_queued_import_to_its_end_without_a_reload(page, live_app, live_server):
    make_staff(live_app, "facility_watcher", ["admin"])
    waiting_queue = live_app.extensions["job_queue"]
    # The job waits for a worker: queued, not run (as on rq until a worker takes it).
    live_app.extensions["job_queue"] = LosingQueue()
    try:
        with live_app.app_context():
            record = imports.queue_upload(SYSTEM_ACTOR, "queued.csv",
                                          io.BytesIO(facility_file(3_000, prefix="later",
                                                                   bad_rows=(SHANGHAI_ROW,)).encode("utf-8")),
                                          file_format="csv", kind_override=None, coord_type="wgs84")
            db.session.commit()
            import_id = record.id
    finally:
        live_app.extensions["job_queue"] = waiting_queue
    log_in(page, live_server, "facility_watcher")
    page.goto(f"{live_server}/admin/facilities/imports/{import_id}")
    expect(page.get_by_text("状态：排队中")).to_be_visible()
    expect(page.get_by_text("导入完成后在此列出被拒绝的行。")).to_be_visible()
    with live_app.app_context():  # the worker takes the job
        jobs.run_uploaded_import(import_id)
        db.session.commit()
    expect(page.get_by_text("状态：完成")).to_be_visible()
    expect(page.get_by_role("progressbar", name="导入进度")).to_have_attribute("value", "3001")
    expect(page.get_by_role("row", name=re.compile("第 3002 行 sh-1 lat,lng 坐标不在青岛市服务范围内"))).to_be_visible()
