"""Moderation pages: the report queue, a report with its checks, and the category and reason lists."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import xstatic.pkg.leaflet
from flask import abort, flash, redirect, render_template, request, send_from_directory, url_for
from werkzeug.wrappers import Response

from citizen import services
from citizen.forms import (AssignForm, BlockForm, BulkModerationForm, CategoryForm, DuplicateForm,
                           PhotoPublicationForm, RejectForm, RejectionTemplateForm, ReportActionForm, RequestInfoForm,
                           RevealForm)
from citizen.settings import CitizenSettings
from core.admin import SHANGHAI, NavItem, actor, admin_blueprint, parse_day, perform, readers
from core.auth import current_staff, require_staff_role
from core.config import current_config, current_settings
from core.csv_export import csv_download, spreadsheet_text
from core.db import MAX_DATABASE_ID, database_ids
from core.errors import AppError, ValidationFailed
from core.forms import FormInvalid, load_form
from core.geo import wgs84_to_gcj02
from core.pagination import paginate
from core.services import record_audit
from media import services as media_services

bp = admin_blueprint("citizen_admin", __name__)
NAV = (
    NavItem("citizen_admin.queue", "反映审核", ("moderator",)),
    NavItem("citizen_admin.categories", "问题类别", ("admin",)),
    NavItem("citizen_admin.rejection_templates", "驳回理由", ("admin",)),
    NavItem("citizen_admin.blocked_residents", "停用用户", ("admin",)),
)
QUEUE_PAGE_SIZE = 50
AUDIT_ACTIONS = {
    "report.accept": "受理反映", "report.reject": "驳回反映", "report.mark_duplicate": "合并重复反映",
    "report.request_info": "要求市民补充信息", "report.photo_publication": "设置照片公开",
    "report.reply": "市民补充信息", "report.reopen": "市民申请重新办理", "category.update": "修改问题类别",
    "rejection_template.save": "保存驳回理由", "report.claim": "认领反映", "report.release": "放弃认领反映",
    "report.assign": "指派反映", "report.export": "导出审核队列", "resident.block": "停用市民账号",
    "resident.unblock": "恢复市民账号",
}
AUDIT_OBJECTS = {"report": "反映", "category": "问题类别", "rejection_template": "驳回理由", "report_queue": "审核队列"}
AUDIT_FIELDS = {
    "reject_reason": "驳回理由", "duplicate_of_id": "合并至反映", "message": "补充要求", "media_id": "照片",
    "is_public": "公开", "blur_boxes": "遮挡框", "event_id": "时间线记录", "media_ids": "附件", "text": "内容",
    "title": "标题",
}
REVEALED_FIELDS = {"submitted_ip": "提交 IP", "rating_comment": "评价内容"}
FLAG_NAMES = {
    "possible_duplicate": "疑似重复", "photo_seen_before": "照片曾出现", "evidence_far_away": "拍摄地点偏远",
    "evidence_old": "照片时间较早", "text_flagged": "文本需复核", "info_requested": "已要求补充",
    "info_supplied": "已补充", "checks_pending": "核查中",
}


@bp.app_context_processor
def _moderation_names() -> dict[str, Any]:
    return {"status_names": services.STATUS_NAMES, "flag_names": FLAG_NAMES}


@bp.app_template_global()
def report_url(report_id: int) -> str | None:
    """Where the signed-in staff member reads a report: the moderation page for moderators, the read-only page for
    the roles other packages registered as readers of reports, nowhere (None: no link) for the rest."""
    staff = current_staff()
    if staff is None:
        return None
    if staff.has_role("moderator"):
        return url_for("citizen_admin.report_page", report_id=report_id)
    if staff.has_role(*readers("report")):
        return url_for("citizen_admin.report_view", report_id=report_id)
    return None


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet_files(filename: str) -> Response:
    # Leaflet comes with the Python install (XStatic-Leaflet), never from a CDN.
    return send_from_directory(xstatic.pkg.leaflet.BASE_DIR, filename)


def _queue_filter() -> services.QueueFilter:
    args = request.args
    return services.QueueFilter(
        status=args.get("status", services.PENDING_REVIEW) or None, category_id=args.get("category") or None,
        district=args.get("district") or None, since=parse_day(args.get("since")),
        until=parse_day(args.get("until"), end=True), flag=args.get("flag") or None,
        search=args.get("q", "").strip() or None,
        holder_id=require_staff_role().id if args.get("mine") else None)


_counts_cache: dict[services.QueueFilter, tuple[float, dict[str, int]]] = {}


def _status_counts(filters: services.QueueFilter) -> dict[str, int]:
    """Counts per status. With filters beyond the status they are counted, so at most a few seconds old:
    counting a million rows on every page is wasteful. Without, they are read from the kept totals."""
    if not filters.narrows_counts:
        return services.status_counts(filters)
    now = time.monotonic()
    cached = _counts_cache.get(filters)
    if cached is None or now - cached[0] >= current_settings(CitizenSettings).queue_counts_ttl_seconds:
        if len(_counts_cache) > 256:
            _counts_cache.clear()
        cached = _counts_cache[filters] = (now, services.status_counts(filters))
    return cached[1]


def _cursor(value: str | None) -> tuple[dt.datetime, int] | None:
    if not value:
        return None
    stamp, _, report_id = value.rpartition("_")
    try:
        after = dt.datetime.fromisoformat(stamp), int(report_id)
    except ValueError:
        abort(400)
    if not 0 <= after[1] <= MAX_DATABASE_ID:
        abort(400)
    return after


@bp.get("/reports")
def queue() -> str:
    require_staff_role("moderator")
    filters = _queue_filter()
    reports = services.moderation_queue(filters, after=_cursor(request.args.get("after")), limit=QUEUE_PAGE_SIZE)
    next_after = (f"{reports[-1].created_at.isoformat()}_{reports[-1].id}"
                  if len(reports) == QUEUE_PAGE_SIZE else None)
    report_ids = [report.id for report in reports]
    return render_template("citizen/queue.html", reports=reports, filters=request.args, next_after=next_after,
                           me_too=services.me_too_counts(report_ids), holders=services.assignments_of(report_ids),
                           counts=_status_counts(filters), tree=services.category_tree(),
                           searches_personal_data=filters.searches_personal_data,
                           templates=services.rejection_templates(),
                           districts=services.district_names(), stuck=services.stuck_checks())


@bp.post("/reports/bulk")
def bulk_moderate() -> Response:
    """Accept, or reject with one reason, the reports ticked in the queue; a flash says what became of each."""
    require_staff_role("moderator")
    try:
        form = load_form(BulkModerationForm(), request.form)
    except FormInvalid as invalid:
        _flash_invalid(invalid)
        return redirect(url_for("citizen_admin.queue"))
    selection = _selection(form["selected"])
    back = url_for("citizen_admin.queue") + (f"?{form['queue_query']}" if form["queue_query"] else "")
    if not selection or form["decision"] not in {"accept", "reject"}:
        flash("请先勾选要处理的反映。", "error")
        return redirect(back)
    accept = form["decision"] == "accept"
    try:
        outcome = services.moderate_selection(actor(), selection, accept=accept, reason=form["reason"],
                                              template_id=form["template_id"])
    except AppError as refused:
        flash(refused.message, "error")
        return redirect(back)
    if outcome.done:
        flash(f"已{'受理' if accept else '驳回'} {len(outcome.done)} 条反映：" +
              "、".join(f"#{report_id}" for report_id in outcome.done) + "。", "success")
    for report_id, why in outcome.refused.items():
        flash(f"反映 #{report_id} 未处理：{why}", "error")
    return redirect(back)


def _selection(values: list[str]) -> dict[int, int]:
    """The ticked reports, "id:version" each, as {id: version}; a value the page could not have sent is a bad
    request."""
    selection = {}
    for value in values:
        report_id, _, version = value.partition(":")
        ids = database_ids([report_id, version])
        if len(ids) != 2:
            abort(400)
        selection[ids[0]] = ids[1]
    return selection


@bp.get("/reports/export.csv")
def export_queue() -> Response:
    """The filtered queue (every page of it) as CSV for Excel. Who reported is in it only for an administrator,
    who may see it; the export and the filter it used are audited."""
    staff = require_staff_role("moderator")
    filters = _queue_filter()
    personal = staff.has_role("admin")
    record_audit(actor(), "report.export", "report_queue",
                 after={"filter": {key: value for key, value in request.args.items() if value},
                        "personal_data": personal})
    header = ["编号", "提交时间（北京时间）", "状态", "类别编号", "类别", "区（市）", "地址", "描述", "标记", "处理人"]
    if personal:
        header += ["市民编号", "市民 openid"]

    def rows() -> Iterator[list[Any]]:
        for batch in services.queue_export_batches(filters):
            openids = services.openids_of(report.resident_id for report in batch) if personal else {}
            for report in batch:
                row = [report.id, report.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                       services.STATUS_NAMES[report.status], report.category_id, report.category.name,
                       report.district or "", spreadsheet_text(report.address),
                       spreadsheet_text(report.description if personal else report.public_description),
                       "、".join(FLAG_NAMES.get(flag, flag) for flag in report.flags),
                       report.assignment.staff.display_name if report.assignment else ""]
                yield row + ([report.resident_id, openids[report.resident_id]] if personal else [])

    stamp = dt.datetime.now(SHANGHAI).strftime("%Y%m%d")
    return csv_download(f"reports-{stamp}.csv", header, rows())


@bp.get("/reports/<int:report_id>")
def report_page(report_id: int) -> str:
    require_staff_role("moderator")
    return _report_page(report_id)


@bp.post("/reports/<int:report_id>/reveal")
def reveal(report_id: int) -> str:
    """The page again with one masked field in the clear (never redirected to: the value stays out of the session
    cookie and the history), audited."""
    require_staff_role("moderator")
    try:
        field = load_form(RevealForm(), request.form)["field"]
    except FormInvalid:
        abort(400)
    if field not in services.REVEALABLE_REPORT_FIELDS:
        abort(400)
    require_staff_role(services.REVEALABLE_REPORT_FIELDS[field])
    value = services.reveal_report_field(actor(), report_id, field)
    return _report_page(report_id, revealed={field: value})


@bp.get("/reports/<int:report_id>/view")
def report_view(report_id: int) -> str:
    """A report as the roles deciding on what follows from it read it (the case, the reward): its facts, photos with
    where and when they were taken, players, map, checks and timeline; no moderation, nothing of the resident."""
    require_staff_role("moderator", *readers("report"))
    report = services.get_report(report_id)
    return render_template("citizen/report_view.html", report=report, media=_report_media(report),
                           gcj=wgs84_to_gcj02(report.lat, report.lng), tile_url=current_config().map_tile_url,
                           followers=services.follower_summary(report.id))


def _report_media(report: Any) -> list[dict[str, Any]]:
    """Each photo, voice note and video of the report with its facts and signed links (the original's too)."""
    return [{"item": item, "info": media_services.media_info(item.media_id),
             "urls": media_services.media_urls(item.media_id, include_original=True),
             "public_urls": media_services.media_urls(item.public_media_id) if item.public_media_id else {}}
            for item in report.media]


def _report_page(report_id: int, revealed: dict[str, str | None] | None = None) -> str:
    report = services.get_report(report_id)
    media = _report_media(report)
    messages = [{"event": event, "reopening": services.is_reopening(event),
                 "media": [entry for entry in media if entry["item"].event_id == event.id]}
                for event in services.resident_messages(report)]
    candidates = [{"candidate": candidate, "photo": _first_photo_url(candidate.report)}
                  for candidate in services.duplicate_candidates(report, current_settings(CitizenSettings))]
    gcj_lat, gcj_lng = wgs84_to_gcj02(report.lat, report.lng)
    return render_template(
        "citizen/report.html", report=report, media=media, messages=messages, candidates=candidates,
        gcj=(gcj_lat, gcj_lng),
        history=services.resident_history(report.resident_id), templates=services.rejection_templates(),
        tile_url=current_config().map_tile_url, resident=services.get_resident(report.resident_id),
        holder=report.assignment,
        moderators=services.moderators() if require_staff_role().has_role("admin") else [],
        revealed=revealed or {}, reveal_roles=services.REVEALABLE_REPORT_FIELDS,
        followers=services.follower_summary(report.id))


def _first_photo_url(report: Any) -> str | None:
    photo = next((item for item in report.media if item.kind == "photo"), None)
    return media_services.media_urls(photo.media_id).get("thumb") if photo else None


def _act(report_id: int, form: ReportActionForm, action: Any, success: str) -> Response:
    """Run a moderation action with the form's values (``success`` may name them: ``{duplicate_of_id}``). A version
    the page could not have sent is a bad request; any other value that does not load is flashed back."""
    require_staff_role("moderator")
    try:
        values = load_form(form, request.form)
    except FormInvalid as invalid:
        if "version" in invalid.fields:
            abort(400)
        _flash_invalid(invalid)
    else:
        version = values.pop("version")
        perform(lambda: action(actor(), report_id, expected_version=version, **values),
                success.format(**values))
    return redirect(url_for("citizen_admin.report_page", report_id=report_id))


def _flash_invalid(invalid: FormInvalid) -> None:
    flash("；".join(message for messages in invalid.fields.values() for message in messages), "error")


@bp.post("/reports/<int:report_id>/accept")
def accept(report_id: int) -> Response:
    return _act(report_id, ReportActionForm(), services.accept_report, f"已受理反映 #{report_id}。")


@bp.post("/reports/<int:report_id>/reject")
def reject(report_id: int) -> Response:
    return _act(report_id, RejectForm(), services.reject_report, f"已驳回反映 #{report_id}。")


@bp.post("/reports/<int:report_id>/duplicate")
def duplicate(report_id: int) -> Response:
    return _act(report_id, DuplicateForm(), services.mark_duplicate,
                f"已将反映 #{report_id} 合并到 #{{duplicate_of_id}}。")


@bp.post("/reports/<int:report_id>/request-info")
def request_info(report_id: int) -> Response:
    return _act(report_id, RequestInfoForm(), services.request_more_information, "已通知市民补充信息。")


@bp.post("/reports/<int:report_id>/photos/<int:media_id>/publication")
def photo_publication(report_id: int, media_id: int) -> Response:
    """A photo made public (as a copy blurred in the boxes drawn on it) or kept with staff."""
    require_staff_role("moderator")
    try:
        form = load_form(PhotoPublicationForm(), request.form)
    except FormInvalid:
        flash("遮挡框数据无效，请重新绘制。", "error")
    else:
        is_public = form["is_public"]
        perform(lambda: services.set_photo_publication(
            actor(), report_id, media_id, is_public=is_public,
            blur_boxes=services.blur_boxes_from_display(form["boxes"], form["display_width"], form["display_height"])),
            "已公开该照片（遮挡处理后的副本）。" if is_public else "该照片不公开。")
    return redirect(url_for("citizen_admin.report_page", report_id=report_id, _anchor=f"photo-{media_id}"))


@bp.post("/reports/<int:report_id>/claim")
def claim(report_id: int) -> Response:
    require_staff_role("moderator")
    perform(lambda: services.claim_report(actor(), report_id), f"已认领反映 #{report_id}。")
    return redirect(url_for("citizen_admin.report_page", report_id=report_id))


@bp.post("/reports/<int:report_id>/release")
def release(report_id: int) -> Response:
    """The holder lets the report go back to the queue; an administrator may take it from anyone."""
    staff = require_staff_role("moderator")
    holder = services.assignments_of([report_id]).get(report_id)
    if holder is not None and holder.staff_id != staff.id:
        require_staff_role("admin")
    perform(lambda: services.release_report(actor(), report_id), f"已放回反映 #{report_id}，其他审核员可认领。")
    return redirect(url_for("citizen_admin.report_page", report_id=report_id))


@bp.post("/reports/<int:report_id>/assign")
def assign(report_id: int) -> Response:
    require_staff_role("admin")
    try:
        staff_id = load_form(AssignForm(), request.form)["staff_id"]
    except FormInvalid:
        abort(400)
    perform(lambda: services.assign_report(actor(), report_id, staff_id),
            f"已分派反映 #{report_id}。" if staff_id else f"已取消反映 #{report_id} 的分派。")
    return redirect(url_for("citizen_admin.report_page", report_id=report_id))


# --- blocked residents ---------------------------------------------------------------------

@bp.get("/residents/blocked")
def blocked_residents() -> str:
    require_staff_role("admin")
    return render_template("citizen/blocked_residents.html",
                           page=paginate(services.blocked_residents(), request.args.get("page", 1, type=int), 50))


@bp.post("/residents/<int:resident_id>/block")
def block_resident(resident_id: int) -> Response:
    return _change_block(resident_id, services.block_resident, f"已停用市民 #{resident_id}。")


@bp.post("/residents/<int:resident_id>/unblock")
def unblock_resident(resident_id: int) -> Response:
    return _change_block(resident_id, services.unblock_resident, f"已恢复市民 #{resident_id}。")


def _change_block(resident_id: int, change: Callable[..., Any], success: str) -> Response:
    """Block or unblock with the reason typed, then back to the report it was done from, or the list."""
    require_staff_role("admin")
    try:
        form = load_form(BlockForm(), request.form)
    except FormInvalid:
        abort(400)
    perform(lambda: change(actor(), resident_id, reason=form["reason"]), success)
    if form["report_id"]:
        return redirect(url_for("citizen_admin.report_page", report_id=form["report_id"], _anchor="reporter"))
    return redirect(url_for("citizen_admin.blocked_residents"))


def _save(action: Callable[[], Any], success: str) -> dict[str, list[str]] | None:
    """``perform`` an admin page's save; when it is refused naming fields (``details.fields``, as the API shows
    them), those fields' messages, for the page to show next to them."""
    refused_fields: dict[str, list[str]] = {}

    def attempt() -> None:
        try:
            action()
        except ValidationFailed as refused:
            refused_fields.update(refused.details.get("fields", {}))
            raise

    perform(attempt, success)
    return refused_fields or None


@bp.route("/categories", methods=["GET", "POST"])
def categories() -> Response | str | tuple[str, int]:
    require_staff_role("admin")
    if request.method == "POST":
        try:
            form = load_form(CategoryForm(), request.form)
        except FormInvalid as invalid:
            _flash_invalid(invalid)
            return redirect(url_for("citizen_admin.categories"))
        category_id = form.pop("id")
        errors = _save(lambda: services.update_category(actor(), category_id, **form), "已保存类别。")
        if errors:
            return _categories_page(errors, edited=category_id), 422
        return redirect(url_for("citizen_admin.categories", _anchor=category_id))
    return _categories_page()


def _categories_page(errors: dict[str, list[str]] | None = None, edited: str | None = None) -> str:
    return render_template("citizen/categories.html", categories=services.list_categories(include_inactive=True),
                           errors=errors, edited=edited)


@bp.route("/rejection-templates", methods=["GET", "POST"])
def rejection_templates() -> Response | str | tuple[str, int]:
    require_staff_role("admin")
    if request.method == "POST":
        try:
            form = load_form(RejectionTemplateForm(), request.form)
        except FormInvalid as invalid:
            _flash_invalid(invalid)
            return redirect(url_for("citizen_admin.rejection_templates"))
        template_id = form.pop("id")
        errors = _save(lambda: services.save_rejection_template(actor(), template_id=template_id, **form),
                       "已保存驳回理由。")
        if errors:
            return _rejection_templates_page(errors, edited=template_id), 422
        return redirect(url_for("citizen_admin.rejection_templates"))
    return _rejection_templates_page()


def _rejection_templates_page(errors: dict[str, list[str]] | None = None, edited: int | None = None) -> str:
    """``edited`` is the template the refused form saved, None for the form adding one."""
    return render_template("citizen/rejection_templates.html",
                           templates=services.rejection_templates(include_inactive=True), errors=errors, edited=edited)
