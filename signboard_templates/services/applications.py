"""Pre-approval applications: the merchant's proposal checked against the city's rules, the reviewer's decision
and the certificate it issues. The facade photo is the media package's, reached through one seam here."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa

from core.db import db, get_or_not_found, lock_for_transaction, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.services import Actor, record_audit
from media import services as media_services
from signboard_templates import credit_code
from signboard_templates.models import STATUSES, SignboardApplication, SignboardApplicationEvent
from signboard_templates.rules import CheckResult, Proposal, RuleSet, run_checks
from signboard_templates.services.certificates import SHANGHAI, certificate_terms
from signboard_templates.services.templates import catalogue, clean_name, get_template, shop_name_problem

ACTIVE_STATUSES = ("submitted", "changes_requested", "approved")
EDITABLE_STATUSES = ("draft", "changes_requested")
DECISIONS = {"approve": "approved", "request_changes": "changes_requested", "reject": "rejected"}
CERTIFICATE_PREFIX = "QDZP"
APPLICATION_FIELDS = (
    "shop_name", "licence_name", "credit_code", "category", "address", "latitude", "longitude", "facade_width_m",
    "facade_height_m", "facade_photo_media_id", "floor", "building_storeys", "pedestrian_street",
    "single_owner_building", "building_kind", "template_id", "sign_width_m", "sign_height_m", "sign_thickness_m",
    "protrusion_m", "mount_height_m", "mount_position")


# --- the media package, reached through this one seam ------------------------------------

def _attachment_name(application_id: int) -> str:
    return f"signboard_application:{application_id}"


def _check_facade_photo(resident_id: int, media_id: int, application_id: int | None = None) -> None:
    owned = media_services.get_owned_media(resident_id, [media_id])
    if not any(item.id == media_id and item.kind == "photo" for item in owned):
        message = "门面照片不存在，或不是您上传的照片。"
        raise ValidationFailed(message, code="invalid_facade_photo",
                               details={"fields": {"facade_photo_media_id": [message]}})
    attaching_to = _attachment_name(application_id) if application_id is not None else None
    if media_services.media_in_use(owned, attaching_to=attaching_to):
        message = "该照片已用于其他反映或申请，请重新拍摄上传。"
        raise ValidationFailed(message, code="media_in_use", details={"fields": {"facade_photo_media_id": [message]}})


def facade_photo_urls(application: SignboardApplication) -> dict[str, str]:
    """Links to the facade photo; none once it is gone (the applicant asked to be forgotten)."""
    try:
        return media_services.media_urls(application.facade_photo_media_id)
    except NotFound:
        return {}


# --- applications ------------------------------------------------------------------------

def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    values = {field: data[field] for field in APPLICATION_FIELDS if field in data}
    # Both names the same way: the licence-name rule compares their characters.
    values["shop_name"] = clean_name(values["shop_name"])
    values["licence_name"] = clean_name(values["licence_name"])
    values["credit_code"] = credit_code.normalise(values["credit_code"])
    values["address"] = " ".join(values["address"].split())
    problems: dict[str, list[str]] = {}
    for field, problem in (("shop_name", shop_name_problem(values["shop_name"])),
                           ("credit_code", credit_code.problem(values["credit_code"]))):
        if problem:
            problems[field] = [problem]
    template = catalogue().template(values["template_id"])
    if template is None:
        problems["template_id"] = ["招牌模板不存在。"]
    elif template.category != values["category"]:
        problems["template_id"] = ["所选模板不属于该业态分类。"]
    if catalogue().category(values["category"]) is None:
        problems["category"] = ["业态分类不存在。"]
    if problems:
        first = next(iter(problems.values()))[0]
        raise ValidationFailed(first, details={"fields": problems})
    return values


def _other_active_signs(values: dict[str, Any], exclude_id: int | None) -> int:
    query = sa.select(sa.func.count(SignboardApplication.id)).where(
        SignboardApplication.credit_code == values["credit_code"],
        SignboardApplication.address == values["address"],
        SignboardApplication.status.in_(ACTIVE_STATUSES))
    if exclude_id is not None:
        query = query.where(SignboardApplication.id != exclude_id)
    return db.session.scalar(query) or 0


def check_proposal(rule_set: RuleSet, data: dict[str, Any], exclude_id: int | None = None) -> list[CheckResult]:
    """The automatic checks for a proposed signboard, without saving anything."""
    values = _normalised(data)
    return _run(rule_set, values, exclude_id)


def _run(rule_set: RuleSet, values: dict[str, Any], exclude_id: int | None) -> list[CheckResult]:
    proposal = Proposal(
        template=get_template(values["template_id"]), sign_text=values["shop_name"],
        licence_name=values["licence_name"], facade_width_m=values["facade_width_m"],
        facade_height_m=values["facade_height_m"], sign_width_m=values["sign_width_m"],
        sign_height_m=values["sign_height_m"], sign_thickness_m=values["sign_thickness_m"],
        protrusion_m=values["protrusion_m"], mount_height_m=values["mount_height_m"],
        mount_position=values["mount_position"], floor=values["floor"], building_storeys=values["building_storeys"],
        pedestrian_street=values["pedestrian_street"], single_owner_building=values["single_owner_building"],
        building_kind=values["building_kind"], other_active_signs=_other_active_signs(values, exclude_id))
    return run_checks(rule_set, proposal)


def _apply(application: SignboardApplication, values: dict[str, Any], rule_set: RuleSet,
           action: str) -> SignboardApplication:
    """Stores the proposal and its checks; it reaches the reviewers only when no blocking rule fails."""
    for field, value in values.items():
        setattr(application, field, value)
    # One sign per shop counts the shop's other applications: another one checked at once waits, then is counted.
    lock_for_transaction(f"signboard_applications:{values['credit_code']}:{values['address']}")
    results = _run(rule_set, values, application.id)
    application.checks = [result.as_dict() for result in results]
    application.rules_version = f"{rule_set.city} {rule_set.version}"
    before = application.status
    blocked = any(not r.passed and r.severity == "blocking" for r in results)
    application.status = "draft" if blocked else "submitted"
    if not blocked:
        application.submitted_at = utcnow()
    db.session.flush()
    _event(application, "resident", "商户", action, before, None)
    media_services.attach_media([application.facade_photo_media_id], attached_to=_attachment_name(application.id))
    return application


def _event(application: SignboardApplication, actor_kind: str, actor_name: str, action: str,
           before: str | None, comment: str | None) -> None:
    application.events.append(SignboardApplicationEvent(
        actor_kind=actor_kind, actor_name=actor_name, action=action, from_status=before,
        to_status=application.status, comment=comment))


def create_application(resident_id: int, data: dict[str, Any], rule_set: RuleSet) -> SignboardApplication:
    values = _normalised(data)
    _check_facade_photo(resident_id, values["facade_photo_media_id"])
    application = SignboardApplication(resident_id=resident_id, status="draft", revision=1, checks=[],
                                       rules_version="", **values)
    db.session.add(application)
    db.session.flush()
    return _apply(application, values, rule_set, "created")


def update_application(resident_id: int, application_id: int, data: dict[str, Any],
                       rule_set: RuleSet) -> SignboardApplication:
    """The merchant's changes after the checks or the reviewer asked for them; checked again at once."""
    application = get_own_application(resident_id, application_id, for_update=True)
    if application.status not in EDITABLE_STATUSES:
        raise Conflict(f"申请当前状态为“{application.status_label}”，不能修改。", code="not_editable")
    values = _normalised(data)
    _check_facade_photo(resident_id, values["facade_photo_media_id"], application.id)
    application.revision += 1
    return _apply(application, values, rule_set, "resubmitted")


def my_applications(resident_id: int) -> list[SignboardApplication]:
    return list(db.session.scalars(sa.select(SignboardApplication)
                                   .where(SignboardApplication.resident_id == resident_id)
                                   .order_by(SignboardApplication.id.desc())))


def get_own_application(resident_id: int, application_id: int, *, for_update: bool = False) -> SignboardApplication:
    application = db.session.get(SignboardApplication, application_id, with_for_update=for_update)
    if application is None or application.resident_id != resident_id:
        raise NotFound("申请不存在。", code="application_not_found")
    return application


def get_application(application_id: int, *, for_update: bool = False) -> SignboardApplication:
    return get_or_not_found(SignboardApplication, application_id, "申请不存在。", with_for_update=for_update,
                            code="application_not_found")


def review_queue(status: str | None) -> sa.Select[tuple[SignboardApplication]]:
    query = sa.select(SignboardApplication)
    if status:
        query = query.where(SignboardApplication.status == status)
    order = SignboardApplication.submitted_at.asc() if status == "submitted" else SignboardApplication.id.desc()
    return query.order_by(order, SignboardApplication.id)


def applications_by_status(*, since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, int]:
    """How many applications are in each state, of those created in [since, until) (read-only, for figures)."""
    query = sa.select(SignboardApplication.status, sa.func.count()).group_by(SignboardApplication.status)
    if since is not None:
        query = query.where(SignboardApplication.created_at >= since)
    if until is not None:
        query = query.where(SignboardApplication.created_at < until)
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in db.session.execute(query)})
    return counts


def _approved_design(application: SignboardApplication) -> dict[str, Any]:
    template = get_template(application.template_id)
    return {"template_id": template.id, "template_name": template.name, "layout": template.layout,
            "material": template.material, "lighting": template.lighting, "typeface_weight": template.typeface_weight,
            "colours": {"background": template.background, "text": template.text_colour, "accent": template.accent},
            "shop_name": application.shop_name, "width_m": application.sign_width_m,
            "height_m": application.sign_height_m, "thickness_m": application.sign_thickness_m,
            "catalogue_version": catalogue().version}


def decide(actor: Actor, application_id: int, decision: str, comment: str, *, issuer: str,
           valid_days: int) -> SignboardApplication:
    """A reviewer approves, asks for changes or rejects a submitted application; approval issues the certificate,
    by ``issuer`` and valid for ``valid_days`` days (the settings, frozen into the approved design)."""
    if decision not in DECISIONS:
        raise ValidationFailed("审核结论无效。", details={"fields": {"decision": [decision]}})
    comment = comment.strip()
    if decision != "approve" and not comment:
        raise ValidationFailed("要求修改或不予通过时，请填写审核意见。", code="comment_required",
                               details={"fields": {"comment": ["required"]}})
    application = get_application(application_id, for_update=True)
    if application.status != "submitted":
        raise Conflict(f"申请当前状态为“{application.status_label}”，不能审核。", code="not_reviewable")
    before = application.audit_view()
    previous = application.status
    application.status = DECISIONS[decision]
    application.reviewer_id = actor.staff_id
    application.reviewer_comment = comment or None
    application.decided_at = utcnow()
    if decision == "approve":
        application.approved_design = {**_approved_design(application),
                                       **certificate_terms(application.decided_at, issuer, valid_days)}
        # The year of approval as the certificate shows its date: Beijing time.
        year = application.decided_at.astimezone(SHANGHAI).year
        application.certificate_number = (f"{CERTIFICATE_PREFIX}{year}{application.id:06d}"
                                          + "".join(secrets.choice(credit_code.ALPHABET[10:]) for _ in range(4)))
    _event(application, "staff", actor.name, decision, previous, comment or None)
    record_audit(actor, f"signboard.{decision}", "signboard_application", application.id, before=before,
                 after=application.audit_view())
    return application


def find_certificate(number: str) -> SignboardApplication:
    """The approved application behind a certificate number, for anyone who holds the number."""
    number = "".join(number.split()).upper()
    application = db.session.scalar(sa.select(SignboardApplication).where(
        SignboardApplication.certificate_number == number,
        SignboardApplication.status == "approved")) if number else None
    if application is None:
        raise NotFound("未找到该编号的招牌核准证明。", code="certificate_not_found")
    return application
