"""Forwarding accepted reports to the case system and bringing its changes back. No Flask here.

Other packages call ``open_delivery(report_id)`` inside the transaction that accepts a report
(the outbox). Everything else runs in jobs (``cases.jobs``), the case-updates API, the desk pages
and the ``flask cases`` commands.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import logging
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from cases import adapters
from cases import jobs as case_jobs
from cases.adapters import ExternalUpdate, OutgoingCase, PermanentFailure, Receipt, TransientFailure
from cases.models import (CaseDelivery, CaseUpdate, DeliveryAttempt, DeskCase, DeskCaseStep, Notification,
                          Open311Request, OutboxMixin, SubscribeGrant)
from citizen import services as citizen_services
from core.config import Config, current_config
from core.db import MAX_DATABASE_ID, db, get_or_not_found, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.jobs import enqueue_after_commit
from core.links import public_url
from core.privacy import row_dict
from core.services import Actor, record_audit
from core.wechat import WeChatIdentity
from media import services as media_services

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")

# The states of every outbox row (deliveries and notifications).
PENDING, WORKING, DONE, RETRYING, FAILED, SKIPPED = "pending", "working", "done", "retrying", "failed", "skipped"
OUTBOX_STATUS_NAMES = {PENDING: "待发送", WORKING: "发送中", DONE: "已送达", RETRYING: "等待重试", FAILED: "失败",
                       SKIPPED: "无需发送"}
SWEEP_BATCH = 500

# External statuses a case system reports, and what they do to a report.
EXTERNAL_STATUSES = ("received", "in_progress", "resolved", "closed", "sent_back")
_TARGETS = {"in_progress": citizen_services.IN_PROGRESS, "resolved": citizen_services.RESOLVED,
            "closed": citizen_services.CLOSED}


# --- the outbox ------------------------------------------------------------------------------

def open_delivery(report_id: int) -> CaseDelivery:
    """The forwarding record of an accepted report, in the caller's transaction; its job runs after commit."""
    delivery = db.session.scalar(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id))
    if delivery is None:
        now = utcnow()
        delivery = CaseDelivery(report_id=report_id, case_system=current_config().case_system, status=PENDING,
                                attempts=0, next_attempt_at=now, enqueued_at=now)
        db.session.add(delivery)
        db.session.flush()
        enqueue_after_commit(case_jobs.deliver, delivery.id)
    return delivery


def backoff_seconds(attempts: int, settings: Config) -> float:
    """Exponential backoff with "equal jitter": half the doubling delay fixed, half random."""
    ceiling = min(settings.case_delivery_backoff_max_seconds,
                  settings.case_delivery_backoff_base_seconds * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _claim(model: type[OutboxMixin], row_id: int, now: dt.datetime, settings: Config) -> Any:
    """Take the row for one attempt under a lease, or None when it is done, failed, or being worked on."""
    lease = now + dt.timedelta(seconds=settings.case_delivery_lease_seconds)
    claimable = sa.or_(model.status.in_((PENDING, RETRYING)),
                       sa.and_(model.status == WORKING, model.lease_until <= now))
    result = db.session.execute(sa.update(model).where(model.id == row_id, claimable).values(
        status=WORKING, lease_until=lease, attempts=model.attempts + 1, updated_at=now))
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(model, row_id)


def _finish(row: OutboxMixin, status: str, error: str | None = None) -> None:
    row.status, row.lease_until, row.last_error = status, None, error[:500] if error else None


def _retry_later(row: OutboxMixin, error: str, now: dt.datetime, settings: Config) -> None:
    if row.attempts >= settings.case_delivery_max_attempts:
        _finish(row, FAILED, f"gave up after {row.attempts} attempts: {error}")
        return
    _finish(row, RETRYING, error)
    row.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(row.attempts, settings))
    row.enqueued_at = None


def case_system(name: str, settings: Config) -> adapters.CaseSystem:
    if name == "open311":
        return adapters.Open311CaseSystem(settings)
    if name == "webhook":
        return adapters.WebhookCaseSystem(settings)
    return adapters.DeskCaseSystem(open_desk_case)


def deliver(delivery_id: int) -> str | None:
    """One attempt at handing a report to the case system; the new status, or None if not ours to try."""
    settings, now = current_config(), utcnow()
    delivery = _claim(CaseDelivery, delivery_id, now, settings)
    if delivery is None:
        return None
    system = case_system(delivery.case_system, settings)
    try:
        receipt = system.submit(outgoing_case(delivery.report_id, settings))
    except PermanentFailure as exc:
        _finish(delivery, FAILED, str(exc))
        outcome = (FAILED, str(exc))
    except TransientFailure as exc:
        _retry_later(delivery, str(exc), now, settings)
        outcome = (delivery.status, str(exc))
    else:
        _record_delivered(delivery, receipt, system.name)
        outcome = (DONE, receipt.external_id or receipt.token)
    delivery.attempt_log.append(DeliveryAttempt(started_at=now, outcome=outcome[0], detail=(outcome[1] or "")[:500]))
    db.session.commit()
    log.info("case delivery attempt", extra={"delivery_id": delivery.id, "report_id": delivery.report_id,
                                             "outcome": outcome[0], "attempt": delivery.attempts})
    return delivery.status


def _record_delivered(delivery: CaseDelivery, receipt: Receipt, system_name: str) -> None:
    _finish(delivery, DONE)
    delivery.delivered_at = utcnow()
    delivery.external_id, delivery.external_token = receipt.external_id, receipt.token
    report = citizen_services.get_report(delivery.report_id)
    if report.status == citizen_services.ACCEPTED:
        citizen_services.transition(report, citizen_services.FORWARDED, actor_kind="case_system",
                                    actor_name=system_name)


def outgoing_case(report_id: int, settings: Config) -> OutgoingCase:
    report = citizen_services.get_report(report_id)
    photos = []
    for item in report.media:
        if item.kind == "photo" and item.purpose == "evidence":
            url = media_services.media_urls(item.media_id, ttl_seconds=settings.case_media_url_ttl_seconds).get("large")
            if url:
                photos.append(public_url(url, settings))
    accepted_at = next((event.occurred_at for event in report.events
                        if event.to_status == citizen_services.ACCEPTED), report.created_at)
    return OutgoingCase(report_id=report.id, category_id=report.category_id, category_name=report.category.name,
                        description=report.description, lat=report.lat, lng=report.lng, address=report.address,
                        district=report.district, photo_urls=tuple(photos), accepted_at=accepted_at)


# --- the sweep: nothing accepted is left behind ------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SweepResult:
    deliveries: int
    notifications: int


def _due(model: type[OutboxMixin], now: dt.datetime, settings: Config) -> list[int]:
    """Rows whose next try is due and that no queued job is known to hold: lost with Redis or a worker."""
    forgotten = now - dt.timedelta(seconds=settings.case_delivery_requeue_after_seconds)
    waiting = sa.and_(model.status.in_((PENDING, RETRYING)), model.next_attempt_at <= now,
                      sa.or_(model.enqueued_at.is_(None), model.enqueued_at <= forgotten))
    abandoned = sa.and_(model.status == WORKING, model.lease_until <= now)
    return list(db.session.scalars(sa.select(model.id).where(sa.or_(waiting, abandoned))
                                   .order_by(model.next_attempt_at).limit(SWEEP_BATCH)))


def sweep(now: dt.datetime | None = None) -> SweepResult:
    """Queue every delivery and notification that is due, or was lost with a worker or with Redis."""
    now, settings = now or utcnow(), current_config()
    found = {}
    for model, job in ((CaseDelivery, case_jobs.deliver), (Notification, case_jobs.send_notification)):
        ids = _due(model, now, settings)
        if ids:
            db.session.execute(sa.update(model).where(model.id.in_(ids)).values(enqueued_at=now))
            # An attempt whose lease ran out died with its worker: it may be tried again.
            db.session.execute(sa.update(model).where(model.id.in_(ids), model.status == WORKING,
                                                      model.lease_until <= now)
                               .values(status=RETRYING, lease_until=None))
        for row_id in ids:
            enqueue_after_commit(job, row_id)
        found[model] = len(ids)
    db.session.commit()
    return SweepResult(deliveries=found[CaseDelivery], notifications=found[Notification])


# --- the deliveries page -----------------------------------------------------------------------

def deliveries(status: str | None, *, limit: int = 200) -> list[CaseDelivery]:
    query = sa.select(CaseDelivery)
    if status:
        query = query.where(CaseDelivery.status == status)
    return list(db.session.scalars(query.order_by(CaseDelivery.next_attempt_at, CaseDelivery.id).limit(limit)))


def delivery_counts() -> dict[str, int]:
    return _counts(CaseDelivery.status, OUTBOX_STATUS_NAMES)


def _counts(column: Any, names: dict[str, str]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    counts.update({value: count for value, count in db.session.execute(sa.select(column, sa.func.count())
                                                                       .group_by(column))})
    return counts


UNDELIVERED = (PENDING, WORKING, RETRYING, FAILED)


@dataclasses.dataclass(frozen=True)
class Backlog:
    """Accepted reports not yet delivered to the case system, now (read-only, for figures)."""

    by_status: dict[str, int]  # pending, working (being sent), retrying (waiting to retry), failed (staff retry them)
    oldest_opened_at: dt.datetime | None  # when the longest-waiting of them was accepted

    @property
    def waiting(self) -> int:
        return self.by_status[PENDING] + self.by_status[WORKING] + self.by_status[RETRYING]

    @property
    def failed(self) -> int:
        return self.by_status[FAILED]


def forwarding_backlog(*, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Backlog:
    """The backlog now; with ``since``/``until``, only the reports accepted in [since, until)."""
    window = [CaseDelivery.created_at >= since] if since is not None else []
    window += [CaseDelivery.created_at < until] if until is not None else []
    rows = db.session.execute(sa.select(CaseDelivery.status, sa.func.count(), sa.func.min(CaseDelivery.created_at))
                              .where(CaseDelivery.status.in_(UNDELIVERED), *window)
                              .group_by(CaseDelivery.status)).all()
    by_status = dict.fromkeys(UNDELIVERED, 0)
    by_status.update({status: count for status, count, _ in rows})
    return Backlog(by_status=by_status, oldest_opened_at=min((oldest for *_, oldest in rows), default=None))


def retry_deliveries(actor: Actor, delivery_ids: Iterable[int] | None = None) -> int:
    """Try failed or waiting deliveries again now (all of them when no ids are given); audited; how many. Commits.

    Each is reset only while it is still as it was read: one that a worker claimed or delivered in between (its
    commit waited for by the UPDATE on PostgreSQL) is the worker's, and neither reset nor counted."""
    query = sa.select(CaseDelivery.id, CaseDelivery.report_id, CaseDelivery.status, CaseDelivery.attempts,
                      CaseDelivery.last_error).where(CaseDelivery.status.in_((FAILED, RETRYING, PENDING)))
    if delivery_ids is not None:
        query = query.where(CaseDelivery.id.in_(list(delivery_ids)))
    now, reset = utcnow(), 0
    for delivery in db.session.execute(query.limit(SWEEP_BATCH)).all():
        # A fresh series of attempts for a failed one, the history of the old one kept in the attempt log.
        attempts = 0 if delivery.status == FAILED else delivery.attempts
        still_as_read = db.session.execute(sa.update(CaseDelivery).where(
            CaseDelivery.id == delivery.id, CaseDelivery.status == delivery.status,
            CaseDelivery.attempts == delivery.attempts).values(
            status=RETRYING, attempts=attempts, next_attempt_at=now, enqueued_at=now))
        if still_as_read.rowcount != 1:
            continue
        before = {"status": delivery.status, "attempts": delivery.attempts, "last_error": delivery.last_error}
        record_audit(actor, "case_delivery.retry", "case_delivery", delivery.id, before=before,
                     after={"status": RETRYING, "report_id": delivery.report_id})
        enqueue_after_commit(case_jobs.deliver, delivery.id)
        reset += 1
    db.session.commit()
    return reset


# --- status coming back ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class UpdateOutcome:
    applied: bool
    report_id: int
    status: str  # the report's status afterwards
    event_id: int | None  # the timeline step it made (None for a repeat)


def report_id_for_external(external_id: str) -> int | None:
    return db.session.scalar(sa.select(CaseDelivery.report_id).where(
        sa.or_(CaseDelivery.external_id == external_id, CaseDelivery.external_token == external_id)))


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
    """Apply a status change once per (source, update id): a repeat changes nothing. The caller commits."""
    if update.status not in EXTERNAL_STATUSES:
        raise ValidationFailed("未知的案件状态。", code="unknown_status", details={"status": update.status})
    seen = db.session.scalar(sa.select(CaseUpdate).where(CaseUpdate.source == source,
                                                         CaseUpdate.update_id == update.update_id))
    if seen is not None:
        return _repeat(seen, body_digest)
    # One update of a report at a time: another one (pushed, polled, from the desk) waits here until this one
    # commits, then moves the report on from where this one left it, instead of failing on the report's version.
    report = citizen_services.lock_report(update.report_id)
    record = CaseUpdate(source=source, update_id=update.update_id, body_digest=body_digest, report_id=report.id,
                        status=update.status, note=update.note, photo_urls=list(update.photo_urls))
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        seen = db.session.scalar(sa.select(CaseUpdate).where(CaseUpdate.source == source,
                                                             CaseUpdate.update_id == update.update_id))
        if seen is None:
            raise
        return _repeat(seen, body_digest)
    event = _move_report(report, update, actor_name)
    db.session.flush()
    record.report_event_id = event.id
    if update.photo_urls:
        enqueue_after_commit(case_jobs.fetch_update_photos, record.id)
    return UpdateOutcome(applied=True, report_id=report.id, status=report.status, event_id=event.id)


def _repeat(seen: CaseUpdate, body_digest: str) -> UpdateOutcome:
    if seen.body_digest != body_digest:
        raise Conflict("该更新编号已用于另一条不同的更新。", code="update_id_reused")
    return UpdateOutcome(applied=False, report_id=seen.report_id,
                         status=citizen_services.get_report(seen.report_id).status, event_id=None)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def fetch_update_photos(update_record_id: int) -> int:
    """Fetch a case update's photos (allow-listed hosts only) into media and onto its timeline step. Commits."""
    record = db.session.get(CaseUpdate, update_record_id)
    if record is None or record.report_event_id is None:
        return 0
    report = citizen_services.get_report(record.report_id)
    settings = current_config()
    # A photo on a host not allowed is never fetched, and never keeps the allowed ones off the timeline.
    allowed = [url for url in record.photo_urls if host_allowed(url, settings)]
    if len(allowed) < len(record.photo_urls):
        log.warning("case update photos on hosts not allowed", extra={"update_record_id": record.id,
                                                                      "skipped": len(record.photo_urls) - len(allowed)})
    stored = [fetch_photo(url, report.resident_id).id for url in allowed]
    _add_photos(report, record.report_event_id, stored)
    db.session.commit()
    return len(stored)


def _add_photos(report: Any, event_id: int, media_ids: Iterable[int]) -> None:
    event = next(event for event in report.events if event.id == event_id)
    citizen_services.add_case_photos(report, event, [media_services.media_info(media_id) for media_id in media_ids])


def host_allowed(url: str, settings: Config) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in settings.case_media_hosts


def fetch_photo(url: str, owner_resident_id: int) -> Any:
    """A photo from an allow-listed host, stored through the media package for this resident. Commits."""
    settings = current_config()
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

def poll_case_system(now: dt.datetime | None = None, *, lookback_days: int = 30) -> int:
    """Read what changed in the Open311 case system for our open cases; how many updates applied. Commits."""
    settings, now = current_config(), now or utcnow()
    if settings.case_system != "open311":
        return 0
    system = adapters.Open311CaseSystem(settings)
    open_statuses = (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS,
                     citizen_services.RESOLVED)
    recent = list(db.session.scalars(sa.select(CaseDelivery).where(
        CaseDelivery.status == DONE, CaseDelivery.case_system == "open311",
        CaseDelivery.delivered_at >= now - dt.timedelta(days=lookback_days))))
    still_open = citizen_services.existing_report_ids((delivery.report_id for delivery in recent), statuses=open_statuses)
    delivered = [delivery for delivery in recent if delivery.report_id in still_open]
    for delivery in delivered:
        if delivery.external_id is None and delivery.external_token:
            delivery.external_id = system.resolve_token(delivery.external_token)
    db.session.commit()
    by_request = {delivery.external_id: delivery.report_id for delivery in delivered if delivery.external_id}
    applied = 0
    for update in system.fetch_updates(by_request, since=now - dt.timedelta(days=lookback_days)):
        try:
            applied += apply_update("poll", update, body_digest=digest(update.update_id.encode()),
                                    actor_name="open311").applied
            db.session.commit()
        except Conflict as exc:
            db.session.rollback()
            log.warning("polled case update not applicable", extra={"report_id": update.report_id, "code": exc.code})
    return applied


# --- the built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案) ------------------------------------

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


def desk_queue(step: str | None, *, limit: int = 200) -> list[DeskCase]:
    query = sa.select(DeskCase)
    if step:
        query = query.where(DeskCase.step == step)
    return list(db.session.scalars(query.order_by(DeskCase.updated_at.desc(), DeskCase.id.desc()).limit(limit)))


def desk_counts() -> dict[str, int]:
    return _counts(DeskCase.step, DESK_STEP_NAMES)


def get_desk_case(case_id: int) -> DeskCase:
    return get_or_not_found(DeskCase, case_id, "案件不存在。")


def _desk_step_note(action: str, department: str | None) -> str | None:
    """What the resident reads of a desk step when the officer's note is internal (None: the status's own text)."""
    return {"register": "城市管理监督指挥中心已立案。", "dispatch": f"已派遣至{department}处置。",
            "verify": "处置结果已核查通过。"}.get(action)


def act_on_desk_case(actor: Actor, case_id: int, action: str, *, expected_version: int, note: str = "",
                     department: str | None = None, photo_media_ids: tuple[int, ...] = (),
                     public_reply: bool = False) -> DeskCase:
    """One step of the case on the desk; the report and the resident's timeline follow. Audited; commits.

    The officer's ``note`` is internal unless it is a ``public_reply``: then the resident reads it on their
    timeline and the public in the Open311 feed (masked)."""
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
    before = {"step": desk_case.step, "department": desk_case.department}
    # A step committed by someone else after the case was read shows at the commit or at any flush before it.
    try:
        desk_case.step = spec.moves[desk_case.step]
        if department:
            desk_case.department = department
        step = DeskCaseStep(action=action, step=desk_case.step, actor_name=actor.name, note=note or None,
                            media_ids=list(photo_media_ids))
        desk_case.steps.append(step)
        db.session.flush()
        update = ExternalUpdate(update_id=f"desk-step-{step.id}", report_id=desk_case.report_id,
                                status=spec.external_status, note=note or None, public=public_reply,
                                step_note=_desk_step_note(action, desk_case.department))
        outcome = apply_update("desk", update, body_digest=digest(update.update_id.encode()),
                               actor_name=f"案件台·{actor.name}")
        if photo_media_ids and outcome.event_id is not None:
            _add_photos(citizen_services.get_report(desk_case.report_id), outcome.event_id, photo_media_ids)
        record_audit(actor, f"desk_case.{action}", "desk_case", desk_case.id, before=before,
                     after={"step": desk_case.step, "department": desk_case.department, "note": note or None,
                            "public_reply": public_reply and bool(note)})
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict("该案件已被其他人处理，请刷新后查看。", code="case_changed") from None
    return desk_case


# --- resident notifications (WeChat subscribe messages) ----------------------------------------

NOTIFIED_STATUSES = (citizen_services.ACCEPTED, citizen_services.REJECTED, citizen_services.DUPLICATE,
                     citizen_services.FORWARDED, citizen_services.IN_PROGRESS, citizen_services.RESOLVED,
                     citizen_services.CLOSED)
# WeChat's limits per data key type: thing ≤ 20 characters, phrase ≤ 5, character_string ≤ 32.
_FIELD_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "name": 10}
# WeChat errcodes that sending again cannot fix: no subscription left / refused, bad openid, bad data.
_PERMANENT_WECHAT_ERRORS = {43101, 40003, 47003, 40037}


def record_subscriptions(resident_id: int, results: dict[str, str]) -> dict[str, int]:
    """What wx.requestSubscribeMessage answered ({template_id: "accept"|"reject"|"ban"}): each accept allows
    one more message of that template. Only configured templates count. Commits."""
    template_id = current_config().wechat_status_template_id
    unknown = sorted(key for key in results if key != template_id)
    if unknown:
        raise ValidationFailed("未知的订阅消息模板。", code="unknown_template", details={"template_ids": unknown})
    remaining = {}
    for template, answer in results.items():
        ours = (SubscribeGrant.resident_id == resident_id, SubscribeGrant.template_id == template)
        if db.session.scalar(sa.select(SubscribeGrant.id).where(*ours)) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(SubscribeGrant(resident_id=resident_id, template_id=template, remaining=0))
            except IntegrityError:
                pass  # A consent posted at the same moment created it first.
        # Changed in SQL, not read and written back: consents posted at once, and messages using them up, all count.
        if answer == "accept":
            db.session.execute(sa.update(SubscribeGrant).where(*ours).values(remaining=SubscribeGrant.remaining + 1))
        elif answer == "ban":
            db.session.execute(sa.update(SubscribeGrant).where(*ours).values(remaining=0))
        remaining[template] = db.session.scalar(sa.select(SubscribeGrant.remaining).where(*ours))
    db.session.commit()
    return remaining


def _message_values(report: Any, event: Any) -> dict[str, str]:
    return {"report_no": str(report.id), "category": report.category.name,
            "status": citizen_services.STATUS_NAMES[event.to_status],
            "time": event.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"), "note": event.note}


def _message_data(values: dict[str, str], fields: tuple[tuple[str, str], ...]) -> dict[str, dict[str, str]]:
    data = {}
    for key, name in fields:
        kind = key.rstrip("0123456789")
        text = values.get(name, "")
        limit = _FIELD_LIMITS.get(kind)
        if limit is not None and len(text) > limit:
            text = text[:limit - 1] + "…"
        data[key] = {"value": text}
    return data


def queue_notifications(report_id: int) -> int:
    """A subscribe message for each status change of the report not yet considered, as far as the
    resident's subscriptions go (the rest are skipped). Listens to report.status_changed. Commits."""
    settings = current_config()
    template_id = settings.wechat_status_template_id
    if not template_id:
        return 0
    report = citizen_services.get_report(report_id)
    known = set(db.session.scalars(sa.select(Notification.report_event_id).where(Notification.report_id == report_id)))
    queued = 0
    for event in citizen_services.timeline(report):
        if event.id in known or event.from_status in (None, event.to_status) or event.to_status not in NOTIFIED_STATUSES:
            continue
        try:
            with db.session.begin_nested():
                granted = db.session.execute(sa.update(SubscribeGrant).where(
                    SubscribeGrant.resident_id == report.resident_id, SubscribeGrant.template_id == template_id,
                    SubscribeGrant.remaining > 0).values(remaining=SubscribeGrant.remaining - 1)).rowcount == 1
                notification = Notification(
                    report_event_id=event.id, report_id=report.id, resident_id=report.resident_id,
                    template_id=template_id, status=PENDING if granted else SKIPPED,
                    last_error=None if granted else "no subscription left", attempts=0,
                    data=_message_data(_message_values(report, event), settings.wechat_status_template_fields),
                    enqueued_at=utcnow())
                db.session.add(notification)
        except IntegrityError:
            continue  # Another job considered this change first.
        if granted:
            enqueue_after_commit(case_jobs.send_notification, notification.id)
            queued += 1
    db.session.commit()
    return queued


def send_notification(notification_id: int, wechat: Any) -> str | None:
    """Send one subscribe message; a failure is retried later and never touches the report. Commits."""
    from wechatpy.exceptions import WeChatClientException

    settings, now = current_config(), utcnow()
    notification = _claim(Notification, notification_id, now, settings)
    if notification is None:
        return None
    if wechat is None:
        _finish(notification, FAILED, "WeChat is not configured")
        db.session.commit()
        return notification.status
    resident = citizen_services.get_resident(notification.resident_id)
    page = f"{settings.wechat_status_page}?id={notification.report_id}"
    try:
        wechat.send_subscribe_message(resident.openid, notification.template_id, notification.data, page)
    except WeChatClientException as exc:
        error = f"errcode {exc.errcode}: {exc.errmsg}"
        if exc.errcode in _PERMANENT_WECHAT_ERRORS:
            _finish(notification, FAILED, error)
        else:
            _retry_later(notification, error, now, settings)
    except requests.RequestException as exc:
        _retry_later(notification, f"unreachable: {type(exc).__name__}", now, settings)
    else:
        _finish(notification, DONE)
        notification.sent_at = now
    db.session.commit()
    return notification.status


def notifications_for(report_id: int) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.report_id == report_id)
                                   .order_by(Notification.id)))


# --- our Open311 GeoReport v2 server -----------------------------------------------------------

# When the service list last changed shape (Open311's "changeset").
CHANGESET = "2026-11-29T00:00:00+08:00"
OPEN311_OPEN = (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS)
OPEN311_CLOSED = (citizen_services.RESOLVED, citizen_services.CLOSED)
OPEN311_DEFAULT_DAYS, OPEN311_MAX_ROWS = 90, 1000
OPEN311_DEFAULT_PAGE_SIZE, OPEN311_MAX_PAGE_SIZE = 50, 100


def _open311_time(value: dt.datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value else None


def service_list() -> list[dict[str, Any]]:
    return [{"service_code": category.id, "service_name": category.name, "description": category.hint or None,
             "metadata": False, "type": "realtime", "keywords": category.code,
             "group": category.class_name} for category in citizen_services.list_categories()]


def service_definition(code: str) -> dict[str, Any]:
    if code not in {category.id for category in citizen_services.list_categories()}:
        raise NotFound(f"service_code {code} not found")
    return {"service_code": code, "attributes": []}


def _open311_requests(reports: list[Any]) -> list[dict[str, Any]]:
    """The public version of reports: masked text, the latest public reply, the blurred copy of the first photo a
    moderator made public; nothing of the resident, their evidence or officers' internal notes."""
    ids = [report.id for report in reports]
    departments = dict(db.session.execute(sa.select(DeskCase.report_id, DeskCase.department)
                                          .where(DeskCase.report_id.in_(ids))).all()) if ids else {}
    photos = {report_id: media_ids[0] for report_id, media_ids in citizen_services.public_photo_ids(reports).items()
              if media_ids}
    urls = media_services.media_urls_by_id(photos.values())
    answers = []
    for report in reports:
        reply = citizen_services.latest_public_reply(report)
        answers.append({
            "service_request_id": str(report.id),
            "status": "closed" if report.status in OPEN311_CLOSED else "open",
            "status_notes": reply.note if reply else None, "service_name": report.category.name,
            "service_code": report.category_id, "description": report.public_description,
            "agency_responsible": departments.get(report.id), "service_notice": None,
            "requested_datetime": _open311_time(report.created_at),
            "updated_datetime": _open311_time(report.events[-1].occurred_at),
            "expected_datetime": None, "address": report.address or None, "address_id": None, "zipcode": None,
            "lat": report.lat, "long": report.lng,
            "media_url": urls.get(photos.get(report.id), {}).get("large"),
        })
    return answers


def public_request(report_id: int) -> dict[str, Any]:
    reports = citizen_services.find_reports(ids=[report_id], statuses=OPEN311_OPEN + OPEN311_CLOSED)
    if not reports:
        raise NotFound(f"service_request_id {report_id} not found")
    return _open311_requests(reports)[0]


def _open311_date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name} is not a W3C date-time") from None
    try:
        # Compared with times stored in UTC: year 1 east of UTC or 9999 west of it has no UTC time.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)).astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValidationFailed(f"{name} is out of range") from None


def _open311_number(args: Any, name: str, default: int, maximum: int) -> int:
    text = args.get(name)
    if text in (None, ""):
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise ValidationFailed(f"{name} must be a whole number from 1 to {maximum}")
    return int(text)


def find_requests(args: Any, *, now: dt.datetime) -> list[dict[str, Any]]:
    """GET requests: by ids, or by service_code / status / dates (default: the last 90 days), a page at a time
    (``page`` from 1, ``page_size`` up to OPEN311_MAX_PAGE_SIZE: an extension of GeoReport v2)."""
    page_size = _open311_number(args, "page_size", OPEN311_DEFAULT_PAGE_SIZE, OPEN311_MAX_PAGE_SIZE)
    # Deeper pages are read with start_date and end_date: an offset that far costs the database the whole scan.
    page = _open311_number(args, "page", 1, OPEN311_MAX_ROWS // page_size)
    ids_text = args.get("service_request_id")
    if ids_text:
        try:
            ids = [int(part) for part in ids_text.split(",") if part.strip()]
        except ValueError:
            raise ValidationFailed("service_request_id must be a comma-separated list of ids") from None
        if len(ids) > OPEN311_MAX_PAGE_SIZE:
            raise ValidationFailed(f"service_request_id takes at most {OPEN311_MAX_PAGE_SIZE} ids")
        # An id no database id can be is an unknown request, not a database error.
        ids = [request_id for request_id in ids if 0 < request_id <= MAX_DATABASE_ID]
        return _open311_requests(citizen_services.find_reports(ids=ids, statuses=OPEN311_OPEN + OPEN311_CLOSED))
    status = args.get("status")
    if status not in (None, "", "open", "closed"):
        raise ValidationFailed("status must be open or closed")
    statuses = {"open": OPEN311_OPEN, "closed": OPEN311_CLOSED}.get(status or "", OPEN311_OPEN + OPEN311_CLOSED)
    until = _open311_date(args.get("end_date"), "end_date")
    since = _open311_date(args.get("start_date"), "start_date")
    if since is None:
        # The default window, clipped at the earliest time there is.
        window = dt.timedelta(days=OPEN311_DEFAULT_DAYS)
        since = max(until or now, dt.datetime.min.replace(tzinfo=dt.timezone.utc) + window) - window
    codes = [code for code in (args.get("service_code") or "").split(",") if code]
    reports = citizen_services.find_reports(category_ids=codes or None, statuses=statuses, since=since, until=until,
                                            limit=page_size, offset=(page - 1) * page_size)
    return _open311_requests(reports)


def token_answer(token: str) -> dict[str, Any]:
    filed = db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token))
    if filed is None:
        raise NotFound("token not found")
    public = citizen_services.find_reports(ids=[filed.report_id], statuses=OPEN311_OPEN + OPEN311_CLOSED)
    return {"service_request_id": str(filed.report_id) if public else None, "token": token}


def file_request(client: str, fields: dict[str, str], *, token: str, ip_address: str | None,
                 settings: Config, screen_text_later: bool) -> dict[str, Any]:
    """POST requests: a pending_review report of the client's resident, answered with a token. Commits.

    ``screen_text_later`` as for the mini-program's reports: the outside text check runs on these too."""
    filed = db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token))
    if filed is not None:
        return {"token": token, "service_notice": "该请求已提交过。"}
    missing = [name for name in ("service_code", "lat", "long", "description", "media_url") if not fields.get(name)]
    if missing:
        raise ValidationFailed(f"required: {', '.join(missing)} (this city needs a location and a photo)")
    try:
        lat, lng = float(fields["lat"]), float(fields["long"])
    except ValueError:
        raise ValidationFailed("lat and long must be numbers (WGS-84)") from None
    if fields["service_code"] not in {category.id for category in citizen_services.list_categories()}:
        raise ValidationFailed(f"service_code {fields['service_code']} not found")
    account = WeChatIdentity(openid=f"{citizen_services.API_CLIENT_OPENID_PREFIX}{client}", unionid=None)
    resident = citizen_services.sign_in_resident(account)
    photo = fetch_photo(fields["media_url"], resident.id)
    draft = citizen_services.ReportDraft(
        category_id=fields["service_code"], description=fields["description"][:500], lat=lat, lng=lng,
        coord_type="wgs84", address=(fields.get("address_string") or "")[:200], media_ids=(photo.id,))
    submission = citizen_services.submit_report(resident.id, draft, idempotency_key=token, ip_address=ip_address,
                                                settings=settings, screen_text_later=screen_text_later)
    try:
        with db.session.begin_nested():
            db.session.add(Open311Request(token=token, client=client, report_id=submission.report.id))
    except IntegrityError:
        # The same request posted at once (a client retrying): the report is one, and so is its token.
        return {"token": token, "service_notice": "该请求已提交过。"}
    db.session.commit()
    return {"token": token, "service_notice": "已提交，审核受理后可按 token 查询 service_request_id。"}


# --- residents' data rights ---------------------------------------------------------------------

def export_resident_data(resident_id: int) -> dict[str, Any]:
    """The resident's subscribe-message consents and the messages sent or due about their reports."""
    grants = db.session.scalars(sa.select(SubscribeGrant).where(SubscribeGrant.resident_id == resident_id))
    notifications = db.session.scalars(sa.select(Notification).where(Notification.resident_id == resident_id)
                                       .order_by(Notification.id))
    return {"subscriptions": [row_dict(grant, exclude=("id", "resident_id")) for grant in grants],
            "notifications": [row_dict(item, exclude=("resident_id", "lease_until", "enqueued_at", "last_error"))
                              for item in notifications]}


def forget_resident(resident_id: int) -> None:
    """Consents and messages go. The city's case records hold only report ids: what they show of a report
    is read from the citizen package, which anonymises it. The caller commits."""
    for model in (SubscribeGrant, Notification):
        db.session.execute(sa.delete(model).where(model.resident_id == resident_id))
