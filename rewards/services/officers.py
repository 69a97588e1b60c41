"""What the officers' pages list: rewards by state, payouts, and the ledger for the finance office."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from core.db import db
from rewards.models import LedgerEntry, Payout, Reward
from rewards.services.states import WAIT_USER_CONFIRM


def rewards_in(*states: str, limit: int = 200) -> list[Reward]:
    return list(db.session.scalars(sa.select(Reward).where(Reward.state.in_(states)).order_by(Reward.id).limit(limit)))


def reward_count(*states: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Reward).where(Reward.state.in_(states))) or 0


def payouts_query(state: str | None) -> sa.Select[tuple[Payout]]:
    query = sa.select(Payout).order_by(Payout.id.desc())
    return query.where(Payout.state == state) if state else query


def payouts_awaiting_resend() -> int:
    """Bills the resident cannot confirm, and those the sweep is cancelling to send again."""
    return db.session.scalar(sa.select(sa.func.count()).where(sa.or_(
        sa.and_(Payout.state == WAIT_USER_CONFIRM, Payout.package_info.is_(None)),
        sa.and_(Payout.state == "CANCELING", Payout.resend_after_cancel.is_(True))))) or 0


def payout_state_counts() -> dict[str, int]:
    return {state: count for state, count in db.session.execute(
        sa.select(Payout.state, sa.func.count()).group_by(Payout.state))}


def ledger_export_rows() -> Iterable[tuple[LedgerEntry, str | None, int]]:
    """Every ledger entry with its bill number and report, oldest first, for the finance office."""
    rows = db.session.execute(
        sa.select(LedgerEntry, Payout.out_bill_no, Reward.report_id)
        .join(Reward, Reward.id == LedgerEntry.reward_id)
        .outerjoin(Payout, sa.or_(Payout.ledger_entry_id == LedgerEntry.id, Payout.id == LedgerEntry.payout_id))
        .order_by(LedgerEntry.id).execution_options(yield_per=1000))
    return ((entry, out_bill_no, report_id) for entry, out_bill_no, report_id in rows)
