"""督办 notices read by a department's handlers: their own departments' cases only, in the 督办通知 page and their
工作台's to-do count; dispatchers read them all."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cases import services
from cases.models import DeskCase, DeskSupervision
from core.db import db, utcnow
from core.services import SYSTEM_ACTOR
from tests.cases.conftest import a_department, signed_in_handler
from tests.common.factories import ReportFactory
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.core.test_todos import todos

OURS, THEIRS = "督办通知·李沧区环卫所", "督办通知·城阳区市政所"


def overdue_case(department: str | None) -> int:
    """A desk case (dispatched to ``department``, else left 待派遣) past its deadline and supervised."""
    case = services.open_desk_case(ReportFactory(status="forwarded", description="督办通知测试").id)
    services.act_on_desk_case(SYSTEM_ACTOR, case.id, "register", roles=("admin",), expected_version=case.version)
    if department is not None:
        services.act_on_desk_case(SYSTEM_ACTOR, case.id, "dispatch", roles=("admin",), expected_version=case.version,
                                  department_id=a_department(department))
    case.due_at, case.due_in_working_hours = utcnow() - dt.timedelta(hours=1), False
    db.session.commit()
    services.supervise_overdue()
    db.session.commit()
    return case.id


def notice_of(case_id: int) -> DeskSupervision:
    return db.session.scalar(sa.select(DeskSupervision).where(DeskSupervision.case_id == case_id))


def test_a_handler_reads_the_notices_of_its_departments_cases_and_no_others(app):
    handler = signed_in_handler(app, "notices-handler", OURS)
    dispatcher = signed_in_staff(app, "notices-dispatcher", "dispatcher")
    with app.app_context():
        ours, theirs, undispatched = overdue_case(OURS), overdue_case(THEIRS), overdue_case(None)
        ours_notice, theirs_notice = notice_of(ours).id, notice_of(theirs).id
        assert notice_of(ours).department_id == a_department(OURS)
        assert notice_of(undispatched).department_id is None

    assert todos(handler)["未阅督办通知"] == ("/admin/desk/supervisions?unread=1", 1)
    page = handler.get("/admin/desk/supervisions").get_data(as_text=True)
    assert f"案件 #{ours}<" in page
    assert f"案件 #{theirs}<" not in page and f"案件 #{undispatched}<" not in page
    assert f'<option value="{OURS}"' in page and f'<option value="{THEIRS}"' not in page
    everything = dispatcher.get("/admin/desk/supervisions").get_data(as_text=True)
    assert all(f"案件 #{case_id}<" in everything for case_id in (ours, theirs, undispatched))

    form = {"csrf_token": csrf_token(handler, "/admin/desk/supervisions")}
    assert handler.post(f"/admin/desk/supervisions/{theirs_notice}/read", data=form).status_code == 404
    assert handler.post(f"/admin/desk/supervisions/{ours_notice}/read", data=form).status_code == 302
    with app.app_context():
        assert notice_of(theirs).read_at is None and notice_of(ours).read_by is not None
    assert todos(handler)["未阅督办通知"] == ("/admin/desk/supervisions?unread=1", 0)


def test_a_notice_leaves_the_handler_s_list_when_its_case_leaves_the_department(app):
    handler = signed_in_handler(app, "notices-handler-returned", OURS)
    with app.app_context():
        case_id = overdue_case(OURS)
        assert f"案件 #{case_id}<" in handler.get("/admin/desk/supervisions").get_data(as_text=True)
        # The department's return accepted: the case is back at the centre, no longer the department's to see.
        case = db.session.get(DeskCase, case_id)
        services.act_on_desk_case(SYSTEM_ACTOR, case_id, "return_request", roles=("admin",),
                                  expected_version=case.version, note="不属于本部门")
        services.act_on_desk_case(SYSTEM_ACTOR, case_id, "return_accepted", roles=("admin",),
                                  expected_version=case.version)
        db.session.commit()
    assert f"案件 #{case_id}<" not in handler.get("/admin/desk/supervisions").get_data(as_text=True)


def test_a_verifier_without_a_dispatcher_s_duty_reads_no_notices(app):
    verifier = signed_in_staff(app, "notices-verifier", "verifier")
    assert verifier.get("/admin/desk/supervisions").status_code == 403
    assert "未阅督办通知" not in todos(verifier)
