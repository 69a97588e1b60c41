"""The moderation pages through the test client: queue, report page, actions, conflicts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.models import RejectionTemplate, Report
from core.db import db, utcnow
from core.geo import wgs84_to_gcj02
from core.models import AuditEntry
from media import services as media_services
from tests.citizen.helpers import ACCEPTED, QINGDAO, new_report, sign_in, upload_photo
from tests.core.admin_helpers import admin_login, admin_post, signed_in_staff
from tests.common.factories import StaffFactory


@pytest.fixture
def moderator_client(app):
    with app.app_context():
        StaffFactory(username="queue_mod", roles=["moderator"])
    client = app.test_client()
    admin_login(client, "queue_mod")
    return client


@pytest.fixture
def reports(client):
    resident = sign_in(client, "oQueueResident")
    return [new_report(client, resident, description=f"第{n}个问题") for n in range(3)]


def version_field(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def test_the_queue_lists_pending_reports_with_counts(moderator_client, reports):
    page = moderator_client.get("/admin/reports").get_data(as_text=True)
    assert all(f"#{r['id']}" in page for r in reports)
    assert "待审核 <strong>3</strong>" in page


def test_the_queue_filters_by_category(moderator_client, reports):
    page = moderator_client.get("/admin/reports?status=pending_review&category=S0104").get_data(as_text=True)
    assert "没有符合条件的反映" in page


STUCK_ALERT = "仍在“核查中”"


def test_checks_stuck_for_over_an_hour_are_shown_to_moderators_and_logged(app, client, moderator_client, jobs_lost,
                                                                          caplog):
    """Checks that never finish (WeChat's text check answering an error for good, no worker running) leave reports
    核查中 and campaign rewards held; nothing clears that by itself, so staff and the logs are told."""
    resident = sign_in(client, "oStuckResident")
    with jobs_lost():  # the photo is never processed: the report's checks stay pending
        report_id = new_report(client, resident, media_ids=[upload_photo(client, resident)])["id"]
    assert STUCK_ALERT not in moderator_client.get("/admin/reports").get_data(as_text=True)  # only just filed
    with app.app_context():
        filed = db.session.get(Report, report_id)
        assert filed.flags == ["checks_pending"]
        filed.created_at = utcnow() - services.CHECKS_STUCK_AFTER - dt.timedelta(minutes=1)
        db.session.commit()
    page = moderator_client.get("/admin/reports").get_data(as_text=True)
    assert f"有 1 条反映提交已超过 1 小时{STUCK_ALERT}" in page
    assert "flag=checks_pending" in page
    with app.app_context(), caplog.at_level("ERROR", logger="citizen.services"):
        services.requeue_pending_checks()
    errors = [(record.message, record.reports) for record in caplog.records if record.levelname == "ERROR"]
    assert errors == [("report checks stuck", "1")]


def test_accepting_from_the_report_page(app, moderator_client, reports):
    report_id = reports[0]["id"]
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    assert "反映 #" in page and "受理" in page
    response = admin_post(moderator_client, f"/admin/reports/{report_id}/accept", {"version": version_field(page)},
                          form_page=f"/admin/reports/{report_id}")
    assert response.status_code == 302
    assert "已受理反映" in moderator_client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, report_id).status in ACCEPTED


def test_the_report_page_names_the_datum_of_a_photo_s_exif_position_and_shows_it_in_gcj02_too(
        app, client, moderator_client, run_jobs):
    # EXIF positions are WGS-84; shown bare beside the report's GCJ-02 point and map, they read as a few hundred
    # metres apart when they are the same place.
    resident = sign_in(client, "oExifResident")
    photo = upload_photo(client, resident, gps=QINGDAO)
    report_id = new_report(client, resident, media_ids=[photo])["id"]
    run_jobs()  # the photo's derivatives: the page captions a photo once it can show it
    with app.app_context():
        lat, lng = media_services.media_info(photo).gps
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    assert f"拍摄位置 WGS-84 {lat:.6f}, {lng:.6f}（GCJ-02 {gcj_lat:.6f}, {gcj_lng:.6f}）" in page


def test_a_stale_form_gets_a_clear_conflict_message(app, moderator_client, reports):
    report_id = reports[1]["id"]
    stale_version = version_field(moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True))
    admin_post(moderator_client, f"/admin/reports/{report_id}/accept", {"version": stale_version},
               form_page=f"/admin/reports/{report_id}")
    second = admin_post(moderator_client, f"/admin/reports/{report_id}/reject",
                        {"version": stale_version, "reason": "不属于城市管理范围"}, form_page="/admin/reports")
    assert "已被其他人处理" in moderator_client.get(second.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, report_id).status in ACCEPTED
        assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "report.reject")) == 0


def test_rejecting_with_a_template_uses_its_text(app, moderator_client, reports):
    report_id = reports[2]["id"]
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    template_id = re.search(r'<option value="(\d+)">照片无法反映问题</option>', page).group(1)
    admin_post(moderator_client, f"/admin/reports/{report_id}/reject",
               {"version": version_field(page), "template_id": template_id}, form_page=f"/admin/reports/{report_id}")
    with app.app_context():
        assert db.session.get(Report, report_id).reject_reason.startswith("上传的照片无法清楚反映问题")


def test_moderation_is_for_moderators(app, client, reports):
    with app.app_context():
        StaffFactory(username="just_rewards", roles=["reward_officer"])
    admin_login(client, "just_rewards")
    assert client.get("/admin/reports").status_code == 403
    assert client.get(f"/admin/reports/{reports[0]['id']}").status_code == 403


def test_a_refused_category_or_reason_is_shown_again_with_the_messages_next_to_the_fields(app, client):
    with app.app_context():
        StaffFactory(username="form_admin", roles=["admin"])
    admin_login(client, "form_admin")
    blank_name = admin_post(client, "/admin/categories", {"id": "S0102", "name": " ", "hint": "提示"},
                            form_page="/admin/categories")
    page = blank_name.get_data(as_text=True)
    assert blank_name.status_code == 422 and "名称不能为空" in page
    assert re.search(r'name="name" value="[^"]*" maxlength="64" required></label><p class="field-error"', page)
    blank_text = admin_post(client, "/admin/rejection-templates", {"title": "新理由", "text": ""},
                            form_page="/admin/rejection-templates")
    assert blank_text.status_code == 422
    assert re.search(r'<input name="text" maxlength="500" required></label><p class="field-error"',
                     blank_text.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action.in_(["category.update", "rejection_template.save"]))) == 0


def test_an_admin_edits_a_category_and_it_is_audited(app, client):
    with app.app_context():
        StaffFactory(username="cat_admin", roles=["admin"])
    admin_login(client, "cat_admin")
    admin_post(client, "/admin/categories", {"id": "S0102", "name": "暴露垃圾", "hint": "新的提示", "is_active": "on"})
    categories = client.get("/api/v1/categories").json["classes"]
    hints = {c["id"]: c["hint"] for group in categories for c in group["categories"]}
    assert hints["S0102"] == "新的提示"
    with app.app_context():
        audited = db.session.scalar(sa.select(AuditEntry.after).where(AuditEntry.action == "category.update"))
        assert audited["hint"] == "新的提示"


@pytest.mark.parametrize(("action", "field", "message"), [
    ("reject", "template_id", "所选驳回理由不存在"),
    ("duplicate", "duplicate_of_id", "请选择另一条有效的反映作为原始反映"),
])
def test_an_id_beyond_32_bits_in_a_moderation_form_is_a_clear_refusal(app, moderator_client, reports, action, field,
                                                                        message):
    # Regression: on PostgreSQL the id reached the database and the page answered 500.
    report_id = reports[0]["id"]
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    response = admin_post(moderator_client, f"/admin/reports/{report_id}/{action}",
                          {"version": version_field(page), field: str(2**40)}, form_page=f"/admin/reports/{report_id}")
    assert response.status_code == 302
    assert message in moderator_client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, report_id).status == "pending_review"


def test_moderation_forms_that_do_not_load_change_nothing(app, moderator_client, reports):
    """A version the page could not have sent is a bad request; a blank original is asked for again."""
    report_id = reports[0]["id"]
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    tampered = admin_post(moderator_client, f"/admin/reports/{report_id}/accept", {"version": "v1"},
                          form_page=f"/admin/reports/{report_id}")
    assert tampered.status_code == 400
    blank = admin_post(moderator_client, f"/admin/reports/{report_id}/duplicate",
                       {"version": version_field(page), "duplicate_of_id": ""}, form_page=f"/admin/reports/{report_id}")
    assert blank.status_code == 302
    assert "请填写原始反映编号" in moderator_client.get(blank.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, report_id).status == "pending_review"


def test_a_queue_cursor_beyond_32_bits_is_a_bad_request(moderator_client, reports):
    assert moderator_client.get(f"/admin/reports?after=2026-11-29T00:00:00%2B00:00_{2**40}").status_code == 400


def test_saving_a_rejection_template_with_an_id_beyond_32_bits_is_refused(app, client):
    with app.app_context():
        StaffFactory(username="reason_admin", roles=["admin"])
    admin_login(client, "reason_admin")
    response = admin_post(client, "/admin/rejection-templates",
                          {"id": str(2**40), "title": "新理由", "text": "理由正文"})
    assert response.status_code == 302
    assert "驳回理由不存在" in client.get(response.location).get_data(as_text=True)


def _rated_report_from(app, client, ip_address: str, comment: str) -> int:
    client.environ_base["REMOTE_ADDR"] = ip_address
    report_id = new_report(client, sign_in(client, "oMaskedResident00000000000001"))["id"]
    with app.app_context():
        report = db.session.get(Report, report_id)
        report.rating, report.rating_comment = 4, comment
        db.session.commit()
    return report_id


def _reveals(app) -> list[tuple[str, str | None, dict]]:
    with app.app_context():
        return [(entry.actor_name, entry.object_id, entry.after) for entry in db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "sensitive.reveal").order_by(AuditEntry.id))]


def test_the_report_page_shows_the_submitter_masked_and_reveals_for_the_role_that_needs_it_audited(
        app, client, moderator_client):
    report_id = _rated_report_from(app, client, "203.0.113.77", "维修师傅态度很好，电话13912345678")
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    assert "203.0.*.*" in page and "203.0.113.77" not in page
    assert "维修师" + "*" * 15 + "5678" in page and "13912345678" not in page
    assert "oMa" + "*" * 22 + "0001" in page and "oMaskedResident00000000000001" not in page
    # A moderator may read the comment, not the address: the address's button is not even shown.
    assert page.count('name="field" value="rating_comment"') == 1 and 'value="submitted_ip"' not in page

    shown = admin_post(moderator_client, f"/admin/reports/{report_id}/reveal", {"field": "rating_comment"},
                       form_page=f"/admin/reports/{report_id}")
    assert shown.status_code == 200 and "维修师傅态度很好，电话13912345678" in shown.get_data(as_text=True)
    refused = admin_post(moderator_client, f"/admin/reports/{report_id}/reveal", {"field": "submitted_ip"},
                         form_page=f"/admin/reports/{report_id}")
    assert refused.status_code == 403 and "203.0.113.77" not in refused.get_data(as_text=True)
    unknown = admin_post(moderator_client, f"/admin/reports/{report_id}/reveal", {"field": "description"},
                         form_page=f"/admin/reports/{report_id}")
    assert unknown.status_code == 400
    assert _reveals(app) == [("queue_mod", str(report_id), {"field": "rating_comment"})]

    administrator = signed_in_staff(app, "reveal_admin", "admin")
    shown = admin_post(administrator, f"/admin/reports/{report_id}/reveal", {"field": "submitted_ip"},
                       form_page=f"/admin/reports/{report_id}")
    assert "203.0.113.77" in shown.get_data(as_text=True)
    assert _reveals(app)[-1] == ("reveal_admin", str(report_id), {"field": "submitted_ip"})


def test_an_admin_creates_a_rejection_template(app, client):
    """The new row was written before its title and text (NOT NULL): every new template was a 500."""
    with app.app_context():
        StaffFactory(username="reason_maker", roles=["admin"])
    admin_login(client, "reason_maker")
    response = admin_post(client, "/admin/rejection-templates",
                          {"title": "照片不清晰", "text": "照片看不清问题，请重新拍摄。", "is_active": "on"})
    assert response.status_code == 302
    assert "已保存驳回理由" in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        created = db.session.scalars(sa.select(RejectionTemplate).where(RejectionTemplate.title == "照片不清晰")).one()
        assert (created.text, created.is_active) == ("照片看不清问题，请重新拍摄。", True)
        audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "rejection_template.save")).one()
        assert audit.object_id == str(created.id) and audit.after["title"] == "照片不清晰"


@pytest.mark.parametrize("query", ["since=0001-01-01", "until=9999-12-31"])
def test_queue_dates_at_the_ends_of_the_calendar_filter_nothing_out_not_a_500(moderator_client, reports, query):
    """Both were an OverflowError converting the Asia/Shanghai day to UTC."""
    response = moderator_client.get(f"/admin/reports?status=&{query}")
    assert response.status_code == 200 and "第2个问题" in response.get_data(as_text=True)
