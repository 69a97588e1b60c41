"""The resident's view of their rewards, claiming one, and the resident's data rights."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.db import db
from core.errors import Conflict, NotFound
from core.jobs import enqueue_after_commit
from core.privacy import row_dict
from core.services import SYSTEM_ACTOR
from rewards.models import ExcludedResident, Reward
from rewards.services.approvals import reverse_reward
from rewards.services.ledger import ledger_for
from rewards.services.payouts import PAY_REWARD_JOB, open_payout
from rewards.services.states import APPROVED, GRANTED, PAID, PAYING, STATE_NAMES, UNPAID, WAIT_USER_CONFIRM


def resident_rewards(resident_id: int) -> list[Reward]:
    return list(db.session.scalars(sa.select(Reward).where(Reward.resident_id == resident_id)
                                   .order_by(Reward.id.desc())))


def claim(resident_id: int, reward_id: int) -> dict[str, Any]:
    """What the mini-program needs for wx.requestMerchantTransfer, or where the payout stands.

    A bill that expired unconfirmed (or failed) is final and unpaid: claiming starts a new one.
    """
    reward = db.session.get(Reward, reward_id)
    if reward is None or reward.resident_id != resident_id:
        raise NotFound("奖励不存在。")
    if reward.state == PAID:
        return {"state": "paid"}
    if reward.state not in {APPROVED, PAYING, UNPAID}:
        raise Conflict(f"该奖励当前不可领取（{STATE_NAMES[reward.state]}）。", code="reward_not_claimable",
                       details={"state": reward.state})
    payout = open_payout(reward.id)
    if payout is not None and payout.state == WAIT_USER_CONFIRM and payout.package_info:
        return {"state": "ready", "package_info": payout.package_info}
    if reward.state == UNPAID:
        enqueue_after_commit(PAY_REWARD_JOB, reward.id)
    return {"state": "processing"}


def export_resident_data(resident_id: int) -> list[dict[str, Any]]:
    """The resident's rewards, each with its money events."""
    entries = ledger_for(resident_id=resident_id)
    return [{**row_dict(reward, exclude=("resident_id", "hold_signals", "released_by")),
             "ledger": [row_dict(entry, exclude=("resident_id", "reward_id", "campaign_id", "actor_name", "dedupe_key"))
                        for entry in entries if entry.reward_id == reward.id]}
            for reward in resident_rewards(resident_id)]


def forget_resident(resident_id: int) -> None:
    """Rewards and ledger entries keep their amounts (a campaign's accounts must still add up) and point at
    an account that no longer holds an openid; grants not yet sent are taken back, since nobody can receive
    them. The caller commits."""
    for reward in resident_rewards(resident_id):
        if reward.state in {GRANTED, APPROVED, UNPAID}:
            reverse_reward(SYSTEM_ACTOR, reward.id, note="反映人已注销账户")
    db.session.execute(sa.delete(ExcludedResident).where(ExcludedResident.resident_id == resident_id))
