"""The moderation tools through the test client: the CSV export, bulk decisions' summary, the block pages."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from citizen.models import Report, Resident
from core.db import db
from core.models import AuditEntry
from tests.citizen.helpers import new_report, sign_in
from tests.core.admin_helpers import admin_post, signed_in_staff


@pytest.fixture
def filed(client):
    resident = sign_in(client, "oExportedResident")
    return [new_report(client, resident, description="垃圾没人清理，电话13912345678", category="S0102"),
            new_report(client, resident, description="=HYPERLINK(\"x\") 小广告", category="S0201")]


def exported(staff_client, query: str) -> list[list[str]]:
    response = staff_client.get(f"/admin/reports/export.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # Excel reads the Chinese as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_a_moderator_exports_the_filtered_queue_without_personal_data_and_it_is_audited(app, filed):
    moderator = signed_in_staff(app, "export_mod", "moderator")
    rows = exported(moderator, "status=pending_review&category=S01")
    assert rows[0][:3] == ["编号", "提交时间（北京时间）", "状态"] and "市民 openid" not in rows[0]
    assert [row[0] for row in rows[1:]] == [str(filed[0]["id"])]
    assert "［手机号］" in rows[1][7] and "13912345678" not in "".join(rows[1])
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "report.export"))
        assert entry.actor_name == "export_mod"
        assert entry.after == {"filter": {"status": "pending_review", "category": "S01"}, "personal_data": False}


def test_an_admin_export_names_the_resident_and_never_runs_a_formula(app, filed):
    admin = signed_in_staff(app, "export_admin", "admin")
    rows = exported(admin, "status=pending_review")
    assert rows[0][-2:] == ["市民编号", "市民 openid"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(filed[0]["id"])][-1] == "oExportedResident"
    assert "13912345678" in by_id[str(filed[0]["id"])][7]
    assert by_id[str(filed[1]["id"])][7].startswith("'=HYPERLINK")


def test_a_bulk_decision_flashes_what_became_of_each_report(app, client, filed):
    moderator = signed_in_staff(app, "bulk_mod", "moderator")
    with app.app_context():
        versions = {report.id: report.version for report in db.session.scalars(sa.select(Report))}
    first, second = (report["id"] for report in filed)
    response = admin_post(moderator, "/admin/reports/bulk", {
        "selected": [f"{first}:{versions[first]}", f"{second}:{versions[second] + 5}"], "decision": "reject",
        "reason": "不属于城市管理范围", "queue_query": "status=pending_review"}, form_page="/admin/reports")
    assert response.status_code == 302 and response.location.endswith("/admin/reports?status=pending_review")
    page = moderator.get("/admin/reports").get_data(as_text=True)
    assert f"已驳回 1 条反映：#{first}。" in page
    assert f"反映 #{second} 未处理：该反映已被其他人处理" in page


def test_a_bulk_selection_the_page_could_not_have_sent_is_a_bad_request(app, filed):
    moderator = signed_in_staff(app, "bulk_mod_bad", "moderator")
    response = admin_post(moderator, "/admin/reports/bulk", {"selected": ["１:1"], "decision": "accept"},
                          form_page="/admin/reports")
    assert response.status_code == 400


def test_only_an_admin_blocks_and_a_reason_is_required(app, client, filed):
    with app.app_context():
        resident_id = db.session.scalar(sa.select(Resident.id).where(Resident.find_by("openid", "oExportedResident")))
    moderator = signed_in_staff(app, "block_mod", "moderator")
    report_page = f"/admin/reports/{filed[0]['id']}"
    assert "停用该市民" not in moderator.get(report_page).get_data(as_text=True)
    assert moderator.get("/admin/residents/blocked").status_code == 403

    admin = signed_in_staff(app, "block_admin", "admin")
    admin_post(admin, f"/admin/residents/{resident_id}/block", {"reason": "", "report_id": filed[0]["id"]},
               form_page=report_page)
    assert "请填写停用原因" in admin.get(report_page).get_data(as_text=True)
    response = admin_post(admin, f"/admin/residents/{resident_id}/block",
                          {"reason": "批量提交虚假反映", "report_id": filed[0]["id"]}, form_page=report_page)
    assert response.location.endswith(f"{report_page}#reporter")
    listing = admin.get("/admin/residents/blocked").get_data(as_text=True)
    assert f"#{resident_id}" in listing and "批量提交虚假反映" in listing
