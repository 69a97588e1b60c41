"""Case pages: the deliveries to the case system, and the built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from cases import services
from cases.forms import DeskActionForm, RetryDeliveriesForm
from citizen import services as citizen_services
from core.admin import NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.db import database_ids, db
from core.errors import AppError
from core.forms import FormInvalid, load_form
from media import services as media_services

bp = admin_blueprint("cases_admin", __name__)
DESK_ROLES = ("dispatcher", "admin")
NAV = (
    NavItem("cases_admin.desk", "案件办理", ("dispatcher",)),
    NavItem("cases_admin.deliveries", "案件转办", DESK_ROLES),
)


AUDIT_ACTIONS = {
    **{f"desk_case.{name}": f"案件{spec.name}" for name, spec in services.DESK_ACTIONS.items()},
    "desk_case.rework": "案件返工（市民申请重新办理）", "case_reopening.open": "重新转办（市民申请重新办理）",
    "case_delivery.retry": "重试转办",
}
AUDIT_OBJECTS = {"desk_case": "案件", "case_reopening": "重新办理转办", "case_delivery": "转办"}
AUDIT_FIELDS = {"step": "环节", "department": "处置部门", "public_reply": "公开答复", "report_id": "反映",
                "sequence": "第几次重新办理", "case_system": "案件系统", "attempts": "尝试次数"}
CASE_SYSTEM_NAMES = {"desk": "内置案件台", "open311": "案件系统（Open311）", "webhook": "案件系统（Webhook）"}


@bp.app_context_processor
def _case_names() -> dict[str, Any]:
    return {"outbox_status_names": services.OUTBOX_STATUS_NAMES, "desk_step_names": services.DESK_STEP_NAMES,
            "desk_actions": services.DESK_ACTIONS}


@bp.get("/deliveries")
def deliveries() -> str:
    require_staff_role(*DESK_ROLES)
    status = request.args.get("status") or None
    return render_template("cases/deliveries.html", deliveries=services.deliveries(status),
                           counts=services.delivery_counts(), status=status)


@bp.post("/deliveries/retry")
def retry_deliveries() -> Response:
    require_staff_role(*DESK_ROLES)
    form = load_form(RetryDeliveriesForm(), request.form)
    chosen = form.get("delivery_id")
    count = services.retry_deliveries(actor(), None if chosen is None else database_ids([chosen]))
    flash(f"已重新发送 {count} 条转办。" if count else "没有可重试的转办。", "success" if count else "info")
    return redirect(url_for("cases_admin.deliveries", status=form["status"] or None))


@bp.get("/desk")
def desk() -> str:
    require_staff_role("dispatcher")
    step = request.args.get("step", "received") or None
    cases = [{"case": case, "report": citizen_services.get_report(case.report_id)}
             for case in services.desk_queue(step)]
    return render_template("cases/desk.html", cases=cases, counts=services.desk_counts(), step=step)


@bp.get("/desk/<int:case_id>")
def desk_case(case_id: int) -> str:
    require_staff_role("dispatcher")
    case = services.get_desk_case(case_id)
    report = citizen_services.get_report(case.report_id)
    photos = [{"item": item, "urls": media_services.media_urls(item.media_id)}
              for item in report.media if item.kind == "photo"]
    actions = {name: spec for name, spec in services.DESK_ACTIONS.items() if case.step in spec.moves}
    return render_template("cases/desk_case.html", case=case, report=report, photos=photos, actions=actions,
                           followers=citizen_services.follower_summary(report.id),
                           notifications=services.notifications_for(report.id))


def _uploaded_photo(owner_resident_id: int) -> tuple[int, ...]:
    upload = request.files.get("photo")
    if upload is None or not upload.filename:
        return ()
    with tempfile.TemporaryDirectory(prefix="desk-photo-") as directory:
        path = Path(directory) / "photo"
        upload.save(path)
        return (media_services.accept_local_file(owner_resident_id, path).id,)


@bp.post("/desk/<int:case_id>/<action>")
def desk_act(case_id: int, action: str) -> Response:
    require_staff_role("dispatcher")
    if action not in services.DESK_ACTIONS:
        abort(404)
    try:
        form = load_form(DeskActionForm(), request.form)
    except FormInvalid:
        abort(400)  # Only the page's hidden version can be wrong: a form no page of ours sent.
    case = services.get_desk_case(case_id)
    try:
        photos = _uploaded_photo(citizen_services.get_report(case.report_id).resident_id) if action == "handle" else ()
        services.act_on_desk_case(actor(), case_id, action, expected_version=form["version"], note=form["note"],
                                  department=form["department"], photo_media_ids=photos,
                                  public_reply=form["public_reply"])
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"案件 #{case_id} 已{services.DESK_ACTIONS[action].name}。", "success")
    return redirect(url_for("cases_admin.desk_case", case_id=case_id))
