"""Status coming back from the case system, pushed, polled from an Open311 one, or made on the desk; its photos."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cases import adapters
from cases.adapters import ExternalUpdate
from cases.models import CaseDelivery, CaseReopening, CaseUpdate
from cases.services.outbox import DONE
from cases.settings import CaseSettings
from citizen import services as citizen_services
from core.db import commit_early, db, utcnow
from core.errors import Conflict, ValidationFailed
from core.jobs import enqueue_after_commit
from media import services as media_services

log = logging.getLogger(__name__)

# External statuses a case system reports, and what they do to a report.
EXTERNAL_STATUSES = ("received", "in_progress", "resolved", "closed", "sent_back")
_TARGETS = {"in_progress": citizen_services.IN_PROGRESS, "resolved": citizen_services.RESOLVED,
            "closed": citizen_services.CLOSED}


@dataclasses.dataclass(frozen=True)
class UpdateOutcome:
    applied: bool
    report_id: int
    status: str  # the report's status afterwards
    event_id: int | None  # the timeline step it made (None for a repeat or a superseded update)
    superseded: bool = False  # older than an update already applied: recorded, nothing changed


def report_id_for_external(external_id: str) -> int | None:
    """The report of a case system's id: of its delivery, or of a reopening sent as a new request."""
    return db.session.scalar(sa.select(CaseDelivery.report_id).where(
        sa.or_(CaseDelivery.external_id == external_id, CaseDelivery.external_token == external_id))) \
        or db.session.scalar(sa.select(CaseReopening.report_id).where(CaseReopening.external_id == external_id))


# Where a case system may move a report: from acceptance on, never back into moderation.
_CASE_STATUSES = (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS,
                  citizen_services.RESOLVED, citizen_services.CLOSED)


def _lifecycle_path(start: str, target: str) -> list[str] | None:
    """The shortest way through the report lifecycle from ``start`` to ``target`` (accepted → forwarded → …)."""
    if start not in _CASE_STATUSES:
        return None
    paths = collections.deque([[start]])
    seen = {start}
    while paths:
        path = paths.popleft()
        if path[-1] == target:
            return path[1:]
        for following in sorted(citizen_services.TRANSITIONS.get(path[-1], ())):
            if following not in seen:
                seen.add(following)
                paths.append([*path, following])
    return None


def _move_report(report: Any, update: ExternalUpdate, actor_name: str) -> Any:
    """Apply one external status to the report; the timeline event that carries its note."""
    note = (update.note or "").strip() or None
    public_reply = update.public and note is not None
    # What the resident reads: a public reply, else the step's own words; an internal note stays with staff.
    shown, staff_note = (note, None) if public_reply else (update.step_note, note)
    target = _TARGETS.get(update.status)
    if update.status == "sent_back" and report.status == citizen_services.RESOLVED:
        target = citizen_services.IN_PROGRESS
        shown = shown or "核查未通过，已重新派遣处置。"
    if report.status not in _CASE_STATUSES:
        raise Conflict("该反映尚未受理，不能接收案件进度。", code="illegal_transition", details={"from": report.status})
    if target is None or target == report.status:
        if shown is None and staff_note is not None:
            return citizen_services.record_case_progress(report, staff_note, actor_name=actor_name,
                                                         visibility="internal")
        return citizen_services.record_case_progress(report, shown or "案件处理进度已更新。", actor_name=actor_name,
                                                     visibility="public" if public_reply else "resident",
                                                     staff_note=staff_note)
    path = _lifecycle_path(report.status, target)
    if path is None:
        raise Conflict(f"反映当前状态（{citizen_services.STATUS_NAMES[report.status]}）不能变更为"
                       f"{citizen_services.STATUS_NAMES[target]}。", code="illegal_transition",
                       details={"from": report.status, "to": target})
    event = None
    for position, status in enumerate(path):
        last = position == len(path) - 1
        event = citizen_services.transition(report, status, actor_kind="case_system", actor_name=actor_name,
                                            note=shown if last else None, public_reply=public_reply and last,
                                            staff_note=staff_note if last else None)
    return event


def apply_update(source: str, update: ExternalUpdate, *, body_digest: str, actor_name: str) -> UpdateOutcome:
    """Apply a status change once per (source, update id): a repeat changes nothing. The caller commits.

    Updates apply in the order the case system made them, whatever way they came (pushed, polled, from the desk):
    one older than an update already applied to the report is recorded and changes nothing, so a poll answering
    as of before a pushed 已处置 never takes the report back to 处置中."""
    if update.status not in EXTERNAL_STATUSES:
        raise ValidationFailed("未知的案件状态。", code="unknown_status", details={"status": update.status})
    seen = db.session.scalar(sa.select(CaseUpdate).where(CaseUpdate.source == source,
                                                         CaseUpdate.update_id == update.update_id))
    if seen is not None:
        return _repeat(seen, body_digest)
    # One update of a report at a time: another one (pushed, polled, from the desk) waits here until this one
    # commits, then moves the report on from where this one left it, instead of failing on the report's version.
    report = citizen_services.lock_report(update.report_id)
    occurred_at = update.occurred_at or utcnow()
    record = CaseUpdate(source=source, update_id=update.update_id, body_digest=body_digest, report_id=report.id,
                        status=update.status, note=update.note, photo_urls=list(update.photo_urls),
                        occurred_at=occurred_at)
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        seen = db.session.scalar(sa.select(CaseUpdate).where(CaseUpdate.source == source,
                                                             CaseUpdate.update_id == update.update_id))
        if seen is None:
            raise
        return _repeat(seen, body_digest)
    latest_applied = db.session.scalar(sa.select(sa.func.max(CaseUpdate.occurred_at)).where(
        CaseUpdate.report_id == report.id, CaseUpdate.report_event_id.is_not(None)))
    if latest_applied is not None and occurred_at < latest_applied:
        return UpdateOutcome(applied=False, report_id=report.id, status=report.status, event_id=None, superseded=True)
    event = _move_report(report, update, actor_name)
    db.session.flush()
    record.report_event_id = event.id
    if update.photo_urls:
        enqueue_after_commit("cases.jobs.fetch_update_photos", record.id)
    return UpdateOutcome(applied=True, report_id=report.id, status=report.status, event_id=event.id)


def _repeat(seen: CaseUpdate, body_digest: str) -> UpdateOutcome:
    if seen.body_digest != body_digest:
        raise Conflict("该更新编号已用于另一条不同的更新。", code="update_id_reused")
    return UpdateOutcome(applied=False, report_id=seen.report_id,
                         status=citizen_services.get_report(seen.report_id).status, event_id=None)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def fetch_update_photos(update_record_id: int, settings: CaseSettings) -> int:
    """Fetch a case update's photos (allow-listed hosts only) into media and onto its timeline step."""
    record = db.session.get(CaseUpdate, update_record_id)
    if record is None or record.report_event_id is None:
        return 0
    report = citizen_services.get_report(record.report_id)
    # A photo on a host not allowed is never fetched, and never keeps the allowed ones off the timeline.
    allowed = [url for url in record.photo_urls if host_allowed(url, settings)]
    if len(allowed) < len(record.photo_urls):
        log.warning("case update photos on hosts not allowed", extra={"update_record_id": record.id,
                                                                      "skipped": len(record.photo_urls) - len(allowed)})
    stored = [fetch_photo(url, report.resident_id, settings).id for url in allowed]
    add_photos(report, record.report_event_id, stored)
    return len(stored)


def add_photos(report: Any, event_id: int, media_ids: Iterable[int]) -> None:
    event = next(event for event in report.events if event.id == event_id)
    citizen_services.add_case_photos(report, event, [media_services.media_info(media_id) for media_id in media_ids])


def host_allowed(url: str, settings: CaseSettings) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in settings.case_media_hosts


def fetch_photo(url: str, owner_resident_id: int, settings: CaseSettings) -> Any:
    """A photo from an allow-listed host, stored through the media package for this resident."""
    if not host_allowed(url, settings):
        raise ValidationFailed("照片地址不在允许的主机列表中。", code="media_host_not_allowed", details={"url": url})
    with tempfile.TemporaryDirectory(prefix="case-photo-") as directory:
        path = Path(directory) / "photo"
        try:
            with requests.get(url, stream=True, timeout=settings.case_http_timeout_seconds,
                              allow_redirects=False) as response:
                response.raise_for_status()
                size = 0
                with path.open("wb") as out:
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > settings.case_media_max_bytes:
                            raise ValidationFailed("照片过大。", code="media_too_large", status=413)
                        out.write(chunk)
        except requests.RequestException as exc:
            raise ValidationFailed("无法获取照片。", code="media_unreachable",
                                   details={"url": url, "reason": type(exc).__name__}) from None
        return media_services.accept_local_file(owner_resident_id, path)


# --- polling an Open311 case system ------------------------------------------------------------

def _reopened_requests(since: dt.datetime, open_statuses: tuple[str, ...]) -> dict[str, int]:
    """The requests reopened reports were sent as lately (external id → report id), of reports still open."""
    rows = db.session.execute(sa.select(CaseReopening.external_id, CaseReopening.report_id).where(
        CaseReopening.status == DONE, CaseReopening.case_system == "open311", CaseReopening.external_id.is_not(None),
        CaseReopening.delivered_at >= since)).all()
    still_open = citizen_services.existing_report_ids((report_id for _, report_id in rows), statuses=open_statuses)
    return {external_id: report_id for external_id, report_id in rows if report_id in still_open}


def poll_case_system(settings: CaseSettings, now: dt.datetime | None = None, *, lookback_days: int = 30) -> int:
    """Read what changed in the Open311 case system for our open cases; how many updates applied.

    Each update applies on its own: one the report cannot take is logged and leaves the others applied."""
    now = now or utcnow()
    if settings.case_system != "open311":
        return 0
    system = adapters.Open311CaseSystem(settings)
    open_statuses = (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS,
                     citizen_services.RESOLVED)
    recent = list(db.session.scalars(sa.select(CaseDelivery).where(
        CaseDelivery.status == DONE, CaseDelivery.case_system == "open311",
        CaseDelivery.delivered_at >= now - dt.timedelta(days=lookback_days))))
    still_open = citizen_services.existing_report_ids((delivery.report_id for delivery in recent),
                                                      statuses=open_statuses)
    delivered = [delivery for delivery in recent if delivery.report_id in still_open]
    for delivery in delivered:
        if delivery.external_id is None and delivery.external_token:
            delivery.external_id = system.resolve_token(delivery.external_token)
    commit_early("the request ids the case system resolved are kept even when reading its updates then fails")
    by_request = {delivery.external_id: delivery.report_id for delivery in delivered if delivery.external_id}
    by_request.update(_reopened_requests(now - dt.timedelta(days=lookback_days), open_statuses))
    applied = 0
    for update in system.fetch_updates(by_request, since=now - dt.timedelta(days=lookback_days)):
        try:
            with db.session.begin_nested():
                applied += apply_update("poll", update, body_digest=digest(update.update_id.encode()),
                                        actor_name="open311").applied
        except Conflict as exc:
            log.warning("polled case update not applicable", extra={"report_id": update.report_id, "code": exc.code})
    return applied


