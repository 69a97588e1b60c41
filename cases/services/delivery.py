"""Forwarding accepted reports to the case system (the outbox), and the deliveries page staff retry them from.

Other packages reach ``open_delivery(report_id)`` inside the transaction that accepts a report; the attempts
run in jobs (``cases.jobs``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from cases import adapters
from cases.adapters import OutgoingCase, PermanentFailure, Receipt, TransientFailure
from cases.models import CaseDelivery, CaseReopening, DeliveryAttempt, OutboxMixin
from cases.services.desk import open_desk_case, rework_desk_case
from cases.services.outbox import (DONE, FAILED, OUTBOX_STATUS_NAMES, PENDING, RETRYING, SWEEP_BATCH, WORKING, claim,
                                   finish, retry_later, status_counts)
from cases.settings import CaseSettings
from citizen import services as citizen_services
from core.config import Config, current_settings
from core.db import db, utcnow
from core.jobs import enqueue_after_commit
from core.links import public_url
from core.privacy import mask_personal_data
from core.services import SYSTEM_ACTOR, Actor, record_audit
from media import services as media_services

log = logging.getLogger(__name__)


# --- deliveries ------------------------------------------------------------------------------

def open_delivery(report_id: int, *, case_system: str | None = None) -> CaseDelivery:
    """The forwarding record of an accepted report, in the caller's transaction; its job runs after commit.

    As the handler of a report's acceptance it is called with the report id only: the case system is then the
    running app's, the one setting a service here reads for itself."""
    delivery = db.session.scalar(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id))
    if delivery is None:
        now = utcnow()
        delivery = CaseDelivery(report_id=report_id,
                                case_system=case_system or current_settings(CaseSettings).case_system,
                                status=PENDING, attempts=0, next_attempt_at=now, enqueued_at=now)
        db.session.add(delivery)
        db.session.flush()
        enqueue_after_commit("cases.jobs.deliver", delivery.id)
    return delivery


def case_system(name: str, settings: CaseSettings) -> adapters.CaseSystem:
    if name == "open311":
        return adapters.Open311CaseSystem(settings)
    if name == "webhook":
        return adapters.WebhookCaseSystem(settings)
    return adapters.DeskCaseSystem(open_desk_case)


def deliver(delivery_id: int, settings: CaseSettings, app_config: Config) -> str | None:
    """One attempt at handing a report to the case system; the new status, or None if not ours to try.

    ``app_config``: the app's own settings, for the public links to the report's photos."""
    now = utcnow()
    delivery = claim(CaseDelivery, delivery_id, now, settings)
    if delivery is None:
        return None
    system = case_system(delivery.case_system, settings)
    outcome = _attempt(delivery, lambda: system.submit(outgoing_case(delivery.report_id, settings, app_config)),
                       lambda receipt: _record_delivered(delivery, receipt, system.name), now, settings)
    delivery.attempt_log.append(DeliveryAttempt(started_at=now, outcome=outcome[0], detail=(outcome[1] or "")[:500]))
    db.session.flush()
    log.info("case delivery attempt", extra={"delivery_id": delivery.id, "report_id": delivery.report_id,
                                             "outcome": outcome[0], "attempt": delivery.attempts})
    return delivery.status


def _attempt(row: OutboxMixin, send: Callable[[], Receipt], delivered: Callable[[Receipt], None], now: dt.datetime,
             settings: CaseSettings) -> tuple[str, str | None]:
    """One call to the case system for an outbox row: failed, retried later or ``delivered``; (status, detail)."""
    try:
        receipt = send()
    except PermanentFailure as exc:
        finish(row, FAILED, str(exc))
        return FAILED, str(exc)
    except TransientFailure as exc:
        retry_later(row, str(exc), now, settings)
        return row.status, str(exc)
    delivered(receipt)
    return DONE, receipt.external_id or receipt.token


def _record_delivered(delivery: CaseDelivery, receipt: Receipt, system_name: str) -> None:
    finish(delivery, DONE)
    delivery.delivered_at = utcnow()
    delivery.external_id, delivery.external_token = receipt.external_id, receipt.token
    report = citizen_services.get_report(delivery.report_id)
    if report.status == citizen_services.ACCEPTED:
        citizen_services.transition(report, citizen_services.FORWARDED, actor_kind="case_system",
                                    actor_name=system_name)


def outgoing_case(report_id: int, settings: CaseSettings, app_config: Config) -> OutgoingCase:
    report = citizen_services.get_report(report_id)
    photos = []
    for item in report.media:
        if item.kind == "photo" and item.purpose == "evidence":
            url = media_services.media_urls(item.media_id, ttl_seconds=settings.case_media_url_ttl_seconds).get("large")
            if url:
                photos.append(public_url(url, app_config))
    accepted_at = next((event.occurred_at for event in report.events
                        if event.to_status == citizen_services.ACCEPTED), report.created_at)
    return OutgoingCase(report_id=report.id, category_id=report.category_id, category_name=report.category.name,
                        description=report.description, lat=report.lat, lng=report.lng, address=report.address,
                        district=report.district, photo_urls=tuple(photos), accepted_at=accepted_at)


# --- reopened reports ---------------------------------------------------------------------------

def reopen_case(report_id: int, reason: str, sequence: int) -> None:
    """A resident reopened a closed report (the handler of its reopening, in that transaction): the desk reworks
    its case at once (back to 处置); another case system gets a new request referring to the old one, from an
    outbox row whose job runs after commit. A report never forwarded has no case to reopen.

    The case records keep the resident's reason masked (phone numbers, identity card numbers, plates), as they keep
    no other personal data: a resident's erasure has nothing to remove here. A new request refers to the latest
    one the report was sent as."""
    delivery = db.session.scalar(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id))
    if delivery is None:
        return
    reason = mask_personal_data(reason)[:500]
    if delivery.case_system not in ("open311", "webhook"):
        rework_desk_case(report_id, reason)
        return
    now = utcnow()
    reopening = CaseReopening(report_id=report_id, sequence=sequence, reason=reason, case_system=delivery.case_system,
                              previous_external_id=_latest_request(delivery), status=PENDING,
                              attempts=0, next_attempt_at=now, enqueued_at=now)
    db.session.add(reopening)
    db.session.flush()
    record_audit(SYSTEM_ACTOR, "case_reopening.open", "case_reopening", reopening.id,
                 after={"report_id": report_id, "sequence": sequence, "case_system": delivery.case_system})
    enqueue_after_commit("cases.jobs.deliver_reopening", reopening.id)


def _latest_request(delivery: CaseDelivery) -> str | None:
    """The case system's id of the latest request a report was sent as: its last reopening's, or its own."""
    reopened_as = db.session.scalar(sa.select(CaseReopening.external_id).where(
        CaseReopening.report_id == delivery.report_id, CaseReopening.external_id.is_not(None))
        .order_by(CaseReopening.sequence.desc()).limit(1))
    return reopened_as or delivery.external_id or delivery.external_token


def deliver_reopening(reopening_id: int, settings: CaseSettings, app_config: Config) -> str | None:
    """One attempt at sending a reopened report to the case system; the new status, or None if not ours to try."""
    now = utcnow()
    reopening = claim(CaseReopening, reopening_id, now, settings)
    if reopening is None:
        return None
    system = case_system(reopening.case_system, settings)
    if not isinstance(system, adapters.Open311CaseSystem | adapters.WebhookCaseSystem):
        finish(reopening, FAILED, f"{system.name} takes no reopenings")
        return reopening.status

    def delivered(receipt: Receipt) -> None:
        finish(reopening, DONE)
        reopening.delivered_at, reopening.external_id = utcnow(), receipt.external_id or receipt.token

    outcome = _attempt(reopening, lambda: system.reopen(adapters.Reopening(
        outgoing_case(reopening.report_id, settings, app_config), reopening.sequence, reopening.reason,
        reopening.previous_external_id)), delivered, now, settings)
    db.session.flush()
    log.info("case reopening attempt", extra={"reopening_id": reopening.id, "report_id": reopening.report_id,
                                              "outcome": outcome[0], "attempt": reopening.attempts})
    return reopening.status


# --- the deliveries page -----------------------------------------------------------------------

def deliveries(status: str | None, *, limit: int = 200) -> list[CaseDelivery]:
    query = sa.select(CaseDelivery)
    if status:
        query = query.where(CaseDelivery.status == status)
    return list(db.session.scalars(query.order_by(CaseDelivery.next_attempt_at, CaseDelivery.id).limit(limit)))


def delivery_counts() -> dict[str, int]:
    return status_counts(CaseDelivery.status, OUTBOX_STATUS_NAMES)


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
    """Try failed or waiting deliveries again now (all of them when no ids are given); audited; how many.

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
        enqueue_after_commit("cases.jobs.deliver", delivery.id)
        reset += 1
    return reset


