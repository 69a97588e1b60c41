"""The built-in case desk through its admin pages: 立案, 派遣, 处置 (with a photo), 核查, 退回, 结案."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import DeskCase
from citizen import services as citizen_services
from core.db import db
from core.geo import wgs84_to_gcj02
from core.models import AuditEntry
from tests.cases.conftest import accepted_report, report_status, site_photo_bytes
from tests.citizen.helpers import QINGDAO
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.common.media_files import photo_bytes


@pytest.fixture
def dispatcher(app):
    return signed_in_staff(app, "desk-dispatcher", "dispatcher")


def desk_case_id(app, report_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(DeskCase.id).where(DeskCase.report_id == report_id))


def act(staff, case_id: int, action: str, **form):
    page = staff.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(staff, f"/admin/desk/{case_id}"), "version": version, **form}
    response = staff.post(f"/admin/desk/{case_id}/{action}", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    return staff.get(response.location).get_data(as_text=True)


def test_the_case_page_gives_the_place_in_gcj02_as_well_as_wgs84(app, client, resident, run_jobs, use_case_system,
                                                                 dispatcher):
    # Crews look places up on Chinese maps (AMap, Tencent), which take GCJ-02: WGS-84 alone sends them hundreds of
    # metres off.
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        report = citizen_services.get_report(report_id)
        lat, lng = report.lat, report.lng
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    page = dispatcher.get(f"/admin/desk/{desk_case_id(app, report_id)}").get_data(as_text=True)
    assert f"WGS-84 {lat:.6f}, {lng:.6f}（GCJ-02 {gcj_lat:.6f}, {gcj_lng:.6f}）" in page


def test_a_case_goes_through_every_step_and_the_resident_follows(app, client, resident, run_jobs,
                                                                  use_case_system, dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    assert f"案件 #{case_id}" in dispatcher.get("/admin/desk").get_data(as_text=True)

    assert "已立案" in act(dispatcher, case_id, "register")
    assert report_status(app, report_id) == "forwarded"
    act(dispatcher, case_id, "dispatch", department="市南区环卫所")
    assert report_status(app, report_id) == "in_progress"
    page = act(dispatcher, case_id, "handle", note="已清运垃圾。", public_reply="on",
               photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "fixed.jpg"))
    assert "已处置" in page
    run_jobs()
    assert report_status(app, report_id) == "resolved"
    page = act(dispatcher, case_id, "send_back", note="仍有残留，请重新处置。")
    assert report_status(app, report_id) == "in_progress"
    act(dispatcher, case_id, "handle", note="残留已清除。", photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "again.jpg"))
    act(dispatcher, case_id, "verify")
    page = act(dispatcher, case_id, "close")
    assert "案件已结案" in page and report_status(app, report_id) == "closed"

    report = client.get(f"/api/v1/reports/{report_id}", headers=resident).json
    notes = [entry["note"] for entry in report["timeline"]]
    assert "城市管理监督指挥中心已立案。" in notes and "已派遣至市南区环卫所处置。" in notes
    # A public reply reaches the resident; an internal note does not, the step's own words do.
    assert "已清运垃圾。" in notes and "核查未通过，已重新派遣处置。" in notes
    assert "仍有残留，请重新处置。" not in notes and "残留已清除。" not in notes
    handled = next(entry for entry in report["timeline"] if entry["note"] == "已清运垃圾。")
    assert handled["status"] == "resolved" and len(handled["photos"]) == 1
    with app.app_context():
        actions = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "desk_case")
                                          .order_by(AuditEntry.id)))
    assert actions == ["desk_case.register", "desk_case.dispatch", "desk_case.handle", "desk_case.send_back",
                       "desk_case.handle", "desk_case.verify", "desk_case.close"]


@pytest.mark.parametrize("form", [{"note": "已立案\x00"}, {"photo": (io.BytesIO(photo_bytes(6)), "fixed\x00.jpg")}],
                         ids=["field", "file-name"])
def test_a_nul_character_in_the_multipart_desk_form_is_refused_in_chinese_and_changes_nothing(
        app, client, resident, run_jobs, use_case_system, dispatcher, form):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(dispatcher, f"/admin/desk/{case_id}"), "version": version, **form}
    response = dispatcher.post(f"/admin/desk/{case_id}/register", data=data, content_type="multipart/form-data")
    assert response.status_code == 422 and "请求中含有不允许的字符" in response.get_data(as_text=True)
    with app.app_context():
        assert services.get_desk_case(case_id).step == "received"
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.object_type == "desk_case")) is None
    assert report_status(app, report_id) == "forwarded"


def test_out_of_order_and_incomplete_steps_are_refused(app, client, resident, run_jobs, use_case_system, dispatcher):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    token = csrf_token(dispatcher, f"/admin/desk/{case_id}")
    response = dispatcher.post(f"/admin/desk/{case_id}/close", data={"csrf_token": token, "version": version})
    assert "不能结案" in dispatcher.get(response.location).get_data(as_text=True)
    act(dispatcher, case_id, "register")
    assert "请填写处置部门" in act(dispatcher, case_id, "dispatch", department=" ")
    stale = dispatcher.post(f"/admin/desk/{case_id}/dispatch",
                            data={"csrf_token": token, "version": version, "department": "市北区"})
    assert "已被其他人处理" in dispatcher.get(stale.location).get_data(as_text=True)
    assert report_status(app, report_id) == "forwarded"


def test_a_case_changed_after_the_desk_read_it_is_a_conflict_not_a_500(app, client, resident, run_jobs,
                                                                      use_case_system, dispatcher, monkeypatch):
    """Two dispatchers on the same version; the other's step commits between this one's read and write."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    read_case = services.get_desk_case

    def read_then_changed(wanted: int) -> DeskCase:
        loaded = read_case(wanted)
        db.session.execute(sa.update(DeskCase).where(DeskCase.id == wanted).values(version=DeskCase.version + 1)
                           .execution_options(synchronize_session=False))
        return loaded

    monkeypatch.setattr(services, "get_desk_case", read_then_changed)
    assert "已被其他人处理" in act(dispatcher, case_id, "register")
    assert report_status(app, report_id) == "forwarded"


def test_the_desk_needs_a_dispatcher(app):
    staff = signed_in_staff(app, "not-a-dispatcher", "moderator")
    assert staff.get("/admin/desk").status_code == 403


def test_internal_notes_stay_with_staff_and_public_replies_are_published_masked(app, client, resident, run_jobs,
                                                                                use_case_system, dispatcher):
    """A dispatcher's note naming someone with a phone number stays on the desk and the report's staff page; only
    what is written as a public reply reaches the resident and the Open311 feed, and the feed's copy is masked."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    act(dispatcher, case_id, "register", note="联系张师傅 13912345678 到场。")
    act(dispatcher, case_id, "dispatch", department="市南区环卫所", note="张师傅 139 1234 5678 负责。")

    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert not any("张师傅" in entry["note"] for entry in timeline)
    assert [entry["note"] for entry in timeline][-2:] == ["城市管理监督指挥中心已立案。", "已派遣至市南区环卫所处置。"]
    published = client.get(f"/open311/v2/requests/{report_id}.json").json[0]
    assert published["status_notes"] is None
    staff_page = signed_in_staff(app, "desk_reader", "moderator").get(f"/admin/reports/{report_id}")
    assert "联系张师傅 13912345678 到场。" in staff_page.get_data(as_text=True)

    act(dispatcher, case_id, "handle", note="已清运，如有疑问请致电13987654321。", public_reply="on",
        photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "fixed.jpg"))
    published = client.get(f"/open311/v2/requests/{report_id}.json").json[0]
    assert published["status_notes"] == "已清运，如有疑问请致电［手机号］。"
    assert "13987654321" not in client.get("/open311/v2/requests.json").get_data(as_text=True)
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert timeline[-1]["note"] == "已清运，如有疑问请致电［手机号］。"
