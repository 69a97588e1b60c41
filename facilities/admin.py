"""Admin pages: search, edit and disable facilities; kinds shown to residents; import history."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.admin import NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.db import db
from core.errors import AppError
from core.forms import load_form
from core.pagination import paginate
from facilities import services
from facilities.forms import FacilityEditForm, KindShownForm
from facilities.models import FACILITY_STATUSES, Facility

bp = admin_blueprint("facilities_admin", __name__, url_prefix="/admin/facilities")
AUDIT_ACTIONS = {"facility.update": "修改设施", "facility.import": "导入设施", "facility_kind.update": "修改设施类型"}
AUDIT_OBJECTS = {"facility": "设施", "facility_kind": "设施类型", "facility_import": "设施导入"}
AUDIT_FIELDS = {"shown_to_residents": "向市民显示", "file": "文件", "accepted": "导入", "rejected": "拒绝",
                "kind_code": "设施类型", "address": "地址", "district": "区", "lat": "纬度", "lng": "经度",
                "opening_hours": "开放时间", "attributes": "属性"}
NAV = (
    NavItem("facilities_admin.facility_list", "设施管理", ("admin",)),
    NavItem("facilities_admin.kind_list", "设施类型", ("admin",)),
    NavItem("facilities_admin.import_list", "设施导入记录", ("admin",)),
)
STATUS_NAMES = {"in_service": "正常使用", "under_repair": "维修中", "removed": "已停用"}
GENDER_NAMES = {"male": "男厕", "female": "女厕", "family": "第三卫生间", "unisex": "无性别厕位"}
ATTRIBUTE_NAMES = {"free": "免费", "accessible": "无障碍设施", "baby_changing": "婴儿护理台"}


@bp.app_context_processor
def _names() -> dict:
    return {"facility_status_names": STATUS_NAMES}


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
    return render_template("facilities/import_list.html", page=page)
