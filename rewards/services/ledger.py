"""The append-only ledger: every money event is a row; budget use, caps and balances are sums over it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from core.db import db, get_or_not_found, utcnow
from rewards.models import LedgerEntry, Reward
from rewards.services.states import L_GRANTED, L_PAID, L_REVERSED, shanghai_day

def _signed_grants() -> sa.ColumnElement[int]:
    """Grants count up and reversals down; the other kinds move no budget."""
    return sa.case((LedgerEntry.kind == L_GRANTED, LedgerEntry.amount_fen),
                   (LedgerEntry.kind == L_REVERSED, -LedgerEntry.amount_fen), else_=0)


def _net_granted(*conditions: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(_signed_grants()), 0)).where(*conditions)) or 0)


def budget_used(campaign_id: int) -> int:
    return _net_granted(LedgerEntry.campaign_id == campaign_id)


def resident_earned(campaign_id: int, resident_id: int, first_day: dt.date, last_day: dt.date) -> int:
    return _net_granted(LedgerEntry.campaign_id == campaign_id, LedgerEntry.resident_id == resident_id,
                        LedgerEntry.earned_on.between(first_day, last_day))


def resident_totals(resident_id: int) -> dict[str, int]:
    """What the resident has earned, been paid, and is still owed (fen), all from the ledger."""
    earned = _net_granted(LedgerEntry.resident_id == resident_id)
    paid = int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0)).where(
        LedgerEntry.resident_id == resident_id, LedgerEntry.kind == L_PAID)) or 0)
    return {"earned_fen": earned, "paid_fen": paid, "owed_fen": earned - paid}


def daily_budget_use(campaign_id: int) -> list[tuple[dt.date, int]]:
    """Net fen granted per earning day, for the budget chart."""
    rows = db.session.execute(sa.select(LedgerEntry.earned_on, sa.func.sum(_signed_grants()))
                              .where(LedgerEntry.campaign_id == campaign_id)
                              .group_by(LedgerEntry.earned_on).order_by(LedgerEntry.earned_on))
    return [(day, int(total)) for day, total in rows]


def append_entry(reward: Reward, kind: str, amount_fen: int, *, actor_name: str, dedupe_key: str, note: str = "",
                 payout_id: int | None = None) -> LedgerEntry:
    entry = LedgerEntry(reward_id=reward.id, campaign_id=reward.campaign_id, resident_id=reward.resident_id,
                        kind=kind, amount_fen=amount_fen, earned_on=reward.granted_on or shanghai_day(utcnow()),
                        payout_id=payout_id, actor_name=actor_name, note=note[:200], dedupe_key=dedupe_key)
    db.session.add(entry)
    db.session.flush()
    return entry


def lock(model: type[Any], object_id: int) -> Any:
    """The row, fresh and locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite's write transactions
    already hold the database's one lock)."""
    return db.session.scalar(sa.select(model).where(model.id == object_id).with_for_update()
                             .execution_options(populate_existing=True))


def get_reward(reward_id: int) -> Reward:
    return get_or_not_found(Reward, reward_id, "奖励不存在。")


def ledger_for(*, resident_id: int | None = None) -> list[LedgerEntry]:
    query = sa.select(LedgerEntry).order_by(LedgerEntry.id)
    if resident_id is not None:
        query = query.where(LedgerEntry.resident_id == resident_id)
    return list(db.session.scalars(query))
