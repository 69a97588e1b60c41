"""Moderation: accepting, rejecting or merging a report, asking for more, the queue with its counts, the
rejection templates, and revealing a masked field."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from citizen.facts import ACCEPTED, DUPLICATE, PENDING_REVIEW, REJECTED, STATUS_NAMES, WITHDRAWN, get_report
from citizen.models import (Category, RejectionTemplate, Report, ReportAssignment, ReportEvent, ReportFlag,
                            ReportStatusCount)
from citizen.services.checks import INFO_REQUESTED, INFO_SUPPLIED, set_flags
from citizen.services.followers import follow_merged
from citizen.services.lifecycle import transition, written_unless_changed
from citizen.services.reading import lock_report
from core.db import MAX_DATABASE_ID, db, get_row, utcnow
from core.errors import AppError, Conflict, NotFound, ValidationFailed
from core.events import REPORT_ACCEPTED, emit
from core.privacy import mask_personal_data
from core.services import Actor, change_audited, record_audit, reveal_sensitive


def _moderate(actor: Actor, report_id: int, expected_version: int, to_status: str, action: str,
              note: str | None = None, **changes: Any) -> Report:
    report = get_report(report_id)
    before = {"status": report.status}
    with written_unless_changed():
        transition(report, to_status, actor_kind="staff", actor_name=actor.name, note=note,
                   expected_version=expected_version)
        for field, value in changes.items():
            setattr(report, field, value)
        report.reviewed_by, report.reviewed_at = actor.name, utcnow()
        record_audit(actor, action, "report", report.id, before=before,
                     after={"status": to_status, **{k: v for k, v in changes.items()}})
    return report


def accept_report(actor: Actor, report_id: int, *, expected_version: int) -> Report:
    report = _moderate(actor, report_id, expected_version, ACCEPTED, "report.accept")
    # Its handlers (the cases package's outbox) write in this transaction: committed with the acceptance or not at all.
    emit(REPORT_ACCEPTED, report_id=report.id)
    return report


def reject_report(actor: Actor, report_id: int, *, expected_version: int, reason: str,
                  template_id: int | None = None) -> Report:
    """Reject with ``reason``, or when it is blank with the text of the rejection template ``template_id``."""
    reason = rejection_reason(reason, template_id)
    return _moderate(actor, report_id, expected_version, REJECTED, "report.reject",
                     note=f"很抱歉，您的反映未被受理：{reason}", reject_reason=reason[:500])


def rejection_reason(reason: str, template_id: int | None) -> str:
    """The reason a moderator gave: the text typed, or when it is blank the chosen template's."""
    reason = reason.strip()
    if not reason and template_id is not None:
        template = get_row(RejectionTemplate, template_id)
        if template is None:
            raise ValidationFailed("所选驳回理由不存在，请重新选择。", code="unknown_template",
                                   details={"template_id": template_id})
        reason = template.text
    if not reason:
        raise ValidationFailed("请填写或选择驳回理由。", code="reason_required")
    return reason


@dataclasses.dataclass
class BulkOutcome:
    """What a bulk action did: the reports it changed, and why each of the others was left as it was."""

    done: list[int] = dataclasses.field(default_factory=list)
    refused: dict[int, str] = dataclasses.field(default_factory=dict)


def moderate_selection(actor: Actor, selection: Mapping[int, int], *, accept: bool, reason: str = "",
                       template_id: int | None = None) -> BulkOutcome:
    """Accept, or reject with one reason, each selected report (its id → the version the moderator saw). Each
    report is all or nothing on its own, audited as one moderated alone is: one changed meanwhile or no longer in
    review stays as it was and is named with why, and the others go on."""
    if not accept:
        reason = rejection_reason(reason, template_id)
    outcome = BulkOutcome()
    for report_id, version in selection.items():
        try:
            with db.session.begin_nested():
                # Locked first, so that a concurrent change waits or is seen here, never found at the flush.
                lock_report(report_id)
                if accept:
                    accept_report(actor, report_id, expected_version=version)
                else:
                    reject_report(actor, report_id, expected_version=version, reason=reason)
        except AppError as refused:
            outcome.refused[report_id] = refused.message
        else:
            outcome.done.append(report_id)
    return outcome


def mark_duplicate(actor: Actor, report_id: int, *, expected_version: int, duplicate_of_id: int) -> Report:
    original = get_row(Report, duplicate_of_id)
    if original is None or duplicate_of_id == report_id:
        raise ValidationFailed("请选择另一条有效的反映作为原始反映。", code="invalid_duplicate_of")
    if original.status in {REJECTED, WITHDRAWN, DUPLICATE}:
        raise ValidationFailed("原始反映已被驳回、撤回或本身是重复反映。", code="invalid_duplicate_of")
    report = _moderate(actor, report_id, expected_version, DUPLICATE, "report.mark_duplicate",
                       duplicate_of_id=duplicate_of_id)
    # Its reporter hears how the original goes on: they follow it (its timeline, its messages, a rating).
    follow_merged(report, original)
    return report


def request_more_information(actor: Actor, report_id: int, *, expected_version: int, message: str) -> Report:
    """Ask the resident for more; the report stays in review and the request shows on its timeline."""
    report = get_report(report_id)
    if report.version != expected_version:
        raise Conflict("该反映已被其他人处理，请刷新后查看最新状态。", code="report_changed")
    if report.status != PENDING_REVIEW or not message.strip():
        raise Conflict("只能对待审核的反映补充询问，且需填写说明。", code="illegal_transition")
    with written_unless_changed():
        report.events.append(ReportEvent(from_status=PENDING_REVIEW, to_status=PENDING_REVIEW, actor_kind="staff",
                                         actor_name=actor.name, note=f"需要您补充信息：{message.strip()[:400]}"))
        set_flags(report, (set(report.flags) - {INFO_SUPPLIED}) | {INFO_REQUESTED})
        record_audit(actor, "report.request_info", "report", report.id, after={"message": message.strip()})
    return report


# A report's sensitive fields, shown masked in the admin, and the role that may see each in the clear: the rating
# comment is read by those who moderate; the submitter's address is for an administrator handling abuse (the
# moderators' burst signal compares addresses without showing them).
REVEALABLE_REPORT_FIELDS = {"rating_comment": "moderator", "submitted_ip": "admin"}


def reveal_report_field(actor: Actor, report_id: int, field: str) -> str | None:
    """The clear value of one of REVEALABLE_REPORT_FIELDS, audited. The caller checks the role and commits."""
    report = get_report(report_id)
    value = getattr(report, field)
    return None if value is None else reveal_sensitive(actor, "report", report_id, field, value)


# --- the moderation queue ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QueueFilter:
    status: str | None = PENDING_REVIEW
    # A key of the category tree: a category id ("S0102"), a class ("S01") or a kind ("S").
    category_id: str | None = None
    district: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    flag: str | None = None
    # A report number, or words of the description or the address.
    search: str | None = None
    # The staff account holding the reports ("我的").
    holder_id: int | None = None

    @property
    def narrows_counts(self) -> bool:
        """Whether a filter other than the status applies (the counts are per status)."""
        return any((self.category_id, self.district, self.since, self.until, self.flag, self.search, self.holder_id))

    @property
    def searches_personal_data(self) -> bool:
        """A search for a phone number (or an identity card number, a licence plate) finds nothing: the queue is
        never a way to look a person up."""
        return bool(self.search) and mask_personal_data(self.search or "") != self.search


def _search_condition(filters: QueueFilter) -> sa.ColumnElement[bool]:
    """The report numbered so ("#123" that one alone, "123" it or the words), or whose description or address
    holds the words. The description is searched in its public form, where phone numbers are masked."""
    text = (filters.search or "").strip()
    number = text.removeprefix("#")
    numbered = (Report.id == int(number) if number.isascii() and number.isdigit()
                and 0 < int(number) <= MAX_DATABASE_ID else sa.false())
    if filters.searches_personal_data:
        return sa.false()
    if text.startswith("#"):
        return numbered
    return sa.or_(numbered, Report.public_description.icontains(text, autoescape=True),
                  Report.address.icontains(text, autoescape=True))


def _filtered(query: sa.Select[Any], filters: QueueFilter, *, with_status: bool = True) -> sa.Select[Any]:
    if with_status and filters.status:
        query = query.where(Report.status == filters.status)
    if filters.category_id:
        query = query.where(Report.category_id.startswith(filters.category_id, autoescape=True))
    if filters.district:
        query = query.where(Report.district == filters.district)
    if filters.since:
        query = query.where(Report.created_at >= filters.since)
    if filters.until:
        query = query.where(Report.created_at < filters.until)
    if filters.flag:
        query = query.where(Report.id.in_(sa.select(ReportFlag.report_id).where(ReportFlag.flag == filters.flag)))
    if filters.search:
        query = query.where(_search_condition(filters))
    if filters.holder_id:
        query = query.where(Report.id.in_(sa.select(ReportAssignment.report_id)
                                          .where(ReportAssignment.staff_id == filters.holder_id)))
    return query


def moderation_queue(filters: QueueFilter, *, after: tuple[dt.datetime, int] | None, limit: int = 50,
                     ) -> list[Report]:
    """The reports of urgent categories (急要件) first, then the others; each part oldest first, keyset-paginated on
    (created_at, id) so that page 1,000 costs what page 1 does. The cursor's report tells which part it is in."""
    urgent = list(db.session.scalars(sa.select(Category.id).where(Category.is_urgent.is_(True))))

    def part(in_urgent: bool, after: tuple[dt.datetime, int] | None, limit: int) -> list[Report]:
        query = _filtered(sa.select(Report), filters).where(
            Report.category_id.in_(urgent) if in_urgent else Report.category_id.not_in(urgent))
        if after is not None:
            query = query.where(sa.tuple_(Report.created_at, Report.id) > sa.tuple_(*after))
        return list(db.session.scalars(query.order_by(Report.created_at, Report.id).limit(limit)))

    after_urgent = after is None or db.session.scalar(
        sa.select(Report.category_id).where(Report.id == after[1])) in urgent
    if not urgent or not after_urgent:
        return part(False, after, limit)
    reports = part(True, after, limit)
    return reports + part(False, None, limit - len(reports)) if len(reports) < limit else reports


def queue_export_batches(filters: QueueFilter, *, batch: int = 500) -> Iterator[list[Report]]:
    """Every report the filter finds, in the queue's order, a batch at a time: an export of a large queue never
    holds it whole."""
    after: tuple[dt.datetime, int] | None = None
    while True:
        page = moderation_queue(filters, after=after, limit=batch)
        if page:
            yield page
        if len(page) < batch:
            return
        after = (page[-1].created_at, page[-1].id)


def pending_review_count() -> int:
    """Reports waiting for a moderator (from the kept totals)."""
    return status_counts(QueueFilter()).get(PENDING_REVIEW, 0)


def status_counts(filters: QueueFilter) -> dict[str, int]:
    """Reports per status: without other filters from the kept totals (a few rows), else counted."""
    if filters.narrows_counts:
        rows = db.session.execute(_filtered(sa.select(Report.status, sa.func.count()), filters, with_status=False)
                                  .group_by(Report.status))
    else:
        rows = db.session.execute(sa.select(ReportStatusCount.status, sa.func.sum(ReportStatusCount.total))
                                  .group_by(ReportStatusCount.status))
    counts = dict.fromkeys(STATUS_NAMES, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


def rejection_templates(*, include_inactive: bool = False) -> list[RejectionTemplate]:
    query = sa.select(RejectionTemplate).order_by(RejectionTemplate.sort_order, RejectionTemplate.id)
    if not include_inactive:
        query = query.where(RejectionTemplate.is_active.is_(True))
    return list(db.session.scalars(query))


def save_rejection_template(actor: Actor, *, template_id: int | None, title: str, text: str,
                            is_active: bool) -> RejectionTemplate:
    title, text = title.strip(), text.strip()
    if not title or not text or len(title) > 64 or len(text) > 500:
        raise ValidationFailed("标题（≤ 64 字）和理由（≤ 500 字）都不能为空。", code="invalid_template",
                               details={"fields": {"title": ["1–64 characters"], "text": ["1–500 characters"]}})
    template = get_row(RejectionTemplate, template_id) if template_id else None
    if template_id and template is None:
        raise NotFound("驳回理由不存在。")
    values = dict(title=title, text=text, is_active=is_active)
    if template is None:
        # Written whole: its title and text are NOT NULL, and the audit needs its id.
        template = RejectionTemplate(sort_order=100, **values)
        db.session.add(template)
        db.session.flush()
        record_audit(actor, "rejection_template.save", "rejection_template", template.id, after=values)
    else:
        change_audited(actor, "rejection_template.save", "rejection_template", template, **values)
    return template

