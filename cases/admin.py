"""Case pages: the deliveries to the case system, and the built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案)."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from pathlib import Path
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from cases import services
from cases.forms import (CalendarDayForm, DepartmentForm, DepartmentMembersForm, DeskActionForm,
                         RetryDeliveriesForm, RoutingRuleForm, TimeLimitForm, WorkingWeekForm)
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.admin import SHANGHAI, NavItem, actor, admin_blueprint, perform
from core.auth import require_staff_role
from core.config import current_config, current_settings
from core.db import database_ids, db, utcnow
from core.errors import AppError
from core.forms import FormInvalid, load_form
from core.geo import wgs84_to_gcj02
from core.security import permissions_policy
from media import services as media_services

bp = admin_blueprint("cases_admin", __name__)
DELIVERY_ROLES = ("dispatcher", "admin")
# Who reads 督办 notices: the dispatchers and administrators all, a department's handlers their department's.
NOTICE_ROLES = (*DELIVERY_ROLES, services.HANDLER_ROLE)
NAV = (
    NavItem("cases_admin.desk", "案件办理", services.DESK_ROLES),
    NavItem("cases_admin.deliveries", "案件转办", DELIVERY_ROLES),
    NavItem("cases_admin.supervisions", "督办通知", NOTICE_ROLES),
    NavItem("cases_admin.departments", "处置部门", ("admin",)),
    NavItem("cases_admin.time_limits", "办理时限", ("admin",)),
)


AUDIT_ACTIONS = {
    **{f"desk_case.{name}": f"案件{spec.name}" for name, spec in services.DESK_ACTIONS.items()},
    "desk_case.rework": "案件返工（市民申请重新办理）", "case_reopening.open": "重新转办（市民申请重新办理）",
    "case_delivery.retry": "重试转办", "desk_case.supervise": "案件超时督办", "desk_supervision.read": "督办通知已阅",
    "department.create": "新建处置部门", "department.update": "修改处置部门", "department.import": "导入处置部门",
    "department.members": "设置部门处置人员", "department.rule_add": "添加分派规则",
    "department.rule_remove": "删除分派规则", "case_time_limit.update": "修改办理时限",
    "case_calendar.set": "设置节假日/调休", "case_calendar.remove": "删除节假日/调休",
    "case_calendar.week": "修改工作日与工作时间", "case_calendar.week_reset": "恢复默认工作日与工作时间",
}
AUDIT_OBJECTS = {"desk_case": "案件", "case_reopening": "重新办理转办", "case_delivery": "转办",
                 "department": "处置部门", "case_time_limit": "办理时限", "case_calendar_day": "工作日历",
                 "case_calendar": "工作日历"}
AUDIT_FIELDS = {"step": "环节", "department": "处置部门", "public_reply": "公开答复", "report_id": "反映",
                "sequence": "第几次重新办理", "case_system": "案件系统", "attempts": "尝试次数",
                "weekdays": "工作日", "periods": "工作时间"}
CASE_SYSTEM_NAMES = {"desk": "内置案件台", "open311": "案件系统（Open311）", "webhook": "案件系统（Webhook）"}


@bp.app_context_processor
def _case_names() -> dict[str, Any]:
    return {"outbox_status_names": services.OUTBOX_STATUS_NAMES, "desk_step_names": services.DESK_STEP_NAMES,
            "desk_actions": services.DESK_ACTIONS, "step_action_names": services.STEP_ACTION_NAMES,
            "limited_steps": services.LIMITED_STEPS, "centre_name": services.CENTRE_NAME}


@bp.get("/deliveries")
def deliveries() -> str:
    require_staff_role(*DELIVERY_ROLES)
    status = request.args.get("status") or None
    return render_template("cases/deliveries.html", deliveries=services.deliveries(status),
                           counts=services.delivery_counts(), status=status)


@bp.post("/deliveries/retry")
def retry_deliveries() -> Response:
    require_staff_role(*DELIVERY_ROLES)
    form = load_form(RetryDeliveriesForm(), request.form)
    chosen = form.get("delivery_id")
    count = services.retry_deliveries(actor(), None if chosen is None else database_ids([chosen]))
    flash(f"已重新发送 {count} 条转办。" if count else "没有可重试的转办。", "success" if count else "info")
    return redirect(url_for("cases_admin.deliveries", status=form["status"] or None))


def desk_viewer() -> services.DeskViewer:
    staff = require_staff_role(*services.DESK_ROLES)
    return services.viewer_of(actor(), staff.roles)


# Where each duty's work waits: a handler's at 已派遣, a verifier's at 已处置, a dispatcher's at 待立案.
_FIRST_STEP = {"dispatcher": "received", "verifier": "handled", "handler": "dispatched"}


@bp.get("/desk")
def desk() -> str:
    viewer = desk_viewer()
    first = next((step for role, step in _FIRST_STEP.items() if role in viewer.roles), "received")
    step = request.args.get("step", first) or None
    sort = request.args.get("sort") or None
    queue = services.desk_queue(viewer, step, sort=sort)
    reports = citizen_services.get_reports(case.report_id for case in queue)
    reworked = services.reworked_cases(case.id for case in queue)
    cases = [{"case": case, "report": reports[case.report_id], "reworked": case.id in reworked} for case in queue]
    return render_template("cases/desk.html", cases=cases, counts=services.desk_counts(viewer), step=step, sort=sort,
                           time_left=services.time_left(queue))


@bp.get("/desk/<int:case_id>")
def desk_case(case_id: int) -> Response:
    viewer = desk_viewer()
    case = services.desk_case_for(viewer, case_id)
    report = citizen_services.get_report(case.report_id)
    evidence_rules = current_settings(CitizenSettings)
    before, after = services.before_and_after(case, report, evidence_rules)
    players = [{"item": item, "urls": media_services.media_urls(item.media_id)}
               for item in report.media if item.kind in ("audio", "video")]
    actions = services.available_actions(viewer, case)
    dispatching = "dispatch" in actions
    page = render_template(
        "cases/desk_case.html", case=case, report=report, actions=actions,
        before=[{"photo": photo, "urls": media_services.media_urls(photo.media_id)} for photo in before],
        after=[{"photo": photo, "urls": media_services.media_urls(photo.media_id)} for photo in after],
        players=players, gcj=wgs84_to_gcj02(report.lat, report.lng), tile_url=current_config().map_tile_url,
        after_places=_after_places(after),
        evidence_radius_m=evidence_rules.evidence_max_distance_m,
        followers=citizen_services.follower_summary(report.id), notifications=services.notifications_for(report.id),
        pending_return=services.pending_return(case),
        departments=services.list_departments(active_only=True) if dispatching else [],
        proposal=(services.propose_department(report.category_id, report.district,
                                              excluding=services.departments_returned_from(case))
                  if dispatching else None),
        time_left=services.time_left([case]).get(case.id), supervisions=services.supervisions_of(case.id))
    response = make_response(page)
    # 处置's form sends the browser's position with the photos: this page alone may ask for it.
    response.headers["Permissions-Policy"] = permissions_policy("geolocation")
    return response


def _after_places(after: list[services.ShownPhoto]) -> list[dict[str, Any]]:
    """Where the after-photos were taken, for the case's map (GCJ-02, as its tiles), labelled as the photos are."""
    places = []
    for number, photo in enumerate(after, start=1):
        if photo.position is not None:
            lat, lng = wgs84_to_gcj02(*photo.position)
            places.append({"lat": lat, "lng": lng, "label": f"处置后 {number}"})
    return places


def _after_photos(owner_resident_id: int, form: dict[str, Any]) -> services.AfterPhotos:
    """处置's photos as uploaded (stored as the resident's media, like a case system's photos), with the position the
    browser gave when they were sent."""
    position = ((form["upload_lat"], form["upload_lng"])
                if form["upload_lat"] is not None and form["upload_lng"] is not None else None)
    accuracy_m = form["upload_accuracy_m"] if position is not None else None
    photos = []
    with tempfile.TemporaryDirectory(prefix="desk-photo-") as directory:
        for number, upload in enumerate(request.files.getlist("photo")):
            if upload.filename:
                path = Path(directory) / f"photo-{number}"
                upload.save(path)
                photos.append(services.AfterPhoto(media_services.accept_local_file(owner_resident_id, path).id,
                                                  upload_position=position, upload_accuracy_m=accuracy_m))
    return services.AfterPhotos(tuple(photos), current_settings(CitizenSettings))


@bp.post("/desk/<int:case_id>/<action>")
def desk_act(case_id: int, action: str) -> Response:
    viewer = desk_viewer()
    if action not in services.DESK_ACTIONS:
        abort(404)
    try:
        form = load_form(DeskActionForm(), request.form)
    except FormInvalid:
        abort(400)  # Only the page's hidden fields can be wrong: a form no page of ours sent.
    case = services.desk_case_for(viewer, case_id)
    # Before the photo is stored: an action of another duty, or on another department's case, is no page's of ours.
    viewer.check_may(services.DESK_ACTIONS[action], case)
    try:
        photos = (_after_photos(citizen_services.get_report(case.report_id).resident_id, form)
                  if action == "handle" else None)
        services.act_on_desk_case(actor(), case_id, action, roles=viewer.roles, expected_version=form["version"],
                                  note=form["note"], department_id=next(iter(database_ids([form["department_id"]])),
                                                                        None),
                                  after_photos=photos, public_reply=form["public_reply"])
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"案件 #{case_id} 已{services.DESK_ACTIONS[action].name}。", "success")
    return redirect(url_for("cases_admin.desk_case", case_id=case_id))


# --- the departments directory (administrators) ---------------------------------------------------------------

@bp.get("/departments")
def departments() -> str:
    require_staff_role("admin")
    return render_template("cases/departments.html", departments=services.list_departments(),
                           kinds=services.DEPARTMENT_KINDS)


@bp.post("/departments")
def department_create() -> Response:
    require_staff_role("admin")
    form = load_form(DepartmentForm(), request.form)
    created: list[int] = []
    if perform(lambda: created.append(services.create_department(actor(), name=form["name"], kind=form["kind"]).id),
               f"已新建部门「{form['name'].strip()}」。"):
        return redirect(url_for("cases_admin.department", department_id=created[0]))
    return redirect(url_for("cases_admin.departments"))


@bp.post("/departments/import")
def departments_import() -> Response:
    require_staff_role("admin")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的 CSV 文件。", "error")
        return redirect(url_for("cases_admin.departments"))
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        flash("文件须为 UTF-8 编码的 CSV。", "error")
        return redirect(url_for("cases_admin.departments"))
    outcomes: list[services.ImportOutcome] = []
    if perform(lambda: outcomes.append(services.import_departments(actor(), text)), "部门已导入。"):
        outcome = outcomes[0]
        flash(f"新建 {outcome.created} 个部门，更新 {outcome.updated} 个，分派规则 {outcome.rules} 条。", "info")
    return redirect(url_for("cases_admin.departments"))


@bp.get("/departments/<int:department_id>")
def department(department_id: int) -> str:
    require_staff_role("admin")
    return render_template("cases/department.html", department=services.get_department(department_id),
                           kinds=services.DEPARTMENT_KINDS, districts=citizen_services.district_names(),
                           handlers=services.handlers(), members=services.member_ids(department_id),
                           rule_label=services.rule_label)


@bp.post("/departments/<int:department_id>")
def department_update(department_id: int) -> Response:
    require_staff_role("admin")
    form = load_form(DepartmentForm(), request.form)
    perform(lambda: services.update_department(actor(), department_id, name=form["name"], kind=form["kind"],
                                               is_active=form["is_active"]),
            "部门已保存。" if form["is_active"] else "部门已保存（已停用：不再用于派遣和推荐）。")
    return redirect(url_for("cases_admin.department", department_id=department_id))


@bp.post("/departments/<int:department_id>/rules")
def department_rule_add(department_id: int) -> Response:
    require_staff_role("admin")
    form = load_form(RoutingRuleForm(), request.form)
    perform(lambda: services.add_rule(actor(), department_id, category_prefix=form["category_prefix"],
                                      district=form["district"]), "已添加分派规则。")
    return redirect(url_for("cases_admin.department", department_id=department_id))


@bp.post("/departments/<int:department_id>/rules/<int:rule_id>/delete")
def department_rule_remove(department_id: int, rule_id: int) -> Response:
    require_staff_role("admin")
    perform(lambda: services.remove_rule(actor(), department_id, rule_id), "已删除分派规则。")
    return redirect(url_for("cases_admin.department", department_id=department_id))


@bp.post("/departments/<int:department_id>/members")
def department_members(department_id: int) -> Response:
    require_staff_role("admin")
    try:
        form = load_form(DepartmentMembersForm(), request.form)
    except FormInvalid:
        abort(400)  # Only the page's checkboxes send staff ids: a form no page of ours sent.
    perform(lambda: services.set_members(actor(), department_id, form["staff_ids"]), "已保存部门处置人员。")
    return redirect(url_for("cases_admin.department", department_id=department_id))


# --- time limits, the working calendar and 督办 ------------------------------------------------------------------

@bp.get("/desk/limits")
def time_limits() -> str:
    require_staff_role("admin")
    today = utcnow().astimezone(SHANGHAI).date()
    return render_template("cases/time_limits.html", rows=services.limit_table(),
                           categories=citizen_services.list_categories(include_inactive=True),
                           calendar=services.working_calendar(), week=services.working_week(),
                           weekday_names=services.WEEKDAY_NAMES,
                           calendar_days=services.calendar_days(today - dt.timedelta(days=30)))


def _loaded(form_schema: Any) -> dict[str, Any] | None:
    """The time-limit page's form, or None with why not flashed (each field's Chinese message)."""
    try:
        return load_form(form_schema, request.form)
    except FormInvalid as invalid:
        flash("；".join(message for messages in invalid.fields.values() for message in messages), "error")
        return None


@bp.post("/desk/limits")
def save_time_limits() -> Response:
    require_staff_role("admin")
    if (form := _loaded(TimeLimitForm())) is None:
        return redirect(url_for("cases_admin.time_limits"))
    limits = {step: (None if form["reset"] else form[f"{step}_hours"], form[f"{step}_working"])
              for step in services.LIMITED_STEPS}
    perform(lambda: services.set_limits(actor(), form["scope"], limits),
            "已恢复默认时限。" if form["reset"] else "已保存时限，新开始的环节按新时限计算。")
    return redirect(url_for("cases_admin.time_limits", _anchor=f"scope-{form['scope']}"))


@bp.post("/desk/calendar")
def save_calendar_day() -> Response:
    require_staff_role("admin")
    if (form := _loaded(CalendarDayForm())) is not None:
        day = form["day"]
        if form["remove"]:
            perform(lambda: services.remove_calendar_day(actor(), day), f"已删除 {day:%Y-%m-%d} 的设置。")
        else:
            perform(lambda: services.set_calendar_day(actor(), day, is_workday=form["is_workday"], name=form["name"]),
                    f"已保存 {day:%Y-%m-%d}。")
    return redirect(url_for("cases_admin.time_limits", _anchor="calendar"))


@bp.post("/desk/calendar/week")
def save_working_week() -> Response:
    require_staff_role("admin")
    if (form := _loaded(WorkingWeekForm())) is not None:
        if form["reset"]:
            perform(lambda: services.reset_working_week(actor()), "已恢复默认工作日与工作时间。")
        else:
            periods = list(itertools.zip_longest(form["opens"], form["closes"], fillvalue=""))
            perform(lambda: services.set_working_week(actor(), weekdays=form["weekdays"], periods=periods),
                    "已保存工作日与工作时间，新开始的环节按此计算时限。")
    return redirect(url_for("cases_admin.time_limits", _anchor="calendar"))


def _notices_within() -> set[int] | None:
    """The departments whose 督办 notices the staff member reads (None: all of them)."""
    staff = require_staff_role(*NOTICE_ROLES)
    return services.viewer_of(actor(), staff.roles).departments()


@bp.get("/desk/supervisions")
def supervisions() -> str:
    within = _notices_within()
    department = request.args.get("department") or None
    unread_only = request.args.get("unread") == "1"
    notices = services.supervision_notices(within=within, department=department, unread_only=unread_only)
    return render_template("cases/supervisions.html", notices=notices, department=department,
                           unread_only=unread_only, departments=services.notice_departments(within=within))


@bp.post("/desk/supervisions/<int:supervision_id>/read")
def read_supervision(supervision_id: int) -> Response:
    within = _notices_within()
    if services.mark_notice_read(actor(), supervision_id, within=within):
        flash("已标记为已阅。", "success")
    return redirect(url_for("cases_admin.supervisions", department=request.form.get("department") or None))
