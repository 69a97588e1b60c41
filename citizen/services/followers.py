"""Followers of a report: residents other than its reporter who follow it (``ReportFollower``). Reporters of
reports merged into it as duplicates follow it ("merged"); residents add their voice (附议, "me_too") from the
reports nearby instead of filing again. Followers read its public timeline, get its subscribe messages like
the reporter and rate it with a rating of their own."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citizen.facts import PUBLICLY_OPEN
from citizen.models import Report, ReportEvent, ReportFollower
from citizen.services.lifecycle import (RESIDENT_CONFLICT, RESIDENT_NOTES, check_ratable, rate_report,
                                        written_unless_changed)
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.events import REPORT_RATED, publish

MERGED, ME_TOO, REPORTER = "merged", "me_too", "reporter"


@dataclasses.dataclass(frozen=True)
class Followed:
    """A report as one resident reads it: as its reporter (``follower`` None) or as a follower."""

    report: Report
    follower: ReportFollower | None

    @property
    def relation(self) -> str:
        return self.follower.reason if self.follower is not None else REPORTER


def _follower(report_id: int, resident_id: int) -> ReportFollower | None:
    return db.session.scalar(sa.select(ReportFollower).where(ReportFollower.report_id == report_id,
                                                             ReportFollower.resident_id == resident_id))


def _follow(report: Report, resident_id: int, reason: str, source_report_id: int | None = None) -> ReportFollower:
    """The resident follows the report (once: a second follow finds the first)."""
    follower = _follower(report.id, resident_id)
    if follower is None:
        try:
            with db.session.begin_nested():
                follower = ReportFollower(report_id=report.id, resident_id=resident_id, reason=reason,
                                          source_report_id=source_report_id)
                db.session.add(follower)
        except IntegrityError:
            # The same resident's other request (a double tap) followed it first.
            follower = _follower(report.id, resident_id)
            assert follower is not None
    return follower


def follow_merged(duplicate: Report, original: Report) -> ReportFollower | None:
    """The reporter of ``duplicate``, just merged into ``original``, follows the original (unless it is theirs),
    and so do the duplicate's own followers. A 附议 they had given becomes the follow of their merged report."""
    # Those following the duplicate (reports merged into it before) follow the original as well.
    for earlier in followers_of(duplicate.id):
        if earlier.resident_id != original.resident_id:
            _follow(original, earlier.resident_id, earlier.reason, earlier.source_report_id)
    if duplicate.resident_id == original.resident_id:
        return None
    follower = _follow(original, duplicate.resident_id, MERGED, duplicate.id)
    follower.reason, follower.source_report_id = MERGED, duplicate.id
    return follower


def add_me_too(resident_id: int, report_id: int) -> Followed:
    """附议: the resident adds their voice to an open report, once; again, the same answer and no second count."""
    report = db.session.get(Report, report_id)
    if report is None or report.status not in PUBLICLY_OPEN:
        existing = _follower(report_id, resident_id) if report is not None else None
        if existing is not None:
            return Followed(report, existing)
        raise NotFound("附近没有这条正在处理的反映。", code="not_open")
    if report.resident_id == resident_id:
        raise Conflict("这是您自己的反映，无需附议。", code="own_report")
    return Followed(report, _follow(report, resident_id, ME_TOO))


def withdraw_me_too(resident_id: int, report_id: int) -> None:
    """Take back a 附议 while the report is open; withdrawing one not given (again) is no error, the same answer.
    A report neither open nor followed is not found, as for 附议."""
    follower = _follower(report_id, resident_id)
    report = db.session.get(Report, report_id)
    is_open = report is not None and report.status in PUBLICLY_OPEN
    if follower is None:
        if not is_open:
            raise NotFound("附近没有这条正在处理的反映。", code="not_open")
        return
    if follower.reason != ME_TOO:
        raise Conflict("您的反映已合并到该反映，不能撤回关注。", code="merged_follow")
    if not is_open:
        raise Conflict("该反映已处置完毕，不能撤回附议。", code="not_open")
    db.session.delete(follower)
    db.session.flush()


def followed_report(resident_id: int, report_id: int) -> Followed:
    """The report as the resident may read it: their own, or one they follow."""
    report = db.session.get(Report, report_id)
    if report is not None:
        if report.resident_id == resident_id:
            return Followed(report, None)
        follower = _follower(report_id, resident_id)
        if follower is not None:
            return Followed(report, follower)
    raise NotFound("反映不存在。")


def followed_reports(resident_id: int, *, before_id: int | None, limit: int) -> list[Followed]:
    """The reports the resident follows, the latest followed first; the cursor is the last follower id seen."""
    query = sa.select(ReportFollower).where(ReportFollower.resident_id == resident_id)
    if before_id is not None:
        query = query.where(ReportFollower.id < before_id)
    followers = list(db.session.scalars(query.order_by(ReportFollower.id.desc()).limit(limit)))
    reports = {report.id: report for report in db.session.scalars(
        sa.select(Report).where(Report.id.in_([follower.report_id for follower in followers])))}
    return [Followed(reports[follower.report_id], follower) for follower in followers]


def originals_followed(resident_id: int, duplicates: list[Report]) -> dict[int, Followed]:
    """By duplicate report id, the report it was merged into as its reporter follows it: the last one along, when
    that report was merged into another in turn."""
    merged = [report.id for report in duplicates if report.duplicate_of_id is not None]
    if not merged:
        return {}
    followers = db.session.scalars(sa.select(ReportFollower).where(
        ReportFollower.resident_id == resident_id, ReportFollower.source_report_id.in_(merged))
        .order_by(ReportFollower.id))
    latest = {follower.source_report_id: follower for follower in followers}
    return {duplicate_id: Followed(db.session.get(Report, follower.report_id), follower)
            for duplicate_id, follower in latest.items()}


def followers_of(report_id: int) -> list[ReportFollower]:
    return list(db.session.scalars(sa.select(ReportFollower).where(ReportFollower.report_id == report_id)
                                   .order_by(ReportFollower.id)))


def me_too_counts(report_ids: list[int]) -> dict[int, int]:
    """How many residents added their voice (附议) to each report (0 when none)."""
    counts = dict.fromkeys(report_ids, 0)
    if report_ids:
        counts.update(db.session.execute(
            sa.select(ReportFollower.report_id, sa.func.count()).where(
                ReportFollower.report_id.in_(report_ids), ReportFollower.reason == ME_TOO)
            .group_by(ReportFollower.report_id)).all())
    return counts


def most_followed_open(limit: int = 5) -> list[tuple[int, int]]:
    """(report id, 附议 count) of the open reports most residents added their voice to, most first."""
    count = sa.func.count().label("count")
    return [(report_id, total) for report_id, total in db.session.execute(
        sa.select(ReportFollower.report_id, count).join(Report, Report.id == ReportFollower.report_id)
        .where(ReportFollower.reason == ME_TOO, Report.status.in_(PUBLICLY_OPEN))
        .group_by(ReportFollower.report_id).order_by(count.desc(), ReportFollower.report_id).limit(limit))]


def follower_timeline(report: Report) -> list[ReportEvent]:
    """What a follower reads of the report's timeline: its status changes with the standard text (what staff told
    the reporter stays theirs) and public replies."""
    shown = []
    for event in report.events:
        if event.visibility == "public":
            shown.append(event)
        elif event.visibility == "resident" and event.from_status not in (None, event.to_status):
            shown.append(ReportEvent(id=event.id, occurred_at=event.occurred_at, from_status=event.from_status,
                                     to_status=event.to_status, actor_kind=event.actor_kind,
                                     note=RESIDENT_NOTES[event.to_status], visibility="resident"))
    return shown


def rate(resident_id: int, report_id: int, *, rating: int, comment: str) -> Followed:
    """Rate a resolved report, once: its reporter's rating is the report's, a follower's their own. The figures
    count each report once, at the rounded mean of the ratings given (``citizen.facts``)."""
    followed = followed_report(resident_id, report_id)
    follower = followed.follower
    if follower is None:
        rate_report(resident_id, report_id, rating=rating, comment=comment)
        return followed
    check_ratable(followed.report, follower.rating)
    with written_unless_changed(RESIDENT_CONFLICT):
        follower.rating, follower.rating_comment, follower.rated_at = rating, comment.strip() or None, utcnow()
        # The report's figures changed: its "changed lately" time too, for the statistics' catch-up.
        followed.report.updated_at = utcnow()
        publish(REPORT_RATED, report_id)
    return followed


def export_follows(resident_id: int) -> list[dict[str, Any]]:
    """What the resident follows, why, since when and their own rating of it (the data export)."""
    follows = db.session.scalars(sa.select(ReportFollower).where(ReportFollower.resident_id == resident_id)
                                 .order_by(ReportFollower.id))
    return [{"report_id": follow.report_id, "reason": follow.reason, "merged_report_id": follow.source_report_id,
             "since": follow.created_at.isoformat(), "rating": follow.rating, "rating_comment": follow.rating_comment,
             "rated_at": follow.rated_at.isoformat() if follow.rated_at else None} for follow in follows]


def forget_follows(resident_id: int) -> None:
    """A forgotten resident follows nothing any more (their 附议 no longer counts, their ratings go)."""
    db.session.execute(sa.delete(ReportFollower).where(ReportFollower.resident_id == resident_id))


def relations(resident_id: int, reports: list[Report]) -> dict[int, str | None]:
    """By report id, how the resident stands to it: reporter, merged, me_too, or None."""
    followed = dict(db.session.execute(sa.select(ReportFollower.report_id, ReportFollower.reason).where(
        ReportFollower.resident_id == resident_id, ReportFollower.report_id.in_([r.id for r in reports]))).all())
    return {report.id: REPORTER if report.resident_id == resident_id else followed.get(report.id)
            for report in reports}


@dataclasses.dataclass(frozen=True)
class FollowerSummary:
    """What staff see of a report's followers."""

    me_too: int
    merged: int
    ratings: tuple[int, ...]


def follower_summary(report_id: int) -> FollowerSummary:
    followers = followers_of(report_id)
    return FollowerSummary(me_too=sum(follower.reason == ME_TOO for follower in followers),
                           merged=sum(follower.reason == MERGED for follower in followers),
                           ratings=tuple(follower.rating for follower in followers if follower.rating is not None))
