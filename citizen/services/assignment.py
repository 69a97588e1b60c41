"""Who works which report of the moderation queue: a moderator claims a report, an administrator assigns one to a
moderator (or takes it back), and the queue shows who holds each."""

from __future__ import annotations

import sqlalchemy as sa

from citizen.models import ReportAssignment
from citizen.services.reading import lock_report
from core.db import db, utcnow
from core.errors import Conflict, ValidationFailed
from core.models import StaffAccount
from core.services import Actor, record_audit, staff_with_role

MODERATOR = "moderator"


def claim_report(actor: Actor, report_id: int) -> ReportAssignment:
    """The actor takes the report; one another moderator holds is theirs until they or an administrator let go."""
    report = lock_report(report_id)
    held = report.assignment
    if held is not None and held.staff_id != actor.staff_id:
        raise Conflict(f"该反映已由 {held.staff.display_name} 认领。", code="report_held",
                       details={"holder": held.staff.username})
    return _hold(actor, report_id, actor.staff_id, "report.claim")


def assign_report(actor: Actor, report_id: int, staff_id: int | None) -> ReportAssignment | None:
    """An administrator gives the report to a moderator, or, with None, to nobody."""
    if staff_id is None:
        release_report(actor, report_id)
        return None
    if staff_id not in {staff.id for staff in moderators()}:
        raise ValidationFailed("只能分派给在职的审核员。", code="not_a_moderator", details={"staff_id": staff_id})
    return _hold(actor, report_id, staff_id, "report.assign")


def release_report(actor: Actor, report_id: int) -> None:
    report = lock_report(report_id)
    if report.assignment is None:
        return
    record_audit(actor, "report.release", "report", report_id,
                 before={"holder": report.assignment.staff.username}, after={"holder": None})
    report.assignment = None
    db.session.flush()


def _hold(actor: Actor, report_id: int, staff_id: int | None, action: str) -> ReportAssignment:
    # Locked (its version left as it is): two moderators claiming at once take turns, the second finding it held.
    report = lock_report(report_id)
    before = report.assignment.staff.username if report.assignment else None
    if report.assignment is None:
        report.assignment = ReportAssignment(report_id=report_id, staff_id=staff_id, assigned_by=actor.name)
    else:
        report.assignment.staff_id, report.assignment.assigned_by = staff_id, actor.name
        report.assignment.assigned_at = utcnow()
    db.session.flush()
    db.session.refresh(report.assignment)
    record_audit(actor, action, "report", report_id, before={"holder": before},
                 after={"holder": report.assignment.staff.username})
    return report.assignment


def assignments_of(report_ids: list[int]) -> dict[int, ReportAssignment]:
    """Who holds each of these reports (the queue's page), by report id; reports nobody holds are absent."""
    if not report_ids:
        return {}
    rows = db.session.scalars(sa.select(ReportAssignment).where(ReportAssignment.report_id.in_(report_ids)))
    return {row.report_id: row for row in rows}


def moderators() -> list[StaffAccount]:
    """The active staff who may moderate (administrators included), whom a report may be assigned to."""
    return staff_with_role(MODERATOR)
