"""Payouts through WeChat Pay's merchant transfers: one bill number per request, never sent twice blindly.

A payout is recorded (a ledger request, a bill number, an attempt counted) and committed before
WeChat Pay is called, so a worker that dies mid-call leaves a payout the next run queries first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import string
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from citizen import services as citizen_services
from core.db import commit_early, db, utcnow
from core.errors import AppError, Conflict
from core.jobs import enqueue_after_commit
from core.logs import identifier_digest
from core.services import Actor, record_audit
from rewards.models import LedgerEntry, Payout, PayoutAlert, Reward
from rewards.services.campaigns import get_campaign
from rewards.services.ledger import append_entry, get_reward, lock
from rewards.services.states import (APPROVED, BILL_STATE_NAMES, CANCELLED, COLLISION, FAIL, FINAL_BILL_STATES,
                                     L_FAILED, L_PAID, L_PAYOUT_REQUESTED, NEW_BILL_STATES, PAID, PAYING, SUCCESS,
                                     SYSTEM, UNPAID, UNSENT, WAIT_USER_CONFIRM)
from rewards.settings import RewardSettings
from rewards.wechatpay import BillAnswer, GatewayUnreachable, TransferBill, TransferGateway

log = logging.getLogger(__name__)
PAY_REWARD_JOB = "rewards.jobs.pay_reward"
# WeChat Pay's out_bill_no: at most 32 letters and digits, unique per merchant.
OUT_BILL_NO_LENGTH = 32
_OUT_BILL_ALPHABET = string.ascii_uppercase + string.digits
# Answers after which payouts pause until an officer resumes them: nothing is lost, nothing is retried blindly.
PAUSE_CODES = {"NOT_ENOUGH": "商户余额不足，转账已暂停。请充值后恢复。",
               "FREQUENCY_LIMITED": "微信支付限制了调用频率，转账已暂停。",
               "HTTP_429": "微信支付限制了调用频率，转账已暂停。",
               "QUOTA_EXCEED": "已超出商户转账额度，转账已暂停。"}


class PayoutsDisabled(AppError):
    status = 503
    code = "payouts_disabled"


def open_alert() -> PayoutAlert | None:
    return db.session.scalar(sa.select(PayoutAlert).where(PayoutAlert.resolved_at.is_(None)).order_by(PayoutAlert.id))


def _pause(code: str, detail: str) -> None:
    if open_alert() is None:
        db.session.add(PayoutAlert(code=code, message=f"{PAUSE_CODES[code]}（{detail[:80]}）"))
        log.warning("payouts paused", extra={"code": code})


def resume_payouts(actor: Actor) -> list[int]:
    """Close the alert and queue every payout that was waiting; returns the rewards queued."""
    alert = open_alert()
    if alert is not None:
        alert.resolved_at, alert.resolved_by = utcnow(), actor.name
        record_audit(actor, "reward.payouts_resume", "reward_payout_alert", alert.id, before={"code": alert.code})
    waiting = list(db.session.scalars(sa.select(Reward.id).where(Reward.state.in_((APPROVED, PAYING)))))
    for reward_id in waiting:
        enqueue_after_commit(PAY_REWARD_JOB, reward_id)
    return waiting


def open_payout(reward_id: int) -> Payout | None:
    return db.session.scalar(sa.select(Payout).where(Payout.reward_id == reward_id,
                                                     Payout.state.notin_(FINAL_BILL_STATES)).order_by(Payout.id))


def new_out_bill_no(prefix: str) -> str:
    """The deployment's prefix and random letters and digits up to 32: unique per merchant whatever other databases
    pay through it (a ledger id repeats in every database)."""
    return prefix + "".join(secrets.choice(_OUT_BILL_ALPHABET) for _ in range(OUT_BILL_NO_LENGTH - len(prefix)))


def _payee_digest(openid: str) -> str:
    return hashlib.sha256(openid.encode()).hexdigest()


def start_payout(reward_id: int, out_bill_prefix: str) -> Payout | None:
    """The reward's open payout, or a new one for an approved (or unpaid, being claimed again) reward.

    ``out_bill_no`` is drawn once with the payout, so every retry of this payout sends the same
    number and WeChat Pay can never see two bills for one request.
    """
    reward = lock(Reward, reward_id)
    if reward is None:
        return None
    existing = open_payout(reward_id)
    if existing is not None or reward.state not in {APPROVED, UNPAID}:
        return existing
    requests_so_far = db.session.scalar(sa.select(sa.func.count()).where(
        LedgerEntry.reward_id == reward_id, LedgerEntry.kind == L_PAYOUT_REQUESTED)) or 0
    entry = append_entry(reward, L_PAYOUT_REQUESTED, reward.amount_fen, actor_name=SYSTEM,
                    dedupe_key=f"request:{reward.id}:{requests_so_far + 1}")
    openid = citizen_services.get_resident(reward.resident_id).openid
    payout = Payout(reward_id=reward.id, ledger_entry_id=entry.id, out_bill_no=new_out_bill_no(out_bill_prefix),
                    amount_fen=reward.amount_fen, payee_digest=_payee_digest(openid))
    db.session.add(payout)
    reward.state = PAYING
    db.session.flush()
    return payout


def _bill(payout: Payout, reward: Reward) -> TransferBill:
    campaign = get_campaign(reward.campaign_id)
    openid = citizen_services.get_resident(reward.resident_id).openid
    return TransferBill(out_bill_no=payout.out_bill_no, openid=openid, amount_fen=payout.amount_fen,
                        remark=f"有奖随手拍奖励（反映#{reward.report_id}）"[:32],
                        scene_report_infos=(("活动名称", campaign.name[:32]), ("奖品说明", "城市问题有效反映现金奖励")))


def _ask(call: Any, *arguments: Any) -> BillAnswer | None:
    try:
        return call(*arguments)
    except GatewayUnreachable as exc:
        log.warning("wechatpay unreachable", extra={"error": str(exc)})
        return None


def pay(reward_id: int, gateway: TransferGateway) -> Payout | None:
    """Move a reward's payout forward: create its bill once, or learn what became of it.

    Never sends a create after an unknown outcome without querying first: a bill that WeChat
    accepted while we crashed or timed out is found by its ``out_bill_no`` and recorded. Each step
    is committed before WeChat Pay is called; what it answered is flushed, for the job to commit.
    """
    if open_alert() is not None:
        return None
    payout = start_payout(reward_id, gateway.out_bill_prefix)
    if payout is None or payout.state == COLLISION:
        return payout
    if payout.state == UNSENT and payout.create_attempts == 0:
        _create(payout, gateway)  # commits the new request together with its first attempt, then calls
    else:
        commit_early("start_payout's lock on the reward is not held while WeChat Pay is asked about the bill")
        payout = lock(Payout, payout.id)
        if payout.state != UNSENT:
            _refresh(payout, gateway)
        elif _refresh(payout, gateway) == "not_found":
            _create(payout, gateway)
    db.session.flush()
    return payout


def _refresh(payout: Payout, gateway: TransferGateway) -> str:
    answer = _ask(gateway.query_bill, payout.out_bill_no)
    if answer is None:
        payout.last_error = "query: no answer"
        return "unknown"
    if answer.ok and not _is_ours(payout, answer.data):
        _collide(payout, answer.data)
        return "collision"
    if answer.ok:
        apply_bill_state(payout, answer.data)
        return "found"
    if answer.not_found:
        return "not_found"
    payout.last_error = f"query: {answer.code}"[:200]
    return "unknown"


def _create(payout: Payout, gateway: TransferGateway) -> None:
    reward = get_reward(payout.reward_id)
    bill = _bill(payout, reward)
    payout.create_attempts += 1
    commit_early("the payout, its bill number and this attempt are recorded before WeChat Pay is asked to create the "
                 "bill: if this worker dies mid-call, the next run queries that number first and never pays twice")
    payout = lock(Payout, payout.id)
    answer = _ask(gateway.create_bill, bill)
    if answer is not None and answer.ok and answer.data.get("state") in NEW_BILL_STATES:
        apply_bill_state(payout, answer.data)
        return
    if answer is not None and answer.ok:
        # An older bill under this number (WeChat answers a repeated create with it): ours only if a query says so.
        _refresh(payout, gateway)
        return
    payout.last_error = f"create: {answer.code if answer else 'no answer'}"[:200]
    # Whatever went wrong, first ask what WeChat knows about this out_bill_no.
    if _refresh(payout, gateway) != "not_found" or answer is None:
        return
    if answer.code in PAUSE_CODES:
        _pause(answer.code, str(answer.data.get("message", "")))
    elif 400 <= answer.status < 500:
        # Refused outright (bad openid, parameters, no permission): final and unpaid.
        apply_bill_state(payout, {"state": FAIL, "fail_reason": answer.code})


def _is_ours(payout: Payout, data: Mapping[str, Any]) -> bool:
    """Whether a bill WeChat holds under our number pays what this payout asked, to whom it asked."""
    openid = data.get("openid")
    expected = payout.payee_digest or _payee_digest(
        citizen_services.get_resident(get_reward(payout.reward_id).resident_id).openid)
    return data.get("transfer_amount") == payout.amount_fen and isinstance(openid, str) \
        and secrets.compare_digest(_payee_digest(openid), expected)


def _collide(payout: Payout, data: Mapping[str, Any]) -> None:
    """Another payee's (or amount's) bill under our number: nothing is adopted, nothing is sent under it again."""
    openid = data.get("openid")
    log.error("out_bill_no collision: WeChat Pay holds another bill under this number; left to an officer",
              extra={"out_bill_no": payout.out_bill_no, "reward": payout.reward_id, "amount_fen": payout.amount_fen,
                     "bill_amount_fen": data.get("transfer_amount"), "bill_state": data.get("state"),
                     "bill_payee": identifier_digest(openid) if isinstance(openid, str) else None})
    payout.state = COLLISION
    payout.last_error = "query: WeChat Pay holds a bill of another payee or amount under this number"


def apply_bill_state(payout: Payout, data: Mapping[str, Any]) -> None:
    """Record what WeChat says about a bill; final states write the ledger once (dedupe keys)."""
    state = str(data.get("state") or "")
    if payout.state in FINAL_BILL_STATES or payout.state == COLLISION or state not in BILL_STATE_NAMES \
            or state in {UNSENT, COLLISION}:
        return
    payout.state = state
    payout.transfer_bill_no = data.get("transfer_bill_no") or payout.transfer_bill_no
    payout.package_info = data.get("package_info") or payout.package_info
    reward = lock(Reward, payout.reward_id)
    if state == SUCCESS:
        append_entry(reward, L_PAID, payout.amount_fen, actor_name="wechatpay", dedupe_key=f"paid:{payout.id}",
                payout_id=payout.id, note=payout.transfer_bill_no or "")
        reward.state = PAID
    elif state in {FAIL, CANCELLED}:
        _record_unpaid(payout, reward, str(data.get("fail_reason") or state), actor_name="wechatpay")


def _record_unpaid(payout: Payout, reward: Reward, reason: str, *, actor_name: str) -> None:
    payout.fail_reason = reason[:64]
    append_entry(reward, L_FAILED, payout.amount_fen, actor_name=actor_name, dedupe_key=f"failed:{payout.id}",
            payout_id=payout.id, note=payout.fail_reason)
    if reward.state == PAYING:
        reward.state = UNPAID


def sweep_payouts(gateway: TransferGateway, settings: RewardSettings, now: dt.datetime | None = None) -> int:
    """The scheduled pass: approved rewards without a bill, bills not final after a while, and bills the resident
    cannot confirm (cancelled, then sent again under a new number once WeChat has cancelled them)."""
    if open_alert() is not None:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(minutes=settings.reward_payout_query_after_minutes)
    stale = set(db.session.scalars(sa.select(Payout.reward_id).where(
        Payout.state.notin_(FINAL_BILL_STATES | {COLLISION}), Payout.updated_at < cutoff)))
    stale |= set(db.session.scalars(sa.select(Reward.id).where(Reward.state == APPROVED, Reward.updated_at < cutoff)))
    later = aliased(Payout)
    # Cancelled for resending, the cancellation learnt from a notification: the reward waits unpaid for its new bill.
    stale |= set(db.session.scalars(sa.select(Payout.reward_id).join(Reward, Reward.id == Payout.reward_id).where(
        Payout.resend_after_cancel.is_(True), Payout.state == CANCELLED, Reward.state == UNPAID,
        ~sa.exists().where(later.reward_id == Payout.reward_id, later.id > Payout.id))))
    for reward_id in sorted(stale):
        payout = pay(reward_id, gateway)
        if payout is not None and unconfirmable(payout):
            payout = _cancel_to_resend(payout.id, gateway)
        if payout is not None and payout.state == CANCELLED and payout.resend_after_cancel:
            pay(reward_id, gateway)
    return len(stale)


def unconfirmable(payout: Payout) -> bool:
    """Waiting for a confirmation the resident cannot give: WeChat's answer with the package_info was lost."""
    return payout.state == WAIT_USER_CONFIRM and not payout.package_info


def _cancel_to_resend(payout_id: int, gateway: TransferGateway) -> Payout:
    payout = lock(Payout, payout_id)
    if unconfirmable(payout):  # still: no notification came in since the sweep looked
        payout.resend_after_cancel = True
        commit_early("marked for sending again before WeChat Pay is asked to cancel: a cancellation whose answer is "
                     "lost is still followed by a new bill")
        payout = lock(Payout, payout_id)
        answer = _ask(gateway.cancel_bill, payout.out_bill_no)
        if answer is not None and answer.ok:
            apply_bill_state(payout, answer.data)
            log.info("unconfirmable bill cancelled to be sent again", extra={"out_bill_no": payout.out_bill_no})
        else:
            payout.last_error = f"cancel: {answer.code if answer else 'no answer'}"[:200]
    db.session.flush()
    return payout


def cancel_payout(actor: Actor, payout_id: int, gateway: TransferGateway) -> Payout:
    payout = lock(Payout, payout_id)
    if payout is None or payout.state in FINAL_BILL_STATES or payout.state in {UNSENT, COLLISION}:
        raise Conflict("只能撤销微信支付已受理、尚未完成的转账。", code="payout_not_cancellable")
    answer = _ask(gateway.cancel_bill, payout.out_bill_no)
    if answer is None or not answer.ok:
        raise Conflict(f"微信支付未接受撤销：{answer.code if answer else '无应答'}", code="wechatpay_refused")
    before = {"state": payout.state}
    apply_bill_state(payout, answer.data)
    record_audit(actor, "reward_payout.cancel", "reward_payout", payout.id, before=before,
                 after={"state": payout.state})
    return payout


def abandon_collided_payout(actor: Actor, payout_id: int) -> Payout:
    """An officer has checked in the merchant console that the bill under this number is not ours: the number is
    given up (failed, unpaid), and the reward can be sent again under a new one. Nothing of ours was made under it:
    WeChat Pay holds one bill per number, and that one pays someone else."""
    payout = lock(Payout, payout_id)
    if payout is None or payout.state != COLLISION:
        raise Conflict("只能作废单号冲突的转账。", code="payout_not_collided")
    payout.state = FAIL
    _record_unpaid(payout, lock(Reward, payout.reward_id), "OUT_BILL_NO_COLLISION", actor_name=actor.name)
    record_audit(actor, "reward_payout.abandon", "reward_payout", payout.id, before={"state": COLLISION},
                 after={"state": FAIL, "fail_reason": payout.fail_reason})
    return payout


def retry_payout(actor: Actor, reward_id: int) -> None:
    """Send an unpaid reward again (a new bill: the previous one is final and unpaid)."""
    reward = get_reward(reward_id)
    if reward.state != UNPAID:
        raise Conflict("只有转账未完成的奖励可以重新转账。", code="reward_not_unpaid")
    record_audit(actor, "reward_payout.retry", "reward", reward.id, before={"state": reward.state})
    enqueue_after_commit(PAY_REWARD_JOB, reward.id)
