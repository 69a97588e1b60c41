"""Reconciliation: the ledger, the rewards, the payouts and the budgets must agree."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from core.db import db
from rewards.models import LedgerEntry, Payout, Reward
from rewards.services.campaigns import campaigns
from rewards.services.ledger import budget_used
from rewards.services.states import (CANCELLED, FAIL, FINAL_BILL_STATES, HELD, L_FAILED, L_GRANTED, L_PAID,
                                     L_PAYOUT_REQUESTED, L_REVERSED, PAID, PENDING, REFUSED, REVERSED, SUCCESS)


@dataclasses.dataclass(frozen=True)
class Difference:
    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


def reconcile() -> list[Difference]:
    """Check that the ledger, the rewards, the payouts and the budgets agree; each disagreement is listed."""
    sums: dict[int, dict[str, tuple[int, int]]] = {}
    for reward_id, kind, count, total in db.session.execute(
            sa.select(LedgerEntry.reward_id, LedgerEntry.kind, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen))
            .group_by(LedgerEntry.reward_id, LedgerEntry.kind)):
        sums.setdefault(reward_id, {})[kind] = (int(count), int(total or 0))
    payouts: dict[int, list[Payout]] = {}
    for payout in db.session.scalars(sa.select(Payout).order_by(Payout.id)):
        payouts.setdefault(payout.reward_id, []).append(payout)
    entries_by_payout = {(payout_id, kind): (count, total) for payout_id, kind, count, total in db.session.execute(
        sa.select(LedgerEntry.payout_id, LedgerEntry.kind, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.payout_id.is_not(None)).group_by(LedgerEntry.payout_id, LedgerEntry.kind))}
    differences: list[Difference] = []
    for reward in db.session.scalars(sa.select(Reward).order_by(Reward.id)):
        differences += _reconcile_reward(reward, sums.get(reward.id, {}), payouts.get(reward.id, []), entries_by_payout)
    for campaign in campaigns():
        used = budget_used(campaign.id)
        if used > campaign.budget_fen:
            differences.append(Difference(f"campaign {campaign.id}",
                                          f"budget overdrawn: {used} fen granted of {campaign.budget_fen}"))
    return differences


def _reconcile_reward(reward: Reward, sums: dict[str, tuple[int, int]], payouts: list[Payout],
                      entries_by_payout: dict[tuple[int, str], tuple[int, int]]) -> list[Difference]:
    subject = f"reward {reward.id}"
    differences = []

    def count(kind: str) -> int:
        return sums.get(kind, (0, 0))[0]

    granted, paid = sums.get(L_GRANTED, (0, 0)), sums.get(L_PAID, (0, 0))
    if granted[0] > 1 or (granted[0] == 1 and granted[1] != reward.amount_fen):
        differences.append(Difference(subject,
                                      f"granted {granted[0]}x, {granted[1]} fen; reward says {reward.amount_fen}"))
    if granted[0] == 0 and (reward.state not in {PENDING, HELD, REFUSED} or len(sums) > 0):
        differences.append(Difference(subject, f"state {reward.state} without a grant in the ledger"))
    if paid[0] > 1 or paid[1] > granted[1]:
        differences.append(Difference(subject, f"paid {paid[0]}x, {paid[1]} fen of {granted[1]} granted"))
    if (reward.state == PAID) != (paid[0] == 1) or (reward.state == REVERSED) != (count(L_REVERSED) == 1):
        differences.append(Difference(subject, f"state {reward.state} disagrees with the ledger"))
    if count(L_REVERSED) and paid[0]:
        differences.append(Difference(subject, "both paid and reversed"))
    if count(L_PAYOUT_REQUESTED) != len(payouts):
        differences.append(Difference(subject, f"{count(L_PAYOUT_REQUESTED)} payout requests, {len(payouts)} bills"))
    successful = sum(payout.state == SUCCESS for payout in payouts)
    if successful > 1:
        differences.append(Difference(subject, "more than one successful bill"))
    if paid[0] != successful:
        differences.append(Difference(subject, f"paid {paid[0]}x in the ledger, {successful} successful bill(s)"))
    if sum(payout.state not in FINAL_BILL_STATES for payout in payouts) > 1:
        differences.append(Difference(subject, "more than one open bill"))
    for payout in payouts:
        expected = {SUCCESS: L_PAID, FAIL: L_FAILED, CANCELLED: L_FAILED}.get(payout.state)
        for kind in (L_PAID, L_FAILED):
            found = entries_by_payout.get((payout.id, kind), (0, 0))
            if found[0] != (1 if kind == expected else 0) or (found[0] and found[1] != payout.amount_fen):
                differences.append(Difference(f"payout {payout.out_bill_no}",
                                              f"state {payout.state} but {found[0]} '{kind}' ledger entries"))
    return differences
