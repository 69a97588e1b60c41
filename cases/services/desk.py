"""The built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案): each step moves the report as a case system would."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from cases.adapters import ExternalUpdate
from cases.models import REWORK_ACTION, DeskCase, DeskCaseStep
from cases.services.outbox import status_counts
from cases.services.proof import AfterPhotos, required_proof
from cases.services.updates import add_photos, apply_update, digest
from citizen import services as citizen_services
from core.db import db, get_or_not_found
from core.errors import Conflict, ValidationFailed
from core.services import SYSTEM_ACTOR, Actor, record_audit

DESK_STEP_NAMES = {"received": "待立案", "registered": "已立案", "dispatched": "已派遣", "handled": "已处置",
                   "verified": "已核查", "closed": "已结案"}


@dataclasses.dataclass(frozen=True)
class DeskAction:
    name: str  # shown to staff
    moves: dict[str, str]  # from step -> to step
    external_status: str
    needs_note: bool = False


DESK_ACTIONS = {
    "register": DeskAction("立案", {"received": "registered"}, "received"),
    "dispatch": DeskAction("派遣", {"registered": "dispatched"}, "in_progress"),
    "handle": DeskAction("处置", {"dispatched": "handled"}, "resolved", needs_note=True),
    "verify": DeskAction("核查", {"handled": "verified"}, "received"),
    "close": DeskAction("结案", {"verified": "closed"}, "closed"),
    # 退单: the unit sends a case back for re-dispatch; a failed check sends it back to be handled again.
    "send_back": DeskAction("退回", {"dispatched": "registered", "handled": "dispatched", "verified": "dispatched"},
                            "sent_back", needs_note=True),
}


def open_desk_case(report_id: int) -> DeskCase:
    """The desk's case for a report, created once (a repeated delivery finds the same case)."""
    desk_case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
    if desk_case is None:
        desk_case = DeskCase(report_id=report_id, step="received")
        desk_case.steps.append(DeskCaseStep(action="receive", step="received", actor_name="system",
                                            note="市民反映已转入案件受理队列。", media_ids=[]))
        db.session.add(desk_case)
        db.session.flush()
    return desk_case


def rework_desk_case(report_id: int, reason: str) -> DeskCase | None:
    """A resident reopened the report of a desk case: back to 处置 (已派遣, to the same department) for rework, the
    resident's reason on the case for the officers. Audited; the report itself is moved by the reopening."""
    desk_case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
    if desk_case is None:
        return None
    before = {"step": desk_case.step}
    desk_case.step = "dispatched"
    desk_case.steps.append(DeskCaseStep(action=REWORK_ACTION, step=desk_case.step, actor_name="市民",
                                        note=f"市民申请重新办理（返工）：{reason}"[:500], media_ids=[]))
    db.session.flush()
    record_audit(SYSTEM_ACTOR, "desk_case.rework", "desk_case", desk_case.id, before=before,
                 after={"step": desk_case.step, "reason": reason})
    return desk_case


def desk_queue(step: str | None, *, limit: int = 200) -> list[DeskCase]:
    query = sa.select(DeskCase)
    if step:
        query = query.where(DeskCase.step == step)
    return list(db.session.scalars(query.order_by(DeskCase.updated_at.desc(), DeskCase.id.desc()).limit(limit)))


def desk_counts() -> dict[str, int]:
    return status_counts(DeskCase.step, DESK_STEP_NAMES)


def get_desk_case(case_id: int) -> DeskCase:
    return get_or_not_found(DeskCase, case_id, "案件不存在。")


def _desk_step_note(action: str, department: str | None) -> str | None:
    """What the resident reads of a desk step when the officer's note is internal (None: the status's own text)."""
    return {"register": "城市管理监督指挥中心已立案。", "dispatch": f"已派遣至{department}处置。",
            "verify": "处置结果已核查通过。"}.get(action)


def act_on_desk_case(actor: Actor, case_id: int, action: str, *, expected_version: int, note: str = "",
                     department: str | None = None, after_photos: AfterPhotos | None = None,
                     public_reply: bool = False) -> DeskCase:
    """One step of the case on the desk; the report and the resident's timeline follow. Audited.

    The officer's ``note`` is internal unless it is a ``public_reply``: then the resident reads it on their
    timeline and the public in the Open311 feed (masked). 处置 needs ``after_photos`` taken at the site after the
    case was dispatched (``cases.services.proof``)."""
    desk_case = get_desk_case(case_id)
    spec = DESK_ACTIONS.get(action)
    if spec is None:
        raise ValidationFailed("未知的案件操作。", code="unknown_action")
    if desk_case.version != expected_version:
        raise Conflict("该案件已被其他人处理，请刷新后查看。", code="case_changed")
    if desk_case.step not in spec.moves:
        raise Conflict(f"案件当前为「{DESK_STEP_NAMES[desk_case.step]}」，不能{spec.name}。", code="illegal_step")
    note, department = note.strip()[:400], (department or "").strip()[:64] or None
    if action == "dispatch" and not department:
        raise ValidationFailed("请填写处置部门。", code="department_required")
    if spec.needs_note and not note:
        raise ValidationFailed(f"{spec.name}需要填写说明。", code="note_required")
    proof = required_proof(desk_case, action, after_photos)
    before = {"step": desk_case.step, "department": desk_case.department}
    # A step committed by someone else after the case was read shows at a flush: the last one is here.
    try:
        desk_case.step = spec.moves[desk_case.step]
        if department:
            desk_case.department = department
        step = DeskCaseStep(action=action, step=desk_case.step, actor_name=actor.name, note=note or None,
                            media_ids=list(proof.media_ids), proof=proof.record)
        desk_case.steps.append(step)
        db.session.flush()
        update = ExternalUpdate(update_id=f"desk-step-{step.id}", report_id=desk_case.report_id,
                                status=spec.external_status, note=note or None, public=public_reply,
                                step_note=_desk_step_note(action, desk_case.department))
        outcome = apply_update("desk", update, body_digest=digest(update.update_id.encode()),
                               actor_name=f"案件台·{actor.name}")
        if proof.media_ids and outcome.event_id is not None:
            add_photos(citizen_services.get_report(desk_case.report_id), outcome.event_id, proof.media_ids)
        record_audit(actor, f"desk_case.{action}", "desk_case", desk_case.id, before=before,
                     after={"step": desk_case.step, "department": desk_case.department, "note": note or None,
                            "public_reply": public_reply and bool(note)})
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict("该案件已被其他人处理，请刷新后查看。", code="case_changed") from None
    return desk_case


