"""The built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案): each step moves the report as a case system would."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from cases.adapters import ExternalUpdate
from cases.models import REWORK_ACTION, Department, DeskCase, DeskCaseStep
from cases.services.departments import HANDLER_ROLE, departments_of
from cases.services.limits import clock_step, queue_order
from cases.services.outbox import status_counts
from cases.services.proof import AfterPhotos, required_proof
from cases.services.updates import add_photos, apply_update, digest
from citizen import services as citizen_services
from core.db import db, get_or_not_found, get_row
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.services import SYSTEM_ACTOR, Actor, record_audit

DESK_STEP_NAMES = {"received": "待立案", "registered": "已立案", "dispatched": "已派遣", "returned": "申请退回",
                   "handled": "已处置", "verified": "已核查", "closed": "已结案"}
# The desk's duties (分工): who registers and dispatches, who handles (a department's handlers, their
# department's cases only), who verifies. Administrators may do everything; one person may hold several roles.
DISPATCHER, HANDLER, VERIFIER, ADMIN = "dispatcher", HANDLER_ROLE, "verifier", "admin"
DESK_ROLES = (DISPATCHER, HANDLER, VERIFIER)
# Roles that see every case on the desk; a handler alone sees only its departments'.
_SEES_EVERY_CASE = (DISPATCHER, VERIFIER, ADMIN)


@dataclasses.dataclass(frozen=True)
class DeskAction:
    name: str  # shown to staff
    moves: dict[str, str]  # from step -> to step
    external_status: str | None  # what the report is told; None: nothing (the desk's own business)
    roles: tuple[str, ...]  # who may take it (administrators always may)
    needs_note: bool = False
    # Only a handler of the case's department may take it.
    by_department: bool = False


DESK_ACTIONS = {
    "register": DeskAction("立案", {"received": "registered"}, "received", (DISPATCHER,)),
    "dispatch": DeskAction("派遣", {"registered": "dispatched"}, "in_progress", (DISPATCHER,)),
    "handle": DeskAction("处置", {"dispatched": "handled"}, "resolved", (HANDLER,), needs_note=True,
                         by_department=True),
    # 退单: the department says the case is not theirs, with a reason; the dispatcher rules on it.
    "return_request": DeskAction("申请退回", {"dispatched": "returned"}, None, (HANDLER,), needs_note=True,
                                 by_department=True),
    "return_accepted": DeskAction("同意退回", {"returned": "registered"}, None, (DISPATCHER,)),
    "return_refused": DeskAction("不同意退回", {"returned": "dispatched"}, None, (DISPATCHER,), needs_note=True),
    "verify": DeskAction("核查", {"handled": "verified"}, "received", (VERIFIER,)),
    # A failed check sends the case back to its department to be handled again (返工).
    "send_back": DeskAction("核查不通过", {"handled": "dispatched", "verified": "dispatched"}, "sent_back",
                            (VERIFIER, DISPATCHER), needs_note=True),
    "close": DeskAction("结案", {"verified": "closed"}, "closed", (DISPATCHER,)),
}
# What each step of a case's record is called: the staff actions, the case's arrival and a resident's reopening.
STEP_ACTION_NAMES = {"receive": "受理", REWORK_ACTION: "返工"} | {
    name: spec.name for name, spec in DESK_ACTIONS.items()}


@dataclasses.dataclass(frozen=True)
class DeskViewer:
    """Who looks at the desk: their staff id and roles, and so which cases they may see and act on."""

    staff_id: int | None
    roles: tuple[str, ...]

    def may(self, spec: DeskAction) -> bool:
        return ADMIN in self.roles or any(role in self.roles for role in spec.roles)

    def role_for(self, spec: DeskAction) -> str:
        """The role an action is taken in, as the case page shows it."""
        return next((role for role in spec.roles if role in self.roles), ADMIN)

    def departments(self) -> set[int] | None:
        """The departments whose cases they see; None for every case."""
        if any(role in self.roles for role in _SEES_EVERY_CASE):
            return None
        if HANDLER in self.roles:
            return departments_of(self.staff_id)
        raise Forbidden("您的角色无权访问此页面。")

    def check_may(self, spec: DeskAction, desk_case: DeskCase) -> None:
        """403 unless the action is one of the viewer's duties, on a case of its department where it must be."""
        if not self.may(spec):
            raise Forbidden(f"您的角色不能{spec.name}。", code="role_forbidden")
        if spec.by_department and not self.handles(desk_case):
            raise Forbidden(f"该案件不属于您所在的部门，不能{spec.name}。", code="not_your_department")

    def handles(self, desk_case: DeskCase) -> bool:
        return ADMIN in self.roles or (HANDLER in self.roles and desk_case.department_id is not None
                                       and desk_case.department_id in departments_of(self.staff_id))


def viewer_of(actor: Actor, roles: Iterable[str]) -> DeskViewer:
    return DeskViewer(actor.staff_id, tuple(roles))


def open_desk_case(report_id: int) -> DeskCase:
    """The desk's case for a report, created once (a repeated delivery finds the same case)."""
    desk_case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
    if desk_case is None:
        desk_case = DeskCase(report_id=report_id, step="received")
        received = DeskCaseStep(action="receive", step="received", actor_name="system",
                                note="市民反映已转入案件受理队列。", media_ids=[])
        desk_case.steps.append(received)
        clock_step(desk_case, received)
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
    with db.session.no_autoflush:  # one flush of the whole step: the case's version moves once
        desk_case.step = "dispatched"
        rework = DeskCaseStep(action=REWORK_ACTION, step=desk_case.step, actor_name="市民",
                              department_id=desk_case.department_id,
                              note=f"市民申请重新办理（返工）：{reason}"[:500], media_ids=[])
        desk_case.steps.append(rework)
        clock_step(desk_case, rework)  # the rework is a new 处置, with a new deadline
    db.session.flush()
    record_audit(SYSTEM_ACTOR, "desk_case.rework", "desk_case", desk_case.id, before=before,
                 after={"step": desk_case.step, "reason": reason})
    return desk_case


def desk_queue(viewer: DeskViewer, step: str | None, *, limit: int = 200, sort: str | None = None) -> list[DeskCase]:
    query = sa.select(DeskCase).where(*_seen_by(viewer))
    if step:
        query = query.where(DeskCase.step == step)
    return list(db.session.scalars(query.order_by(*queue_order(sort)).limit(limit)))


def reworked_cases(case_ids: Iterable[int]) -> set[int]:
    """Which of these cases a resident reopened (返工), in one query: a list's tags without loading every step."""
    return set(db.session.scalars(sa.select(DeskCaseStep.case_id).distinct()
                                  .where(DeskCaseStep.case_id.in_(set(case_ids)),
                                         DeskCaseStep.action == REWORK_ACTION)))


# The steps a case waits at: every step but 结案.
OPEN_STEP_NAMES = {step: name for step, name in DESK_STEP_NAMES.items() if step != "closed"}


def desk_counts(viewer: DeskViewer) -> dict[str, int]:
    """The viewer's open cases per step. Closed cases are not counted: they pile up by the million, and counting
    them read the whole history on every visit of the desk and the 工作台."""
    return status_counts(DeskCase.step, OPEN_STEP_NAMES, DeskCase.step.in_(OPEN_STEP_NAMES), *_seen_by(viewer))


def _seen_by(viewer: DeskViewer) -> tuple[sa.ColumnElement[bool], ...]:
    departments = viewer.departments()
    return () if departments is None else (DeskCase.department_id.in_(departments),)


def get_desk_case(case_id: int) -> DeskCase:
    return get_or_not_found(DeskCase, case_id, "案件不存在。")


def desk_case_for(viewer: DeskViewer, case_id: int) -> DeskCase:
    """The case, if the viewer may see it: a handler alone sees none of another department's (404, as if none)."""
    desk_case = get_desk_case(case_id)
    departments = viewer.departments()
    if departments is not None and desk_case.department_id not in departments:
        raise NotFound("案件不存在。")
    return desk_case


def available_actions(viewer: DeskViewer, desk_case: DeskCase) -> dict[str, DeskAction]:
    """The actions the viewer may take on the case at its step."""
    return {name: spec for name, spec in DESK_ACTIONS.items()
            if desk_case.step in spec.moves and viewer.may(spec)
            and (not spec.by_department or viewer.handles(desk_case))}


def pending_return(desk_case: DeskCase) -> DeskCaseStep | None:
    """The department's request to return the case, while the dispatcher has not ruled on it."""
    if desk_case.step != "returned":
        return None
    return next(step for step in reversed(desk_case.steps) if step.action == "return_request")


def departments_returned_from(desk_case: DeskCase) -> set[int]:
    """The departments whose returns of the case were accepted: not to be proposed for it again."""
    return {step.department_id for step in desk_case.steps
            if step.action == "return_accepted" and step.department_id is not None}


def _desk_step_note(action: str, department: str | None) -> str | None:
    """What the resident reads of a desk step when the officer's note is internal (None: the status's own text)."""
    return {"register": "城市管理监督指挥中心已立案。", "dispatch": f"已派遣至{department}处置。",
            "verify": "处置结果已核查通过。"}.get(action)


def _dispatched_department(department_id: int | None) -> Department:
    if department_id is None:
        raise ValidationFailed("请选择处置部门。", code="department_required")
    department = get_row(Department, department_id)
    if department is None or not department.is_active:
        raise ValidationFailed("所选处置部门不存在或已停用，请重新选择。", code="department_required")
    return department


def act_on_desk_case(actor: Actor, case_id: int, action: str, *, roles: Iterable[str], expected_version: int,
                     note: str = "", department_id: int | None = None, after_photos: AfterPhotos | None = None,
                     public_reply: bool = False) -> DeskCase:
    """One step of the case on the desk, taken by ``actor`` holding ``roles``; the report and the resident's
    timeline follow. Audited.

    Each action is its roles' alone (``DESK_ACTIONS``): 403 otherwise; a handler acts on its departments' cases
    only. The officer's ``note`` is internal unless it is a ``public_reply``: then the resident reads it on their
    timeline and the public in the Open311 feed (masked). 处置 needs ``after_photos`` taken at the site after the
    case was dispatched (``cases.services.proof``)."""
    desk_case = get_desk_case(case_id)
    spec = DESK_ACTIONS.get(action)
    if spec is None:
        raise ValidationFailed("未知的案件操作。", code="unknown_action")
    viewer = viewer_of(actor, roles)
    viewer.check_may(spec, desk_case)
    if desk_case.version != expected_version:
        raise Conflict("该案件已被其他人处理，请刷新后查看。", code="case_changed")
    if desk_case.step not in spec.moves:
        raise Conflict(f"案件当前为「{DESK_STEP_NAMES[desk_case.step]}」，不能{spec.name}。", code="illegal_step")
    note = note.strip()[:400]
    department = _dispatched_department(department_id) if action == "dispatch" else None
    if spec.needs_note and not note:
        raise ValidationFailed(f"{spec.name}需要填写说明。", code="note_required")
    proof = required_proof(desk_case, action, after_photos)
    before = {"step": desk_case.step, "department": desk_case.department}
    holding = desk_case.department_id
    # A step committed by someone else after the case was read shows at a flush: the last one is here.
    try:
        # The step is made whole before one flush: the case's version moves once a step.
        with db.session.no_autoflush:
            desk_case.step = spec.moves[desk_case.step]
            if department is not None:
                desk_case.department_id, desk_case.department = department.id, department.name
            elif action == "return_accepted":
                # Back to 已立案 for another department: the one that returned it no longer holds it.
                desk_case.department_id, desk_case.department = None, None
            step = DeskCaseStep(action=action, step=desk_case.step, actor_name=actor.name,
                                actor_role=viewer.role_for(spec), department_id=desk_case.department_id or holding,
                                note=note or None, media_ids=list(proof.media_ids), proof=proof.record)
            desk_case.steps.append(step)
            clock_step(desk_case, step)
        db.session.flush()
        # The report (and the resident's timeline) follows, as after an update from a case system; a return is
        # the desk's own business.
        if spec.external_status is not None:
            update = ExternalUpdate(update_id=f"desk-step-{step.id}", report_id=desk_case.report_id,
                                    status=spec.external_status, note=note or None, public=public_reply,
                                    step_note=_desk_step_note(action, desk_case.department))
            outcome = apply_update("desk", update, body_digest=digest(update.update_id.encode()),
                                   actor_name=f"案件台·{actor.name}")
            if proof.media_ids and outcome.event_id is not None:
                add_photos(citizen_services.get_report(desk_case.report_id), outcome.event_id, proof.media_ids)
        record_audit(actor, f"desk_case.{action}", "desk_case", desk_case.id, before=before,
                     after={"step": desk_case.step, "department": desk_case.department, "note": note or None,
                            "public_reply": public_reply and bool(note) and spec.external_status is not None})
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict("该案件已被其他人处理，请刷新后查看。", code="case_changed") from None
    return desk_case

