"""Facility files uploaded in the admin: queued as a job, counted, imported, their rejected rows kept and offered as
CSV (the browser's view of it is in test_admin_browser.py)."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from core.db import db
from core.models import AuditEntry
from core.storage import current_storage
from facilities import imports, jobs
from facilities.models import Facility, FacilityImport
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.facilities.conftest import facility_file

SHANGHAI_ROW = "sh-1,0301,人民广场公厕,31.2304,121.4737,人民大道,市南区,"
BAD_HOURS_ROW = "bad-1,0301,时间错误,36.0900,120.3700,,市北区,25:00-01:00"


def _upload(client, text: str, filename: str = "toilets.csv", **options):
    data = {"file_format": "csv", "coord_type": "wgs84", "kind": "", **options,
            "csrf_token": csrf_token(client, "/admin/facilities/imports")}
    if text is not None:
        data["file"] = (io.BytesIO(text.encode("utf-8")), filename)
    return client.post("/admin/facilities/imports", data=data, content_type="multipart/form-data")


def _latest_import() -> FacilityImport:
    return db.session.scalar(sa.select(FacilityImport).order_by(FacilityImport.id.desc()))


def test_an_uploaded_file_is_imported_by_a_job_with_its_progress_and_rejected_rows(app, run_jobs):
    client = signed_in_staff(app, "importer", "admin")
    uploaded = _upload(client, facility_file(2_500, bad_rows=(SHANGHAI_ROW, BAD_HOURS_ROW)))
    assert uploaded.status_code == 302
    run_jobs()
    with app.app_context():
        record = _latest_import()
        assert uploaded.location.endswith(f"/admin/facilities/imports/{record.id}")
        assert not current_storage().exists(imports.upload_key(record.id))  # the upload is gone once imported
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Facility)
                                 .where(Facility.source_id.like("up-%"))) == 2_500
        audit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "facility.import_upload",
                                                               AuditEntry.object_id == str(record.id)))
        assert audit.actor_name == "importer" and audit.after["file"] == "toilets.csv"
    progress = client.get(f"/admin/facilities/imports/{record.id}/progress").json
    assert {name: progress[name] for name in ("status", "rows_total", "rows_read", "rows_accepted",
                                              "rows_inserted", "rows_rejected", "done")} == {
        "status": "finished", "rows_total": 2_502, "rows_read": 2_502, "rows_accepted": 2_500,
        "rows_inserted": 2_500, "rows_rejected": 2, "done": True}
    page = client.get(f"/admin/facilities/imports/{record.id}").get_data(as_text=True)
    assert "坐标不在青岛市服务范围内" in page and "第 2502 行" in page
    download = client.get(f"/admin/facilities/imports/{record.id}/rejections.csv")
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [["行号", "来源编号", "列", "原因"], ["2502", "sh-1", "lat,lng", "坐标不在青岛市服务范围内"],
                    ["2503", "bad-1", "opening_hours", "开放时间“25:00-01:00”应为 HH:MM-HH:MM，多段以逗号分隔"]]

    # A job queued again (rq retries one whose worker died) imports nothing twice.
    with app.app_context():
        jobs.run_uploaded_import(record.id)
        again = db.session.get(FacilityImport, record.id)
        assert (again.status, again.rows_read, again.rows_rejected) == ("finished", 2_502, 2)


def test_a_file_unreadable_as_a_whole_fails_with_its_reason_on_the_page(app, run_jobs):
    client = signed_in_staff(app, "importer", "admin")
    assert _upload(client, '{"type": "FeatureCollection"}', "broken.geojson", file_format="geojson").status_code == 302
    run_jobs()
    with app.app_context():
        record_id = _latest_import().id
    progress = client.get(f"/admin/facilities/imports/{record_id}/progress").json
    assert (progress["status"], progress["done"]) == ("failed", True)
    assert progress["failure"] == "不是 GeoJSON FeatureCollection：没有 \"features\" 数组"
    assert "导入失败：不是 GeoJSON FeatureCollection" in client.get(
        f"/admin/facilities/imports/{record_id}").get_data(as_text=True)


def test_an_upload_without_a_file_or_with_an_unknown_kind_is_refused_in_chinese(app):
    client = signed_in_staff(app, "importer", "admin")
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(FacilityImport))
    missing = _upload(client, None)
    assert missing.status_code == 302
    assert "请选择要导入的文件。" in client.get(missing.location).get_data(as_text=True)
    unknown = _upload(client, facility_file(3), kind="7777")
    assert "导入选项无效。" in client.get(unknown.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FacilityImport)) == before
