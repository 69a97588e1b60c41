"""What others may read of the forwarding: the backlog of deliveries, for the metrics. Read-only."""

from __future__ import annotations

import sqlalchemy as sa

from cases.models import CaseDelivery
from cases.services.outbox import FAILED, PENDING, RETRYING, WORKING
from core.db import db, utcnow
from core.metrics import Gauge, seconds_since

# Not yet delivered; "done" and "skipped" grow for ever and are not counted at every scrape.
UNDELIVERED = (PENDING, WORKING, RETRYING, FAILED)


def delivery_gauges() -> list[Gauge]:
    """Deliveries by state (those not delivered), and the age of the oldest still to be sent (pending, working or
    retrying); one query on the (status, created_at) index."""
    rows = db.session.execute(
        sa.select(CaseDelivery.status, sa.func.count(), sa.func.min(CaseDelivery.created_at))
        .where(CaseDelivery.status.in_(UNDELIVERED)).group_by(CaseDelivery.status)).all()
    now = utcnow()
    counts = {status: 0 for status in UNDELIVERED} | {status: count for status, count, _ in rows}
    oldest = min((created for status, _, created in rows if status != FAILED), default=None)
    return [Gauge("case_deliveries", "Case deliveries not delivered, by state.", ("state",),
                  {(status,): float(count) for status, count in counts.items()}),
            Gauge("case_delivery_oldest_pending_seconds",
                  "Age of the oldest accepted report not yet delivered to the case system (0: none).",
                  samples={(): seconds_since(oldest, now)})]
