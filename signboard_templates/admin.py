"""Admin pages for signboard reviewers: the queue, one application with its checks, decisions, verification."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.admin import NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.config import current_settings
from core.db import db
from core.errors import AppError, NotFound
from core.forms import load_form
from core.pagination import paginate
from core.ratelimit import rate_limit
from signboard_templates import services
from signboard_templates.certificate import certificate_of, certificate_response
from signboard_templates.forms import DecisionForm
from signboard_templates.models import STATUSES
from signboard_templates.rules import BUILDING_KINDS, MOUNT_POSITIONS
from signboard_templates.schemas import certificate_url, preview_url
from signboard_templates.settings import SignboardSettings

bp = admin_blueprint("signboard_admin", __name__, url_prefix="/admin/signboards")
REVIEWER = "signboard_reviewer"
AUDIT_ACTIONS = {"signboard.approve": "批准招牌申请", "signboard.request_changes": "要求修改招牌申请",
                 "signboard.reject": "不予通过招牌申请"}
AUDIT_OBJECTS = {"signboard_application": "招牌申请"}
AUDIT_FIELDS = {"reviewer_comment": "审核意见", "certificate_number": "核准证明编号", "revision": "修改次数",
                "shop_name": "店名"}
NAV = (
    NavItem("signboard_admin.queue", "招牌审核", (REVIEWER,)),
    NavItem("signboard_admin.verify", "核准证明查验", (REVIEWER,)),
)
DECISION_NAMES = {"approve": "批准", "request_changes": "要求修改", "reject": "不予通过"}
ACTION_NAMES = {"created": "提交申请", "resubmitted": "修改后重新提交", **DECISION_NAMES}


@bp.app_context_processor
def _names() -> dict:
    return {"signboard_statuses": STATUSES, "signboard_actions": ACTION_NAMES}


@bp.get("/")
def queue() -> str:
    require_staff_role(REVIEWER)
    status = request.args.get("status", "submitted")
    page = paginate(services.review_queue(status if status in STATUSES else None),
                    request.args.get("page", 1, type=int))
    return render_template("signboard_templates/queue.html", page=page, status=status,
                           categories={c.code: c.name for c in services.catalogue().categories})


def _detail(application_id: int, error: str | None = None, status: int = 200) -> tuple[str, int]:
    application = services.get_application(application_id)
    return render_template(
        "signboard_templates/detail.html", application=application, error=error,
        template=services.get_template(application.template_id),
        category=services.get_category(application.category), photo=services.facade_photo_urls(application),
        preview=preview_url(application.template_id, application.shop_name, application.sign_width_m,
                            application.sign_height_m),
        certificate=certificate_url(application.certificate_number) if application.certificate_number else None,
        decisions=DECISION_NAMES, mount_positions=MOUNT_POSITIONS, building_kinds=BUILDING_KINDS), status


@bp.get("/<int:application_id>")
def detail(application_id: int) -> tuple[str, int]:
    require_staff_role(REVIEWER)
    return _detail(application_id)


@bp.post("/<int:application_id>/decision")
def decide(application_id: int) -> Response | tuple[str, int]:
    require_staff_role(REVIEWER)
    try:
        form = load_form(DecisionForm(), request.form)
        settings = current_settings(SignboardSettings)
        application = services.decide(actor(), application_id, form["decision"], form["comment"],
                                      issuer=settings.signboard_certificate_issuer,
                                      valid_days=settings.signboard_certificate_valid_days)
    except AppError as exc:
        db.session.rollback()
        return _detail(application_id, error=exc.message, status=exc.status)
    message = f"已{DECISION_NAMES[form['decision']]}申请 {application.id}。"
    if application.certificate_number:
        message += f"核准证明编号：{application.certificate_number}"
    flash(message, "success")
    return redirect(url_for("signboard_admin.detail", application_id=application.id))


@bp.get("/<int:application_id>/certificate.pdf")
def certificate_pdf(application_id: int) -> Response:
    """The certificate printed for the reviewer: the same A4 document the merchant gets."""
    staff = require_staff_role(REVIEWER)
    application = services.get_application(application_id)
    certificate_of(application)  # 409 before approval
    rate_limit("pdf", str(staff.id))
    return certificate_response(application)


@bp.get("/certificates")
def verify() -> tuple[str, int]:
    require_staff_role(REVIEWER)
    number = request.args.get("number", "").strip()
    application, status = None, 200
    if number:
        try:
            application = services.find_certificate(number)
        except NotFound:
            status = 404
    return render_template("signboard_templates/verify.html", number=number, application=application), status
