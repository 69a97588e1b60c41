"""Admin pages: search, edit and disable facilities; kinds shown to residents; facility files uploaded and imported
as a job, with their progress and rejected rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Response, abort, flash, jsonify, redirect, render_template, request, stream_with_context, url_for

from core.admin import NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.db import db
from core.errors import AppError
from core.forms import FormInvalid, load_form
from core.geo import COORD_TYPES
from core.pagination import paginate
from facilities import imports, services
from facilities.forms import FacilityEditForm, ImportUploadForm, KindShownForm
from facilities.models import FACILITY_STATUSES, Facility, FacilityImport

bp = admin_blueprint("facilities_admin", __name__, url_prefix="/admin/facilities")
AUDIT_ACTIONS = {"facility.update": "修改设施", "facility.import": "导入设施", "facility.import_upload": "上传设施文件",
                 "facility_kind.update": "修改设施类型"}
AUDIT_OBJECTS = {"facility": "设施", "facility_kind": "设施类型", "facility_import": "设施导入"}
AUDIT_FIELDS = {"shown_to_residents": "向市民显示", "file": "文件", "accepted": "导入", "rejected": "拒绝",
                "kind_code": "设施类型", "address": "地址", "district": "区", "lat": "纬度", "lng": "经度",
                "opening_hours": "开放时间", "attributes": "属性"}
NAV = (
    NavItem("facilities_admin.facility_list", "设施管理", ("admin",)),
    NavItem("facilities_admin.kind_list", "设施类型", ("admin",)),
    NavItem("facilities_admin.import_list", "设施导入", ("admin",)),
)
STATUS_NAMES = {"in_service": "正常使用", "under_repair": "维修中", "removed": "已停用"}
GENDER_NAMES = {"male": "男厕", "female": "女厕", "family": "第三卫生间", "unisex": "无性别厕位"}
ATTRIBUTE_NAMES = {"free": "免费", "accessible": "无障碍设施", "baby_changing": "婴儿护理台"}
IMPORT_STATUS_NAMES = {"queued": "排队中", "running": "进行中", "finished": "完成", "failed": "失败"}
COORD_TYPE_NAMES = {"wgs84": "WGS-84（GPS）", "gcj02": "GCJ-02（高德、腾讯地图）"}
# Rejected rows listed on an import's page; the CSV holds every one kept.
REJECTIONS_PER_PAGE = 100


@bp.app_context_processor
def _names() -> dict:
    return {"facility_status_names": STATUS_NAMES, "import_status_names": IMPORT_STATUS_NAMES}


@bp.get("/")
def facility_list() -> str:
    require_staff_role("admin")
    args = request.args
    sample = {"yes": True, "no": False}.get(args.get("sample", ""))
    query = services.facility_query(text=args.get("q", "").strip() or None, kind=args.get("kind") or None,
                                    status=args.get("status") or None, sample=sample)
    page = paginate(query, args.get("page", 1, type=int), per_page=50)
    return render_template("facilities/facility_list.html", page=page, filters=args, kinds=services.list_kinds(),
                           statuses=FACILITY_STATUSES)


@bp.route("/<int:facility_id>", methods=["GET", "POST"])
def facility_edit(facility_id: int) -> Response | str:
    require_staff_role("admin")
    facility = db.session.get(Facility, facility_id) or abort(404)
    context = {"facility": facility, "statuses": FACILITY_STATUSES, "gender_names": GENDER_NAMES,
               "attribute_names": ATTRIBUTE_NAMES}
    if request.method == "POST":
        try:
            changes = load_form(FacilityEditForm(), request.form)
            services.update_facility(actor(), facility, expected_updated_at=changes.pop("updated_at"), **changes)
        except AppError as exc:
            db.session.rollback()
            return render_template("facilities/facility_form.html", error=exc.message,
                                   errors=exc.details.get("fields", {}), **context), exc.status
        flash(f"已保存设施 {facility.name}。", "success")
        return redirect(url_for("facilities_admin.facility_list"))
    return render_template("facilities/facility_form.html", **context)


@bp.post("/<int:facility_id>/disable")
def facility_disable(facility_id: int) -> Response:
    require_staff_role("admin")
    facility = db.session.get(Facility, facility_id) or abort(404)
    services.disable_facility(actor(), facility)
    flash(f"已停用设施 {facility.name}。", "success")
    return redirect(url_for("facilities_admin.facility_list"))


@bp.get("/kinds")
def kind_list() -> str:
    require_staff_role("admin")
    return render_template("facilities/kind_list.html", kinds=services.list_kinds())


@bp.post("/kinds/<code>")
def kind_update(code: str) -> Response:
    require_staff_role("admin")
    kind = services.set_kind_shown(actor(), code, load_form(KindShownForm(), request.form)["shown_to_residents"])
    flash(f"已{'向居民展示' if kind.shown_to_residents else '对居民隐藏'}设施类型 {kind.code} {kind.name}。", "success")
    return redirect(url_for("facilities_admin.kind_list"))


@bp.get("/imports")
def import_list() -> str:
    require_staff_role("admin")
    page = paginate(services.import_history_query(), request.args.get("page", 1, type=int))
    return render_template("facilities/import_list.html", page=page, kinds=services.list_kinds(),
                           formats=imports.FORMATS, coord_types=COORD_TYPES, coord_type_names=COORD_TYPE_NAMES)


@bp.post("/imports")
def import_upload() -> Response:
    require_staff_role("admin")
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise FormInvalid({"file": ["请选择要导入的文件"]}, "请选择要导入的文件。")
        options = load_form(ImportUploadForm(), request.form)
        record = imports.queue_upload(actor(), upload.filename, upload.stream, file_format=options["file_format"],
                                      kind_override=options["kind"], coord_type=options["coord_type"])
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("facilities_admin.import_list"))
    flash(f"已上传 {record.filename}，导入在后台进行。", "success")
    return redirect(url_for("facilities_admin.import_detail", import_id=record.id))


def _import_progress(record: FacilityImport) -> dict:
    return {"id": record.id, "status": record.status, "status_name": IMPORT_STATUS_NAMES[record.status],
            "rows_total": record.rows_total, "rows_read": record.rows_read, "rows_accepted": record.rows_accepted,
            "rows_inserted": record.rows_inserted, "rows_rejected": record.rows_rejected, "failure": record.failure,
            "done": record.status in {"finished", "failed"}}


@bp.get("/imports/<int:import_id>")
def import_detail(import_id: int) -> str:
    require_staff_role("admin")
    record = services.get_import(import_id)
    rejections = paginate(services.import_rejections_query(import_id), request.args.get("page", 1, type=int),
                          per_page=REJECTIONS_PER_PAGE)
    return render_template("facilities/import_detail.html", record=record, progress=_import_progress(record),
                           rejections=rejections, stored_rejections=imports.STORED_REJECTIONS,
                           coord_type_names=COORD_TYPE_NAMES)


@bp.get("/imports/<int:import_id>/progress")
def import_progress(import_id: int) -> Response:
    """What the import's page polls to move its progress bar (no page reload while the job runs)."""
    require_staff_role("admin")
    return jsonify(_import_progress(services.get_import(import_id)))


@bp.get("/imports/<int:import_id>/rejections.csv")
def import_rejections_csv(import_id: int) -> Response:
    require_staff_role("admin")
    record = services.get_import(import_id)
    query = services.import_rejections_query(import_id).execution_options(yield_per=1_000)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # a byte-order mark, so that spreadsheet programs read the Chinese as UTF-8
        writer.writerow(["行号", "来源编号", "列", "原因"])
        for item in db.session.scalars(query):
            writer.writerow([item.line, item.source_id, item.column, item.reason])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(rows()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename=facility-import-{record.id}-rejected.csv"
    return response
