"""The built-in case desk through its admin pages: 立案, 派遣 (to a department the routing rules propose), 处置 (with a
photo) by the department's handler, 核查 by a verifier, 结案; each duty its role's; a department's returns."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from cases import services
from cases.models import DeskCase
from citizen import services as citizen_services
from core.db import db
from core.errors import Forbidden
from core.geo import wgs84_to_gcj02
from core.models import AuditEntry
from core.services import Actor
from tests.cases.conftest import (MODERATOR, a_department, accepted_report, after_photos, report_status,
                                  signed_in_handler, site_photo_bytes)
from tests.citizen.helpers import QINGDAO
from tests.common.factories import StaffFactory
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.core.test_todos import todos
from tests.common.media_files import photo_bytes
from tests.common.statements import recorded_statements


@pytest.fixture
def dispatcher(app):
    return signed_in_staff(app, "desk-dispatcher", "dispatcher")


@pytest.fixture
def handler(app):
    """A handler of 市南区环卫所."""
    return signed_in_handler(app, "desk-handler")


@pytest.fixture
def verifier(app):
    return signed_in_staff(app, "desk-verifier", "verifier")


def department_id(app, name: str = "市南区环卫所") -> str:
    with app.app_context():
        found = a_department(name)
        db.session.commit()
        return str(found)


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
                                                                  use_case_system, dispatcher, handler, verifier):
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    assert f"案件 #{case_id}" in dispatcher.get("/admin/desk").get_data(as_text=True)

    assert "已立案" in act(dispatcher, case_id, "register")
    assert report_status(app, report_id) == "forwarded"
    act(dispatcher, case_id, "dispatch", department_id=department_id(app))
    assert report_status(app, report_id) == "in_progress"
    page = act(handler, case_id, "handle", note="已清运垃圾。", public_reply="on",
               photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "fixed.jpg"))
    assert "已处置" in page
    run_jobs()
    assert report_status(app, report_id) == "resolved"
    page = act(verifier, case_id, "send_back", note="仍有残留，请重新处置。")
    assert report_status(app, report_id) == "in_progress"
    act(handler, case_id, "handle", note="残留已清除。", photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "again.jpg"))
    act(verifier, case_id, "verify")
    page = act(dispatcher, case_id, "close")
    assert "案件已结案" in page and report_status(app, report_id) == "closed"
    # Who did each step, in which role.
    assert "处置 → 已处置（处置人员 desk-handler）" in page and "核查 → 已核查（核查员 desk-verifier）" in page
    assert "结案 → 已结案（案件调度员 desk-dispatcher）" in page

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


def inactive_department(app) -> str:
    with app.app_context():
        found = a_department("已撤销的部门", "其他")
        services.update_department(MODERATOR, found, name="已撤销的部门", kind="其他", is_active=False)
        db.session.commit()
        return str(found)


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
    assert "请选择处置部门" in act(dispatcher, case_id, "dispatch", department_id="")
    assert "已停用" in act(dispatcher, case_id, "dispatch", department_id=inactive_department(app))
    stale = dispatcher.post(f"/admin/desk/{case_id}/dispatch",
                            data={"csrf_token": token, "version": version, "department_id": department_id(app)})
    assert "已被其他人处理" in dispatcher.get(stale.location).get_data(as_text=True)
    assert report_status(app, report_id) == "forwarded"


def test_a_case_changed_after_the_desk_read_it_is_a_conflict_not_a_500(app, client, resident, run_jobs,
                                                                      use_case_system, dispatcher, monkeypatch):
    """Two dispatchers on the same version; the other's step commits between this one's read and write."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    read_case = services.desk_case_for

    def read_then_changed(viewer, wanted: int) -> DeskCase:
        loaded = read_case(viewer, wanted)
        db.session.execute(sa.update(DeskCase).where(DeskCase.id == wanted).values(version=DeskCase.version + 1)
                           .execution_options(synchronize_session=False))
        return loaded

    monkeypatch.setattr(services, "desk_case_for", read_then_changed)
    assert "已被其他人处理" in act(dispatcher, case_id, "register")
    assert report_status(app, report_id) == "forwarded"


def test_the_desk_needs_a_dispatcher(app):
    staff = signed_in_staff(app, "not-a-dispatcher", "moderator")
    assert staff.get("/admin/desk").status_code == 403


def test_the_desk_list_costs_the_same_statements_for_one_case_or_many(app, client, resident, run_jobs,
                                                                     use_case_system, dispatcher):
    """Found by bench/desk.py: two statements a case (its report, its steps for the 返工 tag), 400 for a page of
    200 cases, 80 ms on a laptop-sized desk."""
    use_case_system("desk")
    reworked = desk_case_id(app, accepted_report(app, client, resident, run_jobs))
    with app.app_context():
        services.rework_desk_case(services.get_desk_case(reworked).report_id, "还是没有清理")
        db.session.commit()
    per_page = {}
    with recorded_statements(app) as statements:
        for cases in (1, 3):
            statements.clear()
            page = dispatcher.get("/admin/desk?step=").get_data(as_text=True)
            per_page[cases] = len(statements)
            assert page.count("案件 #") == cases and "返工" in page
            if cases == 1:
                for _ in range(2):
                    accepted_report(app, client, resident, run_jobs)
    assert per_page[3] == per_page[1]


def test_the_desk_counts_the_open_cases_per_step_and_not_the_closed_ones(app, client, resident, run_jobs,
                                                                           use_case_system, dispatcher):
    """Found by bench/desk.py: counting every step read the desk's whole history, closed cases by the million, on
    each visit of the desk and of the 工作台."""
    use_case_system("desk")
    desk_case_id(app, accepted_report(app, client, resident, run_jobs))
    closed = desk_case_id(app, accepted_report(app, client, resident, run_jobs))
    with app.app_context():
        db.session.get(DeskCase, closed).step = "closed"  # where 结案 leaves a case
        db.session.commit()
        counts = services.desk_counts(services.DeskViewer(None, ("dispatcher",)))
    assert counts == {"received": 1, "registered": 0, "dispatched": 0, "returned": 0, "handled": 0, "verified": 0}
    page = dispatcher.get("/admin/desk?step=closed").get_data(as_text=True)
    assert re.search(r">已结案</a>", page) and re.search(r">待立案 <strong>1</strong></a>", page)
    assert page.count("案件 #") == 1


def test_internal_notes_stay_with_staff_and_public_replies_are_published_masked(app, client, resident, run_jobs,
                                                                                use_case_system, dispatcher, handler):
    """A dispatcher's note naming someone with a phone number stays on the desk and the report's staff page; only
    what is written as a public reply reaches the resident and the Open311 feed, and the feed's copy is masked."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    act(dispatcher, case_id, "register", note="联系张师傅 13912345678 到场。")
    act(dispatcher, case_id, "dispatch", department_id=department_id(app), note="张师傅 139 1234 5678 负责。")

    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert not any("张师傅" in entry["note"] for entry in timeline)
    assert [entry["note"] for entry in timeline][-2:] == ["城市管理监督指挥中心已立案。", "已派遣至市南区环卫所处置。"]
    published = client.get(f"/open311/v2/requests/{report_id}.json").json[0]
    assert published["status_notes"] is None
    staff_page = signed_in_staff(app, "desk_reader", "moderator").get(f"/admin/reports/{report_id}")
    assert "联系张师傅 13912345678 到场。" in staff_page.get_data(as_text=True)

    act(handler, case_id, "handle", note="已清运，如有疑问请致电13987654321。", public_reply="on",
        photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "fixed.jpg"))
    published = client.get(f"/open311/v2/requests/{report_id}.json").json[0]
    assert published["status_notes"] == "已清运，如有疑问请致电［手机号］。"
    assert "13987654321" not in client.get("/open311/v2/requests.json").get_data(as_text=True)
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert timeline[-1]["note"] == "已清运，如有疑问请致电［手机号］。"


def routed_report(app, client, resident, run_jobs, dispatcher) -> int:
    """A registered desk case of a report in 市南区 of category S0102, and a rule routing it to 市南区环卫所."""
    with app.app_context():
        services.add_rule(MODERATOR, a_department(), category_prefix="S01", district="市南区")
        db.session.commit()
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    act(dispatcher, case_id, "register")
    return case_id


def test_dispatch_offers_the_active_departments_with_the_routing_rules_proposal(app, client, resident, run_jobs,
                                                                                use_case_system, dispatcher):
    use_case_system("desk")
    case_id = routed_report(app, client, resident, run_jobs, dispatcher)
    inactive_department(app)
    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert re.search(rf'<option value="{department_id(app)}" selected>市南区环卫所（环卫）</option>', page)
    assert "推荐：市南区环卫所，按分派规则「类别 S01 · 市南区」推荐（类别 S0102，市南区）" in page
    assert "已撤销的部门" not in page
    page = act(dispatcher, case_id, "dispatch", department_id=department_id(app))
    assert "<dt>处置部门</dt><dd>市南区环卫所</dd>" in page
    with app.app_context():
        case = services.get_desk_case(case_id)
        assert (case.department_id, case.department) == (int(department_id(app)), "市南区环卫所")


def test_each_desk_action_is_its_roles_alone(app, client, resident, run_jobs, use_case_system, dispatcher, handler,
                                             verifier):
    use_case_system("desk")
    case_id = routed_report(app, client, resident, run_jobs, dispatcher)
    form = {"csrf_token": csrf_token(verifier, "/admin/desk"), "version": "2", "department_id": department_id(app)}
    assert verifier.post(f"/admin/desk/{case_id}/dispatch", data=form).status_code == 403
    act(dispatcher, case_id, "dispatch", department_id=department_id(app))
    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert 'aria-label="处置"' not in page and "当前环节没有您可办理的操作。" in page
    form = {"csrf_token": csrf_token(dispatcher, "/admin/desk"), "version": "3", "note": "代为处置。"}
    assert dispatcher.post(f"/admin/desk/{case_id}/handle", data=form).status_code == 403
    act(handler, case_id, "handle", note="已清运。", photo=(io.BytesIO(site_photo_bytes(QINGDAO)), "fixed.jpg"))
    form = {"csrf_token": csrf_token(handler, "/admin/desk"), "version": "4"}
    assert handler.post(f"/admin/desk/{case_id}/verify", data=form).status_code == 403
    with app.app_context():
        assert services.get_desk_case(case_id).step == "handled"
        roles = [step.actor_role for step in services.get_desk_case(case_id).steps]
    assert roles == [None, "dispatcher", "dispatcher", "handler"]


def test_a_handler_sees_and_acts_on_its_departments_cases_only(app, client, resident, run_jobs, use_case_system,
                                                               dispatcher, handler):
    use_case_system("desk")
    ours = routed_report(app, client, resident, run_jobs, dispatcher)
    act(dispatcher, ours, "dispatch", department_id=department_id(app))
    theirs = desk_case_id(app, accepted_report(app, client, resident, run_jobs, description="别的部门的案件"))
    act(dispatcher, theirs, "register")
    act(dispatcher, theirs, "dispatch", department_id=department_id(app, "市北区环卫所"))
    undispatched = desk_case_id(app, accepted_report(app, client, resident, run_jobs))

    # The handler's 工作台 counts its own department's case waiting at 处置, not the other department's.
    assert todos(handler)["待处置案件"] == ("/admin/desk?step=dispatched", 1)
    listing = handler.get("/admin/desk").get_data(as_text=True)  # a handler's desk opens at 已派遣
    assert f"案件 #{ours}" in listing and f"案件 #{theirs}" not in listing
    everything = handler.get("/admin/desk?step=").get_data(as_text=True)
    assert f"案件 #{ours}" in everything and f"案件 #{theirs}" not in everything
    assert f"案件 #{undispatched}" not in everything
    assert handler.get(f"/admin/desk/{theirs}").status_code == 404
    assert handler.get(f"/admin/desk/{undispatched}").status_code == 404
    form = {"csrf_token": csrf_token(handler, "/admin/desk"), "version": "3", "note": "不是我们的也处置。"}
    assert handler.post(f"/admin/desk/{theirs}/handle", data=form).status_code == 404
    # Holding the dispatcher's role too shows every case, but handling stays with the department's members.
    both = signed_in_staff(app, "desk-dispatcher-handler", "dispatcher", "handler")
    assert both.get(f"/admin/desk/{theirs}").status_code == 200
    form = {"csrf_token": csrf_token(both, "/admin/desk"), "version": "3", "note": "代为处置。"}
    assert both.post(f"/admin/desk/{theirs}/handle", data=form).status_code == 403
    with app.app_context():
        assert services.get_desk_case(theirs).step == "dispatched"


def test_a_department_returns_a_case_and_the_dispatcher_rules_on_it(app, client, resident, run_jobs,
                                                                    use_case_system, dispatcher, handler):
    use_case_system("desk")
    case_id = routed_report(app, client, resident, run_jobs, dispatcher)
    act(dispatcher, case_id, "dispatch", department_id=department_id(app))
    timeline_before = client.get(f"/api/v1/reports/{desk_report_id(app, case_id)}", headers=resident).json
    assert "退回理由" in handler.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert "申请退回需要填写说明" in act(handler, case_id, "return_request", note=" ")
    page = act(handler, case_id, "return_request", note="该路段由市北区负责。")
    assert "申请退回" in page and 'aria-label="处置"' not in page

    page = dispatcher.get(f"/admin/desk/{case_id}").get_data(as_text=True)
    assert "市南区环卫所申请退回（desk-handler" in page and "该路段由市北区负责。" in page
    page = act(dispatcher, case_id, "return_refused", note="经核实属于市南区，请处置。")
    assert "已派遣" in page
    assert "不同意退回 → 已派遣（案件调度员 desk-dispatcher）" in page and "经核实属于市南区，请处置。" in page

    act(handler, case_id, "return_request", note="确实不在我们的辖区。")
    page = act(dispatcher, case_id, "return_accepted")
    assert "<dt>处置部门</dt><dd>未派遣</dd>" in page and 'aria-label="派遣"' in page
    assert "没有匹配的分派规则" in page  # the department that returned it is not proposed again
    assert handler.get(f"/admin/desk/{case_id}").status_code == 404  # no longer the department's
    # The resident is told nothing of the desk's own business; the record counts the returns.
    assert client.get(f"/api/v1/reports/{desk_report_id(app, case_id)}", headers=resident).json["timeline"] == \
        timeline_before["timeline"]
    with app.app_context():
        case = services.get_desk_case(case_id)
        assert (case.step, case.department_id) == ("registered", None)
        returns = [(step.action, step.department_id) for step in case.steps if step.action.startswith("return")]
        # Each counts against the department that returned the case, even once it no longer holds it.
        assert returns == [(action, int(department_id(app))) for action in (
            "return_request", "return_refused", "return_request", "return_accepted")]
        audited = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "desk_case")
                                          .order_by(AuditEntry.id)))
    assert audited[-4:] == ["desk_case.return_request", "desk_case.return_refused", "desk_case.return_request",
                            "desk_case.return_accepted"]


def desk_report_id(app, case_id: int) -> int:
    with app.app_context():
        return services.get_desk_case(case_id).report_id


def test_the_service_takes_the_acting_staffs_roles(app, client, resident, run_jobs, use_case_system):
    """Other callers than the pages (commands, jobs) pass the roles they act in: the same duties hold."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_id = desk_case_id(app, report_id)
    with app.app_context():
        verifier = StaffFactory(username="service-verifier", roles=["verifier"])
        as_verifier = Actor.of(verifier)
        with pytest.raises(Forbidden) as refused:
            services.act_on_desk_case(as_verifier, case_id, "register", roles=verifier.roles, expected_version=1)
        assert refused.value.message == "您的角色不能立案。"
        chief = Actor(None, "desk-chief")
        services.act_on_desk_case(chief, case_id, "register", roles=("admin",), expected_version=1)
        services.act_on_desk_case(chief, case_id, "dispatch", roles=("admin",), expected_version=2,
                                  department_id=a_department())
        # An administrator may handle any department's case; the step says it was taken as one.
        case = services.act_on_desk_case(chief, case_id, "handle", roles=("admin",), expected_version=3,
                                         note="管理员代为处置。", after_photos=after_photos(report_id))
        assert (case.step, case.steps[-1].actor_role) == ("handled", "admin")
