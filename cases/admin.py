"""Case pages: the deliveries to the case system, and the built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from cases import services
from cases.forms import DeskActionForm, RetryDeliveriesForm
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.admin import NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.config import current_config, current_settings
from core.db import database_ids, db
from core.errors import AppError
from core.forms import FormInvalid, load_form
from core.geo import wgs84_to_gcj02
from core.security import permissions_policy
from media import services as media_services

bp = admin_blueprint("cases_admin", __name__)
DESK_ROLES = ("dispatcher", "admin")
NAV = (
    NavItem("cases_admin.desk", "案件办理", ("dispatcher",)),
    NavItem("cases_admin.deliveries", "案件转办", DESK_ROLES),
)


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
def desk_case(case_id: int) -> Response:
    require_staff_role("dispatcher")
    case = services.get_desk_case(case_id)
    report = citizen_services.get_report(case.report_id)
    evidence_rules = current_settings(CitizenSettings)
    before, after = services.before_and_after(case, report, evidence_rules)
    players = [{"item": item, "urls": media_services.media_urls(item.media_id)}
               for item in report.media if item.kind in ("audio", "video")]
    actions = {name: spec for name, spec in services.DESK_ACTIONS.items() if case.step in spec.moves}
    page = render_template(
        "cases/desk_case.html", case=case, report=report, actions=actions,
        before=[{"photo": photo, "urls": media_services.media_urls(photo.media_id)} for photo in before],
        after=[{"photo": photo, "urls": media_services.media_urls(photo.media_id)} for photo in after],
        players=players, gcj=wgs84_to_gcj02(report.lat, report.lng), tile_url=current_config().map_tile_url,
        evidence_radius_m=evidence_rules.evidence_max_distance_m,
        followers=citizen_services.follower_summary(report.id), notifications=services.notifications_for(report.id))
    response = make_response(page)
    # 处置's form sends the browser's position with the photos: this page alone may ask for it.
    response.headers["Permissions-Policy"] = permissions_policy("geolocation")
    return response


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
    require_staff_role("dispatcher")
    if action not in services.DESK_ACTIONS:
        abort(404)
    try:
        form = load_form(DeskActionForm(), request.form)
    except FormInvalid:
        abort(400)  # Only the page's hidden fields can be wrong: a form no page of ours sent.
    case = services.get_desk_case(case_id)
    try:
        photos = (_after_photos(citizen_services.get_report(case.report_id).resident_id, form)
                  if action == "handle" else None)
        services.act_on_desk_case(actor(), case_id, action, expected_version=form["version"], note=form["note"],
                                  department=form["department"], after_photos=photos,
                                  public_reply=form["public_reply"])
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"案件 #{case_id} 已{services.DESK_ACTIONS[action].name}。", "success")
    return redirect(url_for("cases_admin.desk_case", case_id=case_id))
