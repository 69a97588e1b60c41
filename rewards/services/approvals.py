"""Approvals and reversals of granted rewards, and residents excluded from earning."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citizen import services as citizen_services
from core.db import db
from core.errors import Conflict, ValidationFailed
from core.jobs import enqueue_after_commit
from core.services import Actor, record_audit
from rewards.models import ExcludedResident, LedgerEntry, Reward
from rewards.services.ledger import append_entry, lock
from rewards.services.payouts import PAY_REWARD_JOB
from rewards.services.states import (APPROVED, EXCLUSION_REASONS, GRANTED, L_APPROVED, L_REVERSED, REVERSED,
                                     UNPAID)


@dataclasses.dataclass
class ApprovalResult:
    approved: list[int] = dataclasses.field(default_factory=list)
    awaiting_second: list[int] = dataclasses.field(default_factory=list)
    skipped: dict[int, str] = dataclasses.field(default_factory=dict)


def approvers(reward_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(LedgerEntry.actor_name).where(
        LedgerEntry.reward_id == reward_id, LedgerEntry.kind == L_APPROVED).order_by(LedgerEntry.id)))


def approve_rewards(actor: Actor, reward_ids: Iterable[int]) -> ApprovalResult:
    """Approve granted rewards; those granted above their campaign's threshold need a second, different officer."""
    result = ApprovalResult()
    for reward_id in sorted(set(reward_ids)):
        reward = lock(Reward, reward_id)
        if reward is None or reward.state != GRANTED:
            result.skipped[reward_id] = "不在待审批状态"
            continue
        already = approvers(reward_id)
        if actor.name in already:
            result.skipped[reward_id] = "需由另一位奖励专员复核审批"
            continue
        append_entry(reward, L_APPROVED, 0, actor_name=actor.name, dedupe_key=f"approve:{reward.id}:{len(already) + 1}")
        if len(already) + 1 >= reward.approvals_required:
            reward.state = APPROVED
            result.approved.append(reward_id)
            enqueue_after_commit(PAY_REWARD_JOB, reward_id)
        else:
            result.awaiting_second.append(reward_id)
        record_audit(actor, "reward.approve", "reward", reward_id, before={"state": GRANTED},
                     after={"state": reward.state, "approval": len(already) + 1})
    return result


def reverse_reward(actor: Actor, reward_id: int, *, note: str) -> Reward:
    """Take back an unpaid grant; its fen return to the budget and the resident's caps."""
    reward = lock(Reward, reward_id)
    if reward is None or reward.state not in {GRANTED, APPROVED, UNPAID}:
        raise Conflict("只能撤销尚未转账的奖励。", code="reward_not_reversible")
    if not note.strip():
        raise ValidationFailed("请填写撤销原因。", code="note_required")
    before = {"state": reward.state}
    append_entry(reward, L_REVERSED, reward.amount_fen, actor_name=actor.name, dedupe_key=f"reverse:{reward.id}",
            note=note.strip())
    reward.state = REVERSED
    record_audit(actor, "reward.reverse", "reward", reward.id, before=before,
                 after={"state": REVERSED, "note": note.strip()})
    return reward


def exclude_resident(actor: Actor, resident_id: int, *, reason: str, note: str = "") -> ExcludedResident:
    if reason not in EXCLUSION_REASONS:
        raise ValidationFailed("排除原因无效，请从列表中选择。",
                               details={"fields": {"reason": list(EXCLUSION_REASONS)}})
    citizen_services.get_resident(resident_id)
    exclusion = db.session.get(ExcludedResident, resident_id)
    if exclusion is not None:
        return exclusion
    try:
        with db.session.begin_nested():
            exclusion = ExcludedResident(resident_id=resident_id, reason=reason, note=note.strip()[:200],
                                         created_by=actor.name)
            db.session.add(exclusion)
            record_audit(actor, "reward.exclude_resident", "resident", resident_id,
                         after={"reason": reason, "note": exclusion.note})
    except IntegrityError:
        # Excluded by another request at the same moment (a double click): that exclusion and its audit entry stand.
        exclusion = db.session.get(ExcludedResident, resident_id)
        if exclusion is None:
            raise
    return exclusion
