"""The outbox both deliveries and notifications are: rows claimed under a lease, retried with backoff, swept.

Each attempt is claimed in its own short transaction before the slow call it makes (to the case system, to
WeChat), so that a worker that dies mid-call leaves a lease that runs out, not a row that looks untouched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import sqlalchemy as sa

from cases.models import CaseDelivery, CaseReopening, Notification, OutboxMixin
from cases.settings import CaseSettings
from core.db import commit_early, db, utcnow
from core.jobs import enqueue_after_commit

# The states of every outbox row (deliveries and notifications).
PENDING, WORKING, DONE, RETRYING, FAILED, SKIPPED = "pending", "working", "done", "retrying", "failed", "skipped"
# A notification a newer change of its report replaced before it went (its permission used by that one).
COALESCED = "coalesced"
OUTBOX_STATUS_NAMES = {PENDING: "待发送", WORKING: "发送中", DONE: "已送达", RETRYING: "等待重试", FAILED: "失败",
                       SKIPPED: "无需发送", COALESCED: "已合并"}
SWEEP_BATCH = 500


def backoff_seconds(attempts: int, settings: CaseSettings) -> float:
    """Exponential backoff with "equal jitter": half the doubling delay fixed, half random."""
    ceiling = min(settings.case_delivery_backoff_max_seconds,
                  settings.case_delivery_backoff_base_seconds * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def claim(model: type[OutboxMixin], row_id: int, now: dt.datetime, settings: CaseSettings) -> Any:
    """Take the row for one attempt under a lease, or None when it is done, failed, or being worked on."""
    lease = now + dt.timedelta(seconds=settings.case_delivery_lease_seconds)
    claimable = sa.or_(model.status.in_((PENDING, RETRYING)),
                       sa.and_(model.status == WORKING, model.lease_until <= now))
    result = db.session.execute(sa.update(model).where(model.id == row_id, claimable).values(
        status=WORKING, lease_until=lease, attempts=model.attempts + 1, updated_at=now))
    commit_early("an attempt is claimed under its lease before the slow call to the case system or WeChat: "
                 "a worker that dies in the call leaves a lease that runs out, and no second worker tries meanwhile")
    if result.rowcount != 1:
        return None
    return db.session.get(model, row_id)


def finish(row: OutboxMixin, status: str, error: str | None = None) -> None:
    row.status, row.lease_until, row.last_error = status, None, error[:500] if error else None


def retry_later(row: OutboxMixin, error: str, now: dt.datetime, settings: CaseSettings) -> None:
    if row.attempts >= settings.case_delivery_max_attempts:
        finish(row, FAILED, f"gave up after {row.attempts} attempts: {error}")
        return
    finish(row, RETRYING, error)
    row.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(row.attempts, settings))
    row.enqueued_at = None


def status_counts(column: Any, names: dict[str, str], *conditions: Any) -> dict[str, int]:
    """How many rows (meeting ``conditions``) have each value of ``column``, every one of ``names`` present (0 when
    none)."""
    counts = dict.fromkeys(names, 0)
    counts.update({value: count for value, count in db.session.execute(sa.select(column, sa.func.count())
                                                                       .where(*conditions).group_by(column))})
    return counts


# --- the sweep: nothing accepted is left behind ------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SweepResult:
    deliveries: int
    notifications: int
    reopenings: int = 0


def _due(model: type[OutboxMixin], now: dt.datetime, settings: CaseSettings) -> list[int]:
    """Rows whose next try is due and that no queued job is known to hold: lost with Redis or a worker."""
    forgotten = now - dt.timedelta(seconds=settings.case_delivery_requeue_after_seconds)
    waiting = sa.and_(model.status.in_((PENDING, RETRYING)), model.next_attempt_at <= now,
                      sa.or_(model.enqueued_at.is_(None), model.enqueued_at <= forgotten))
    abandoned = sa.and_(model.status == WORKING, model.lease_until <= now)
    return list(db.session.scalars(sa.select(model.id).where(sa.or_(waiting, abandoned))
                                   .order_by(model.next_attempt_at).limit(SWEEP_BATCH)))


def sweep(settings: CaseSettings, now: dt.datetime | None = None) -> SweepResult:
    """Queue every delivery and notification that is due, or was lost with a worker or with Redis."""
    now = now or utcnow()
    found = {}
    for model, job in ((CaseDelivery, "cases.jobs.deliver"), (Notification, "cases.jobs.send_notification"),
                       (CaseReopening, "cases.jobs.deliver_reopening")):
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
    return SweepResult(deliveries=found[CaseDelivery], notifications=found[Notification],
                       reopenings=found[CaseReopening])
