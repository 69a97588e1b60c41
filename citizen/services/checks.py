"""Automatic checks on a report: flags for staff, never a silent rejection. Possible duplicates, photos seen
before, evidence taken far away or long ago, risky text; and the sweep that runs overdue checks again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from citizen.facts import CLOSED, DUPLICATE, REJECTED, WITHDRAWN, get_report
from citizen.models import Report, ReportFlag, ReportMedia
from citizen.settings import CitizenSettings
from core.db import db, utcnow
from core.events import REPORT_FLAGS_CHANGED, publish
from core.geo import bounding_box, haversine_m
from core.jobs import enqueue_after_commit
from media import services as media_services
from media.services import MediaInfo

log = logging.getLogger(__name__)
# The flag of a report whose checks still wait for a photo's hashes and EXIF, or for the outside text
# check: moderators see 核查中, and the sweep runs the checks again once they are overdue.
CHECKS_PENDING = "checks_pending"
CHECKS_OVERDUE_AFTER = dt.timedelta(minutes=10)
# The conversation's flags, which the checks keep: a moderator asked the resident for more (已要求补充), the resident
# answered (已补充).
INFO_REQUESTED, INFO_SUPPLIED = "info_requested", "info_supplied"
CHECKS_REQUEUE_BATCH = 500
# Checks still pending this long after the report was filed are stuck, not slow (the sweep has run them again several
# times): WeChat's text check keeps answering an error (a wrong app secret, a missing permission) or no worker runs the
# jobs. Nothing clears that by itself, so the moderators are shown it and the sweep logs it as an error.
CHECKS_STUCK_AFTER = dt.timedelta(hours=1)
STUCK_CHECKS_COUNTED = 1000
CLOSED_FOR_DUPLICATES = (REJECTED, WITHDRAWN, DUPLICATE, CLOSED)


@dataclasses.dataclass(frozen=True)
class DuplicateCandidate:
    report: Report
    distance_m: float
    photo_distance: int | None  # Hamming distance of the closest pair of photo hashes (0–64)


def duplicate_candidates(report: Report, settings: CitizenSettings, limit: int = 10) -> list[DuplicateCandidate]:
    """Open reports of the same category nearby and recent, nearest and most alike first."""
    since = report.created_at - dt.timedelta(days=settings.duplicate_window_days)
    south, west, north, east = bounding_box(report.lat, report.lng, settings.duplicate_radius_m)
    nearby = db.session.execute(sa.select(Report.id, Report.lat, Report.lng).where(
        Report.id != report.id, Report.category_id == report.category_id, Report.created_at >= since,
        Report.status.notin_(CLOSED_FOR_DUPLICATES), Report.lat.between(south, north), Report.lng.between(west, east)))
    distances = {other_id: distance for other_id, lat, lng in nearby
                 if (distance := haversine_m(report.lat, report.lng, lat, lng)) <= settings.duplicate_radius_m}
    their_hashes: dict[int, list[str]] = {}
    if distances:
        rows = db.session.execute(sa.select(ReportMedia.report_id, ReportMedia.phash).where(
            ReportMedia.report_id.in_(distances), ReportMedia.kind == "photo", ReportMedia.phash.is_not(None)))
        for other_id, phash in rows:
            their_hashes.setdefault(other_id, []).append(phash)
    own_hashes = _photo_hashes(report)
    photo_distances = {other_id: _closest_hash_distance(own_hashes, their_hashes.get(other_id, []))
                       for other_id in distances}

    def score(other_id: int) -> float:
        photo_distance = photo_distances[other_id]
        return (distances[other_id] / settings.duplicate_radius_m
                + (photo_distance if photo_distance is not None else 32) / 64)

    best = sorted(distances, key=score)[:limit]
    if not best:
        return []
    reports = {other.id: other for other in db.session.scalars(sa.select(Report).where(Report.id.in_(best)))}
    return [DuplicateCandidate(reports[other_id], distances[other_id], photo_distances[other_id]) for other_id in best]


def _photo_hashes(report: Report) -> list[str]:
    return [item.phash for item in report.media if item.kind == "photo" and item.phash]


def _closest_hash_distance(ours: list[str], theirs: list[str]) -> int | None:
    pairs = [(int(a, 16) ^ int(b, 16)).bit_count() for a in ours for b in theirs]
    return min(pairs) if pairs else None


def run_checks(report_id: int, settings: CitizenSettings,
               screen_text: Callable[[str], bool | None] | None = None) -> Report:
    """Flags for the moderator: possible duplicates, reused photos, evidence far away or old, risky text.

    ``screen_text`` is a content check (WeChat's, when configured) answering True for risky text, and None
    when it gave no answer: the checks stay pending for the sweep to run them again, and a flag from an
    earlier answer stays.
    """
    report = get_report(report_id)
    media = [media_services.media_info(item.media_id) for item in report.media]
    flags_before = report.flags
    verdict = screen_text(report.description) if screen_text is not None else False
    apply_checks(report, media, settings,
                  text_flagged=verdict if verdict is not None else "text_flagged" in flags_before,
                  checks_pending=verdict is None or any_unprocessed(media))
    if report.flags != flags_before:
        # Listeners that decided on the flags (a reward held while the checks were pending) decide again.
        publish(REPORT_FLAGS_CHANGED, report.id)
    db.session.flush()
    return report


def any_unprocessed(media: list[MediaInfo]) -> bool:
    return any(item.status == "processing" for item in media)


def requeue_pending_checks(now: dt.datetime | None = None) -> int:
    """Queue the checks again of reports still waiting for them after CHECKS_OVERDUE_AFTER: their job was
    lost with Redis or a worker, or ran while a photo was still being processed or the text check gave no
    answer. Commits."""
    overdue = (now or utcnow()) - CHECKS_OVERDUE_AFTER
    report_ids = db.session.scalars(
        sa.select(ReportFlag.report_id).join(Report, Report.id == ReportFlag.report_id)
        .where(ReportFlag.flag == CHECKS_PENDING, Report.created_at < overdue)
        .order_by(ReportFlag.report_id).limit(CHECKS_REQUEUE_BATCH)).all()
    for report_id in report_ids:
        enqueue_after_commit("citizen.jobs.check_report", report_id)
    stuck = stuck_checks(now)
    if stuck.count:
        log.error("report checks stuck", extra={"reports": stuck.count_shown,
                                                "oldest_filed_at": stuck.oldest_filed_at.isoformat()})
    return len(report_ids)


@dataclasses.dataclass(frozen=True)
class StuckChecks:
    count: int  # at most STUCK_CHECKS_COUNTED
    oldest_filed_at: dt.datetime | None

    @property
    def pending_for_hours(self) -> int:
        return int(CHECKS_STUCK_AFTER / dt.timedelta(hours=1))

    @property
    def count_shown(self) -> str:
        return f"{self.count}+" if self.count >= STUCK_CHECKS_COUNTED else str(self.count)


def stuck_checks(now: dt.datetime | None = None) -> StuckChecks:
    """The reports whose checks have been pending for longer than CHECKS_STUCK_AFTER (counted up to
    STUCK_CHECKS_COUNTED), and when the oldest of them was filed."""
    stuck = (sa.select(Report.created_at).join(ReportFlag, ReportFlag.report_id == Report.id)
             .where(ReportFlag.flag == CHECKS_PENDING, Report.created_at < (now or utcnow()) - CHECKS_STUCK_AFTER)
             .order_by(Report.created_at).limit(STUCK_CHECKS_COUNTED).subquery())
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(stuck.c.created_at))).one()
    return StuckChecks(count, oldest)


def apply_checks(report: Report, media: list[MediaInfo], settings: CitizenSettings, *, text_flagged: bool = False,
                  checks_pending: bool = False) -> None:
    """Set the report's flags and checks from its media and the reports already filed (no commit).

    Works on a report not yet added to the session too: the id it lacks excludes nothing.
    """
    flags: set[str] = set(report.flags) & {INFO_REQUESTED, INFO_SUPPLIED}
    checks: dict[str, Any] = {}
    hashes = {info.id: info.perceptual_hash for info in media}
    for item in report.media:
        item.phash = hashes.get(item.media_id)

    candidates = duplicate_candidates(report, settings)
    if candidates:
        flags.add("possible_duplicate")
        checks["duplicates"] = [{"report_id": c.report.id, "distance_m": round(c.distance_m, 1),
                                 "photo_distance": c.photo_distance} for c in candidates]
    reused = _reused_photos(report)
    if reused:
        flags.add("photo_seen_before")
        checks["photo_seen_before"] = reused

    evidence = []
    for info in media:
        measured = measure_evidence(report, info.gps, info.taken_at, report.created_at, settings)
        entry: dict[str, Any] = {"media_id": info.id}
        if measured.distance_m is not None:
            entry["distance_m"] = round(measured.distance_m, 1)
            if measured.far_away:
                flags.add("evidence_far_away")
        if measured.age is not None:
            entry["age_hours"] = round(measured.age.total_seconds() / 3600, 1)
            if measured.old:
                flags.add("evidence_old")
        if len(entry) > 1:
            evidence.append(entry)
    if evidence:
        checks["evidence"] = evidence

    if text_flagged:
        flags.add("text_flagged")
    if checks_pending:
        flags.add(CHECKS_PENDING)
    report.checks = checks
    set_flags(report, flags)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Where and when a photo was taken, measured against the report's place and a moment (when the report was
    filed; for a handler's photo, when the case was dispatched)."""

    distance_m: float | None  # from the report's place; None: the photo's position is unknown
    age: dt.timedelta | None  # how long before the moment it was taken (negative: after it); None: time unknown
    far_away: bool  # beyond EVIDENCE_MAX_DISTANCE_M
    old: bool  # more than EVIDENCE_MAX_AGE_DAYS before the moment

    @property
    def taken_before_moment(self) -> bool:
        return self.age is not None and self.age > dt.timedelta(0)


def measure_evidence(report: Report, position: tuple[float, float] | None, taken_at: dt.datetime | None,
                     moment: dt.datetime, settings: CitizenSettings) -> Evidence:
    """A photo taken at ``position`` (WGS-84) and ``taken_at``, as evidence of ``report`` at ``moment``: the one
    measure of residents' photos (the moderators' flags) and of handlers' proof photos (the case desk)."""
    distance_m = haversine_m(report.lat, report.lng, *position) if position is not None else None
    age = moment - taken_at if taken_at is not None else None
    return Evidence(distance_m, age,
                    far_away=distance_m is not None and distance_m > settings.evidence_max_distance_m,
                    old=age is not None and age > dt.timedelta(days=settings.evidence_max_age_days))


def set_flags(report: Report, flags: set[str]) -> None:
    """The flags as shown (report.flags) and as the queue filters on them (ReportFlag rows), together."""
    report.flags = sorted(flags)
    kept = [row for row in report.flag_rows if row.flag in flags]
    report.flag_rows = kept + [ReportFlag(flag=flag) for flag in report.flags
                               if flag not in {row.flag for row in kept}]


def _reused_photos(report: Report) -> list[dict[str, Any]]:
    """The same bytes, or a near-identical picture, already on another report."""
    photos = [item for item in report.media if item.kind == "photo"]
    same = sa.or_(ReportMedia.sha256.in_({item.sha256 for item in photos}),
                  ReportMedia.phash.in_({item.phash for item in photos if item.phash}))
    rows = db.session.execute(sa.select(ReportMedia.report_id, ReportMedia.media_id, ReportMedia.sha256)
                              .where(same, ReportMedia.report_id != report.id).limit(20))
    own_bytes = {item.sha256 for item in photos}
    return [{"report_id": other, "media_id": media_id, "match": "identical" if sha256 in own_bytes else "similar"}
            for other, media_id, sha256 in rows]
