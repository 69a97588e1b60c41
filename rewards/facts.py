"""What others may read of the rewards: the payouts not final, for the metrics. Read-only."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import db, utcnow
from core.metrics import Gauge, seconds_since
from rewards.models import Payout
from rewards.services.states import FINAL_BILL_STATES


def payout_gauges() -> list[Gauge]:
    """Payouts not final by state, and the age of the oldest of each state (WAIT_USER_CONFIRM waits for the
    resident, the others for us or WeChat Pay); one query on the (state, updated_at) index."""
    rows = db.session.execute(
        sa.select(Payout.state, sa.func.count(), sa.func.min(Payout.created_at))
        .where(Payout.state.not_in(FINAL_BILL_STATES)).group_by(Payout.state)).all()
    now = utcnow()
    return [Gauge("reward_payouts_unfinished", "Payouts not final (not SUCCESS, FAIL or CANCELLED), by state.",
                  ("state",), {(state,): float(count) for state, count, _ in rows}),
            Gauge("reward_payout_oldest_unfinished_seconds", "Age of the oldest payout not final, by state.",
                  ("state",), {(state,): seconds_since(created, now) for state, _, created in rows})]
