"""Rewarded snapshots: campaigns, eligibility, the ledger, approvals and payouts. No Flask here.

Every money event is a row of the append-only ledger; budget use, caps and balances are sums
over it. Grants lock the campaign's row (SELECT … FOR UPDATE on PostgreSQL; SQLite's
transactions already begin IMMEDIATE, one writer at a time), so concurrent grants see each
other's ledger rows and never overdraw a budget or a cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from citizen import services as citizen_services
from core.config import Config
from core.db import db, get_or_not_found, utcnow
from core.errors import AppError, Conflict, NotFound, ValidationFailed
from core.jobs import enqueue_after_commit
from core.logs import identifier_digest
from core.privacy import row_dict
from core.services import SYSTEM_ACTOR, Actor, record_audit
from rewards.models import (Campaign, ExcludedResident, LedgerEntry, Payout, PayoutAlert, PayoutNotification,
                            Reward)
from rewards.wechatpay import TRANSFER_FINISHED_EVENT, BillAnswer, GatewayUnreachable, TransferBill, TransferGateway

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SYSTEM = "system"

# Reward states.
PENDING, HELD, REFUSED, GRANTED, APPROVED = "pending", "held", "refused", "granted", "approved"
PAYING, PAID, UNPAID, REVERSED = "paying", "paid", "unpaid", "reversed"
STATE_NAMES = {
    PENDING: "待发放", HELD: "待人工复核", REFUSED: "不予奖励", GRANTED: "待审批", APPROVED: "已审批，待转账",
    PAYING: "转账中", PAID: "已到账", UNPAID: "转账未完成", REVERSED: "已撤销",
}
DECIDED = {REFUSED, GRANTED, APPROVED, PAYING, PAID, UNPAID, REVERSED}
# Ledger kinds; only grants and reversals move budget and caps.
L_GRANTED, L_APPROVED, L_PAYOUT_REQUESTED = "granted", "approved", "payout_requested"
L_PAID, L_FAILED, L_REVERSED = "paid", "failed", "reversed"
LEDGER_KIND_NAMES = {L_GRANTED: "发放", L_APPROVED: "审批", L_PAYOUT_REQUESTED: "发起转账", L_PAID: "已到账",
                     L_FAILED: "转账失败", L_REVERSED: "撤销"}
# WeChat Pay transfer-bill states, and ours: UNSENT (no bill yet), COLLISION (the number holds another's bill).
UNSENT, WAIT_USER_CONFIRM, SUCCESS, FAIL, CANCELLED = "UNSENT", "WAIT_USER_CONFIRM", "SUCCESS", "FAIL", "CANCELLED"
COLLISION = "COLLISION"
FINAL_BILL_STATES = {SUCCESS, FAIL, CANCELLED}
# The states a bill WeChat has just made can answer with; any other answer to a create is checked by a query.
NEW_BILL_STATES = {"ACCEPTED", "PROCESSING", WAIT_USER_CONFIRM}
BILL_STATE_NAMES = {
    UNSENT: "待提交", "ACCEPTED": "已受理", "PROCESSING": "处理中", WAIT_USER_CONFIRM: "待用户确认收款",
    "TRANSFERING": "转账中", SUCCESS: "已到账", FAIL: "失败", "CANCELING": "撤销中", CANCELLED: "已撤销/已过期",
    COLLISION: "单号冲突，待人工核实",
}
# WeChat Pay's out_bill_no: at most 32 letters and digits, unique per merchant.
OUT_BILL_NO_LENGTH = 32
_OUT_BILL_ALPHABET = string.ascii_uppercase + string.digits
# Answers after which payouts pause until an officer resumes them: nothing is lost, nothing is retried blindly.
PAUSE_CODES = {"NOT_ENOUGH": "商户余额不足，转账已暂停。请充值后恢复。",
               "FREQUENCY_LIMITED": "微信支付限制了调用频率，转账已暂停。",
               "HTTP_429": "微信支付限制了调用频率，转账已暂停。",
               "QUOTA_EXCEED": "已超出商户转账额度，转账已暂停。"}

REASONS = {
    "report_rejected": "您的反映未被受理，不发放奖励。",
    "report_withdrawn": "您已撤回该反映，不发放奖励。",
    "report_duplicate": "该问题已有其他市民先行反映，仅首位反映者可获得奖励。",
    "category_not_eligible": "该问题类别不在本期活动的奖励范围内。",
    "area_not_eligible": "该问题所在区域不在本期活动的奖励范围内。",
    "resident_blocked": "您的账号已被停用，不能获得奖励。",
    "resident_forgotten": "反映人已注销账户，不发放奖励。",
    "resident_api_client": "该反映由第三方平台通过接口提交，提交账号没有可接收转账的微信身份，不发放奖励。",
    "resident_excluded": "工作人员及其他不参与活动的账号不能获得奖励。",
    "budget_exhausted": "本期活动的奖励预算已发放完毕。",
    "daily_cap": "您今天获得的奖励已达到本期活动的每日上限。",
    "monthly_cap": "您本月获得的奖励已达到本期活动的每月上限。",
    "refused_by_officer": "经工作人员复核，该反映不符合奖励条件。",
    "awaiting_close": "问题处置完毕并结案后发放奖励。",
    "awaiting_review": "奖励需要工作人员复核，请耐心等待。",
}
HOLD_SIGNAL_NAMES = {
    "evidence_far_away": "照片拍摄地点与反映地点不符", "evidence_old": "照片拍摄时间较早",
    "photo_shared": "相同照片出现在其他市民的反映中", "ip_burst": "同一网络短时间内大量反映",
    "resident_burst": "同一市民短时间内大量反映", "checks_pending": "自动核查尚未完成",
}
EARNING_STATUSES = {
    "accepted": {"accepted", "forwarded", "in_progress", "resolved", "closed"},
    "closed": {"closed"},
}
REFUSING_STATUSES = {"rejected": "report_rejected", "withdrawn": "report_withdrawn", "duplicate": "report_duplicate"}
# Why a resident earns nothing: a staff member's own WeChat account, or excluded for abuse (the officer's form).
EXCLUSION_REASONS = ("staff", "abuse")


def shanghai_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(SHANGHAI).date()


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# --- campaigns ------------------------------------------------------------------------------

# Sums of fen are stored as 32-bit integers (21,474,836.47 yuan): a campaign's figures stay below.
MAX_FEN = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class CampaignForm:
    name: str
    starts_on: dt.date
    ends_on: dt.date
    budget_fen: int
    default_amount_fen: int
    daily_cap_fen: int
    monthly_cap_fen: int
    description: str = ""
    amounts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    eligible_categories: tuple[str, ...] = ()
    eligible_districts: tuple[str, ...] = ()
    earn_on: str = "accepted"
    second_approval_above_fen: int | None = None
    is_active: bool = True


def _check_campaign(form: CampaignForm, max_transfer_fen: int, campaign_id: int | None) -> None:
    problems: dict[str, list[str]] = {}
    if not form.name.strip() or len(form.name.strip()) > 64:
        problems["name"] = ["1–64 characters"]
    if len(form.description.strip()) > 1000:
        problems["description"] = ["at most 1000 characters"]
    if form.ends_on < form.starts_on:
        problems["ends_on"] = ["on or after starts_on"]
    for field in ("budget_fen", "daily_cap_fen", "monthly_cap_fen"):
        if not 0 < getattr(form, field) <= MAX_FEN:
            problems[field] = [f"a positive number of fen, at most {MAX_FEN}"]
    amounts = [form.default_amount_fen, *form.amounts.values()]
    if any(amount < 0 or amount > max_transfer_fen for amount in amounts):
        problems["amounts"] = [f"0–{max_transfer_fen} fen (the merchant's limit per transfer)"]
    if form.earn_on not in EARNING_STATUSES:
        problems["earn_on"] = ["accepted or closed"]
    if form.second_approval_above_fen is not None and not 0 <= form.second_approval_above_fen <= MAX_FEN:
        problems["second_approval_above_fen"] = [f"0–{MAX_FEN} fen"]
    if problems:
        raise ValidationFailed("活动设置有误，请检查标出的项目。", details={"fields": problems})
    if form.is_active:
        overlapping = db.session.scalar(sa.select(Campaign.name).where(
            Campaign.is_active.is_(True), Campaign.id != (campaign_id or 0),
            Campaign.starts_on <= form.ends_on, Campaign.ends_on >= form.starts_on))
        if overlapping is not None:
            raise Conflict(f"活动期间与进行中的活动“{overlapping}”重叠。", code="campaign_overlap")


def save_campaign(actor: Actor, form: CampaignForm, *, max_transfer_fen: int,
                  campaign_id: int | None = None) -> Campaign:
    _check_campaign(form, max_transfer_fen, campaign_id)
    campaign = get_campaign(campaign_id) if campaign_id is not None else Campaign()
    before = campaign.audit_view() if campaign_id is not None else None
    for field in dataclasses.fields(form):
        value = getattr(form, field.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        setattr(campaign, field.name, value.strip() if isinstance(value, str) else value)
    db.session.add(campaign)
    db.session.flush()
    record_audit(actor, "reward_campaign.save", "reward_campaign", campaign.id, before=before,
                 after=campaign.audit_view())
    return campaign


def get_campaign(campaign_id: int) -> Campaign:
    return get_or_not_found(Campaign, campaign_id, "活动不存在。")


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def campaign_on(day: dt.date) -> Campaign | None:
    return db.session.scalar(sa.select(Campaign).where(
        Campaign.is_active.is_(True), Campaign.starts_on <= day, Campaign.ends_on >= day).order_by(Campaign.id))


def amount_for(campaign: Campaign, category_id: str) -> int:
    amounts = campaign.amounts or {}
    for key in (category_id, category_id[:3]):
        if key in amounts:
            return int(amounts[key])
    return campaign.default_amount_fen


def campaign_rules(campaign: Campaign, category_names: Mapping[str, str]) -> list[str]:
    """The rules in plain Chinese, as the mini-program shows them."""
    def named(keys: Iterable[str]) -> str:
        return "、".join(category_names.get(key, key) for key in keys)

    rules = [f"活动时间：{campaign.starts_on:%Y年%m月%d日}至{campaign.ends_on:%Y年%m月%d日}（北京时间）。",
             f"每条有效反映奖励 {yuan(campaign.default_amount_fen)} 元。" if campaign.default_amount_fen
             else "仅下列类别的有效反映可获得奖励。"]
    for key, amount in sorted((campaign.amounts or {}).items()):
        rules.append(f"“{named([key])}”类问题每条奖励 {yuan(int(amount))} 元。")
    if campaign.eligible_categories:
        rules.append(f"奖励范围：{named(campaign.eligible_categories)}。")
    if campaign.eligible_districts:
        rules.append(f"活动区域：{'、'.join(campaign.eligible_districts)}。")
    rules.append("同一问题仅奖励第一位反映的市民；被判定为重复、未受理或已撤回的反映不予奖励。")
    rules.append("反映受理后即可获得奖励。" if campaign.earn_on == "accepted"
                 else "问题处置完毕并结案后发放奖励。")
    rules.append(f"每人每天最多获得 {yuan(campaign.daily_cap_fen)} 元，每月最多 {yuan(campaign.monthly_cap_fen)} 元；"
                 "奖励预算发完即止。")
    rules.append("照片拍摄地点或时间与反映不符、或存在异常情况的，奖励将由工作人员复核后发放。")
    rules.append("奖励通过微信支付“商家转账”发放，请在小程序中确认收款；超过约 24 小时未确认的可重新领取。")
    return rules


# --- sums over the ledger --------------------------------------------------------------------

def _net_granted(*conditions: Any) -> int:
    signed = sa.case((LedgerEntry.kind == L_GRANTED, LedgerEntry.amount_fen),
                     (LedgerEntry.kind == L_REVERSED, -LedgerEntry.amount_fen), else_=0)
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(signed), 0)).where(*conditions)) or 0)


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
    signed = sa.case((LedgerEntry.kind == L_GRANTED, LedgerEntry.amount_fen),
                     (LedgerEntry.kind == L_REVERSED, -LedgerEntry.amount_fen), else_=0)
    rows = db.session.execute(sa.select(LedgerEntry.earned_on, sa.func.sum(signed))
                              .where(LedgerEntry.campaign_id == campaign_id)
                              .group_by(LedgerEntry.earned_on).order_by(LedgerEntry.earned_on))
    return [(day, int(total)) for day, total in rows]


def _append(reward: Reward, kind: str, amount_fen: int, *, actor_name: str, dedupe_key: str, note: str = "",
            payout_id: int | None = None) -> LedgerEntry:
    entry = LedgerEntry(reward_id=reward.id, campaign_id=reward.campaign_id, resident_id=reward.resident_id,
                        kind=kind, amount_fen=amount_fen, earned_on=reward.granted_on or shanghai_day(utcnow()),
                        payout_id=payout_id, actor_name=actor_name, note=note[:200], dedupe_key=dedupe_key)
    db.session.add(entry)
    db.session.flush()
    return entry


# --- eligibility and grants -------------------------------------------------------------------

def _lock(model: type[Any], object_id: int) -> Any:
    return db.session.scalar(sa.select(model).where(model.id == object_id).with_for_update()
                             .execution_options(populate_existing=True))


def _reward_for_report(report_id: int) -> Reward | None:
    return db.session.scalar(sa.select(Reward).where(Reward.report_id == report_id)
                             .execution_options(populate_existing=True))


def consider_report(report_id: int, settings: Config) -> Reward | None:
    """Decide what a report earns now; safe to call again on every status change (later calls change nothing)."""
    campaign = campaign_on(shanghai_day(citizen_services.report_created_at(report_id)))
    if campaign is None:
        return None
    facts = citizen_services.report_facts(
        report_id, burst_window=dt.timedelta(minutes=settings.reward_burst_window_minutes))
    _lock(Campaign, campaign.id)
    reward = _reward_for_report(report_id)
    if reward is None:
        reward = Reward(campaign_id=campaign.id, report_id=report_id, resident_id=facts.resident_id,
                        amount_fen=amount_for(campaign, facts.category_id), state=PENDING)
        db.session.add(reward)
        db.session.flush()
    _decide(reward, campaign, facts, settings)
    db.session.commit()
    return reward


def _decide(reward: Reward, campaign: Campaign, facts: citizen_services.ReportFacts, settings: Config) -> None:
    if reward.state in DECIDED:
        return
    refusal = _refusal(campaign, facts)
    if refusal is not None:
        reward.state, reward.reason = REFUSED, refusal
        return
    if facts.status not in EARNING_STATUSES[campaign.earn_on]:
        reward.state, reward.reason = PENDING, ("awaiting_close" if campaign.earn_on == "closed" else None)
        return
    signals = [] if reward.released_by else _hold_signals(facts, settings)
    if signals:
        reward.state, reward.reason, reward.hold_signals = HELD, "awaiting_review", signals
        return
    _grant(reward, campaign)


def _refusal(campaign: Campaign, facts: citizen_services.ReportFacts) -> str | None:
    if facts.status in REFUSING_STATUSES:
        return REFUSING_STATUSES[facts.status]
    if facts.resident_blocked:
        return "resident_blocked"
    if facts.resident_forgotten:
        return "resident_forgotten"
    if facts.resident_api_client:
        return "resident_api_client"
    if db.session.get(ExcludedResident, facts.resident_id) is not None:
        return "resident_excluded"
    eligible = campaign.eligible_categories
    if (eligible and facts.category_id not in eligible and facts.class_key not in eligible) \
            or amount_for(campaign, facts.category_id) <= 0:
        return "category_not_eligible"
    if campaign.eligible_districts and facts.district not in campaign.eligible_districts:
        return "area_not_eligible"
    return None


def _hold_signals(facts: citizen_services.ReportFacts, settings: Config) -> list[str]:
    signals = [flag for flag in ("evidence_far_away", "evidence_old", "checks_pending") if flag in facts.flags]
    if facts.other_residents_same_photo:
        signals.append("photo_shared")
    if facts.reports_from_same_ip > settings.reward_burst_reports_per_ip:
        signals.append("ip_burst")
    if facts.reports_from_same_resident > settings.reward_burst_reports_per_resident:
        signals.append("resident_burst")
    return signals


def _grant(reward: Reward, campaign: Campaign) -> None:
    """Grant under the campaign's lock: the budget and both caps are checked against the ledger as it is now."""
    today = shanghai_day(utcnow())
    amount = reward.amount_fen
    refusal = None
    if budget_used(campaign.id) + amount > campaign.budget_fen:
        refusal = "budget_exhausted"
    elif resident_earned(campaign.id, reward.resident_id, today, today) + amount > campaign.daily_cap_fen:
        refusal = "daily_cap"
    elif resident_earned(campaign.id, reward.resident_id, today.replace(day=1), today) + amount \
            > campaign.monthly_cap_fen:
        refusal = "monthly_cap"
    if refusal is not None:
        reward.state, reward.reason = REFUSED, refusal
        return
    reward.state, reward.reason, reward.granted_on = GRANTED, None, today
    threshold = campaign.second_approval_above_fen
    reward.approvals_required = 2 if threshold is not None and amount > threshold else 1
    _append(reward, L_GRANTED, amount, actor_name=reward.released_by or SYSTEM, dedupe_key=f"grant:{reward.id}")


def release_held(actor: Actor, reward_id: int, settings: Config) -> Reward:
    """An officer has looked at the hold signals: grant now (budget and caps still apply)."""
    reward = get_reward(reward_id)
    if reward.state != HELD:
        raise Conflict("该奖励不在待复核状态。", code="reward_not_held")
    campaign = _lock(Campaign, reward.campaign_id)
    reward = _lock(Reward, reward_id)
    reward.released_by = actor.name
    facts = citizen_services.report_facts(
        reward.report_id, burst_window=dt.timedelta(minutes=settings.reward_burst_window_minutes))
    _decide(reward, campaign, facts, settings)
    record_audit(actor, "reward.release", "reward", reward.id, before={"state": HELD},
                 after={"state": reward.state, "reason": reward.reason})
    return reward


def refuse_held(actor: Actor, reward_id: int) -> Reward:
    reward = _lock(Reward, reward_id)
    if reward is None or reward.state != HELD:
        raise Conflict("该奖励不在待复核状态。", code="reward_not_held")
    reward.state, reward.reason = REFUSED, "refused_by_officer"
    record_audit(actor, "reward.refuse", "reward", reward.id, before={"state": HELD}, after={"state": REFUSED})
    return reward


def get_reward(reward_id: int) -> Reward:
    return get_or_not_found(Reward, reward_id, "奖励不存在。")


# --- approvals and reversals ------------------------------------------------------------------

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
    from rewards import jobs

    result = ApprovalResult()
    for reward_id in sorted(set(reward_ids)):
        reward = _lock(Reward, reward_id)
        if reward is None or reward.state != GRANTED:
            result.skipped[reward_id] = "不在待审批状态"
            continue
        already = approvers(reward_id)
        if actor.name in already:
            result.skipped[reward_id] = "需由另一位奖励专员复核审批"
            continue
        _append(reward, L_APPROVED, 0, actor_name=actor.name, dedupe_key=f"approve:{reward.id}:{len(already) + 1}")
        if len(already) + 1 >= reward.approvals_required:
            reward.state = APPROVED
            result.approved.append(reward_id)
            enqueue_after_commit(jobs.pay_reward, reward_id)
        else:
            result.awaiting_second.append(reward_id)
        record_audit(actor, "reward.approve", "reward", reward_id, before={"state": GRANTED},
                     after={"state": reward.state, "approval": len(already) + 1})
    return result


def reverse_reward(actor: Actor, reward_id: int, *, note: str) -> Reward:
    """Take back an unpaid grant; its fen return to the budget and the resident's caps."""
    reward = _lock(Reward, reward_id)
    if reward is None or reward.state not in {GRANTED, APPROVED, UNPAID}:
        raise Conflict("只能撤销尚未转账的奖励。", code="reward_not_reversible")
    if not note.strip():
        raise ValidationFailed("请填写撤销原因。", code="note_required")
    before = {"state": reward.state}
    _append(reward, L_REVERSED, reward.amount_fen, actor_name=actor.name, dedupe_key=f"reverse:{reward.id}",
            note=note.strip())
    reward.state = REVERSED
    record_audit(actor, "reward.reverse", "reward", reward.id, before=before,
                 after={"state": REVERSED, "note": note.strip()})
    return reward


def exclude_resident(actor: Actor, resident_id: int, *, reason: str, note: str = "") -> ExcludedResident:
    if reason not in EXCLUSION_REASONS:
        raise ValidationFailed("排除原因无效，请从列表中选择。", details={"fields": {"reason": list(EXCLUSION_REASONS)}})
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


# --- payouts --------------------------------------------------------------------------------

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
    from rewards import jobs

    alert = open_alert()
    if alert is not None:
        alert.resolved_at, alert.resolved_by = utcnow(), actor.name
        record_audit(actor, "reward.payouts_resume", "reward_payout_alert", alert.id, before={"code": alert.code})
    waiting = list(db.session.scalars(sa.select(Reward.id).where(Reward.state.in_((APPROVED, PAYING)))))
    for reward_id in waiting:
        enqueue_after_commit(jobs.pay_reward, reward_id)
    return waiting


def _open_payout(reward_id: int) -> Payout | None:
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
    reward = _lock(Reward, reward_id)
    if reward is None:
        return None
    existing = _open_payout(reward_id)
    if existing is not None or reward.state not in {APPROVED, UNPAID}:
        return existing
    requests_so_far = db.session.scalar(sa.select(sa.func.count()).where(
        LedgerEntry.reward_id == reward_id, LedgerEntry.kind == L_PAYOUT_REQUESTED)) or 0
    entry = _append(reward, L_PAYOUT_REQUESTED, reward.amount_fen, actor_name=SYSTEM,
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
    accepted while we crashed or timed out is found by its ``out_bill_no`` and recorded.
    """
    if open_alert() is not None:
        return None
    payout = start_payout(reward_id, gateway.out_bill_prefix)
    if payout is None or payout.state == COLLISION:
        db.session.commit()
        return payout
    if payout.state == UNSENT and payout.create_attempts == 0:
        _create(payout, gateway)  # commits the new request together with its first attempt, then calls
    else:
        db.session.commit()
        payout = _lock(Payout, payout.id)
        if payout.state != UNSENT:
            _refresh(payout, gateway)
        elif _refresh(payout, gateway) == "not_found":
            _create(payout, gateway)
    db.session.commit()
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
    # Counted and committed before the call: if this worker dies mid-call, the next run queries first.
    payout.create_attempts += 1
    db.session.commit()
    payout = _lock(Payout, payout.id)
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
    reward = _lock(Reward, payout.reward_id)
    if state == SUCCESS:
        _append(reward, L_PAID, payout.amount_fen, actor_name="wechatpay", dedupe_key=f"paid:{payout.id}",
                payout_id=payout.id, note=payout.transfer_bill_no or "")
        reward.state = PAID
    elif state in {FAIL, CANCELLED}:
        _record_unpaid(payout, reward, str(data.get("fail_reason") or state), actor_name="wechatpay")


def _record_unpaid(payout: Payout, reward: Reward, reason: str, *, actor_name: str) -> None:
    payout.fail_reason = reason[:64]
    _append(reward, L_FAILED, payout.amount_fen, actor_name=actor_name, dedupe_key=f"failed:{payout.id}",
            payout_id=payout.id, note=payout.fail_reason)
    if reward.state == PAYING:
        reward.state = UNPAID


# How far back the scheduled pass looks for status changes that reached no decision, and how many it reads at once.
CATCH_UP_WINDOW = dt.timedelta(days=1)
CATCH_UP_BATCH = 500


def catch_up_decisions(settings: Config, now: dt.datetime | None = None) -> int:
    """Decide reports whose latest status change reached no listener (its job lost with Redis or a worker):
    no reward yet, or one still pending from before that change. The scheduled pass runs it."""
    statuses = set().union(*EARNING_STATUSES.values()) | set(REFUSING_STATUSES)
    since = (now or utcnow()) - CATCH_UP_WINDOW
    after, decided = None, 0
    # Every page of the window: a busy day has more changes than one batch, and the newest matter most.
    while page := citizen_services.changed_report_snapshots(since, after=after, limit=CATCH_UP_BATCH):
        after = (page[-1].changed_at, page[-1].id)
        changed = [(snapshot.id, snapshot.changed_at) for snapshot in page if snapshot.status in statuses]
        rewards = {report_id: (state, updated_at) for report_id, state, updated_at in db.session.execute(
            sa.select(Reward.report_id, Reward.state, Reward.updated_at).where(
                Reward.report_id.in_([report_id for report_id, _ in changed])))}
        db.session.rollback()
        missed = [report_id for report_id, changed_at in changed if report_id not in rewards
                  or (rewards[report_id][0] == PENDING and rewards[report_id][1] < changed_at)]
        for report_id in missed:
            consider_report(report_id, settings)
        decided += len(missed)
    return decided


def sweep_payouts(gateway: TransferGateway, settings: Config, now: dt.datetime | None = None) -> int:
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
    db.session.rollback()
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
    payout = _lock(Payout, payout_id)
    if unconfirmable(payout):  # still: no notification came in since the sweep looked
        # Marked and committed before the call: a cancellation whose answer is lost is still followed by a new bill.
        payout.resend_after_cancel = True
        db.session.commit()
        payout = _lock(Payout, payout_id)
        answer = _ask(gateway.cancel_bill, payout.out_bill_no)
        if answer is not None and answer.ok:
            apply_bill_state(payout, answer.data)
            log.info("unconfirmable bill cancelled to be sent again", extra={"out_bill_no": payout.out_bill_no})
        else:
            payout.last_error = f"cancel: {answer.code if answer else 'no answer'}"[:200]
    db.session.commit()
    return payout
    # Marked and committed before the call: a cancellation whose answer is lost is still followed by a new bill.
    payout.resend_after_cancel = True
    db.session.commit()
    payout = _lock(Payout, payout_id)
    answer = _ask(gateway.cancel_bill, payout.out_bill_no) if unconfirmable(payout) else None  # unless notified since
    if answer is not None and answer.ok:
        apply_bill_state(payout, answer.data)
        log.info("unconfirmable bill cancelled to be sent again", extra={"out_bill_no": payout.out_bill_no})
    elif unconfirmable(payout):
        payout.last_error = f"cancel: {answer.code if answer else 'no answer'}"[:200]
    db.session.commit()
    return payout


def cancel_payout(actor: Actor, payout_id: int, gateway: TransferGateway) -> Payout:
    payout = _lock(Payout, payout_id)
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
    payout = _lock(Payout, payout_id)
    if payout is None or payout.state != COLLISION:
        raise Conflict("只能作废单号冲突的转账。", code="payout_not_collided")
    payout.state = FAIL
    _record_unpaid(payout, _lock(Reward, payout.reward_id), "OUT_BILL_NO_COLLISION", actor_name=actor.name)
    record_audit(actor, "reward_payout.abandon", "reward_payout", payout.id, before={"state": COLLISION},
                 after={"state": FAIL, "fail_reason": payout.fail_reason})
    return payout


def retry_payout(actor: Actor, reward_id: int) -> None:
    """Send an unpaid reward again (a new bill: the previous one is final and unpaid)."""
    from rewards import jobs

    reward = get_reward(reward_id)
    if reward.state != UNPAID:
        raise Conflict("只有转账未完成的奖励可以重新转账。", code="reward_not_unpaid")
    record_audit(actor, "reward_payout.retry", "reward", reward.id, before={"state": reward.state})
    enqueue_after_commit(jobs.pay_reward, reward.id)


# --- the resident's view ---------------------------------------------------------------------

def resident_rewards(resident_id: int) -> list[Reward]:
    return list(db.session.scalars(sa.select(Reward).where(Reward.resident_id == resident_id)
                                   .order_by(Reward.id.desc())))


def claim(resident_id: int, reward_id: int) -> dict[str, Any]:
    """What the mini-program needs for wx.requestMerchantTransfer, or where the payout stands.

    A bill that expired unconfirmed (or failed) is final and unpaid: claiming starts a new one.
    """
    from rewards import jobs

    reward = db.session.get(Reward, reward_id)
    if reward is None or reward.resident_id != resident_id:
        raise NotFound("奖励不存在。")
    if reward.state == PAID:
        return {"state": "paid"}
    if reward.state not in {APPROVED, PAYING, UNPAID}:
        raise Conflict(f"该奖励当前不可领取（{STATE_NAMES[reward.state]}）。", code="reward_not_claimable",
                       details={"state": reward.state})
    payout = _open_payout(reward.id)
    if payout is not None and payout.state == WAIT_USER_CONFIRM and payout.package_info:
        return {"state": "ready", "package_info": payout.package_info}
    if reward.state == UNPAID:
        enqueue_after_commit(jobs.pay_reward, reward.id)
    return {"state": "processing"}


# --- notifications ---------------------------------------------------------------------------

class NotificationRefused(AppError):
    status = 401
    code = "notification_refused"


def handle_notification(headers: Mapping[str, str], body: bytes, gateway: TransferGateway, settings: Config,
                        now: dt.datetime | None = None) -> str:
    """Apply a verified MCHTRANSFER.BILL.FINISHED notification once; stale, forged or replayed ones change nothing."""
    now = now or utcnow()
    try:
        sent_at = int(headers.get("Wechatpay-Timestamp", ""))
    except ValueError:
        raise NotificationRefused("通知缺少时间戳。", code="notification_stale") from None
    # In whole seconds: no float holds a 400-digit timestamp.
    if abs(int(now.timestamp()) - sent_at) > settings.wechatpay_notify_window_seconds:
        raise NotificationRefused("通知时间戳超出允许范围。", code="notification_stale")
    notification = gateway.verify_notification(headers, body)
    if notification is None:
        raise NotificationRefused("通知签名验证失败。", code="notification_bad_signature")
    resource = notification.get("resource") or {}
    if notification.get("event_type") != TRANSFER_FINISHED_EVENT or resource.get("mch_id") not in (None, gateway.mch_id):
        return "ignored"
    notification_id = str(notification.get("id") or "")[:64]
    if not notification_id or db.session.get(PayoutNotification, notification_id) is not None:
        return "duplicate"
    payout = db.session.scalar(sa.select(Payout).where(Payout.out_bill_no == resource.get("out_bill_no")))
    if payout is None:
        log.warning("notification for an unknown bill")
        return "unknown_bill"
    payout = _lock(Payout, payout.id)
    try:
        with db.session.begin_nested():
            db.session.add(PayoutNotification(id=notification_id, out_bill_no=payout.out_bill_no,
                                              state=str(resource.get("state"))[:20]))
    except IntegrityError:
        return "duplicate"
    apply_bill_state(payout, resource)
    db.session.commit()
    return "applied"


# --- reconciliation --------------------------------------------------------------------------

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
        differences.append(Difference(subject, f"granted {granted[0]}x, {granted[1]} fen; reward says {reward.amount_fen}"))
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


# --- figures for the city's insight (read-only) -------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CampaignFigures:
    """A campaign in a period of Asia/Shanghai days, and where its budget stands now. Fen."""

    campaign_id: int
    name: str
    budget_fen: int
    reports: int  # reports the campaign looked at in the period (rewarded or not)
    granted: int  # rewards earned in the period, less those since reversed
    granted_fen: int
    paid: int  # transfers that arrived in the period
    paid_fen: int
    residents_paid: int
    used_fen: int  # budget used so far: every grant less reversals
    paid_to_date_fen: int

    @property
    def budget_used_rate(self) -> float | None:
        return self.used_fen / self.budget_fen if self.budget_fen else None


def campaign_figures(first_day: dt.date, last_day: dt.date) -> list[CampaignFigures]:
    """Every campaign running on any day of [first_day, last_day], oldest first."""
    running = list(db.session.scalars(sa.select(Campaign).where(Campaign.starts_on <= last_day,
                                                                Campaign.ends_on >= first_day).order_by(Campaign.id)))
    ids = [campaign.id for campaign in running]
    if not ids:
        return []
    start = dt.datetime.combine(first_day, dt.time(), SHANGHAI)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), SHANGHAI)
    ours = LedgerEntry.campaign_id.in_(ids)
    reports = dict(db.session.execute(sa.select(Reward.campaign_id, sa.func.count()).where(
        Reward.campaign_id.in_(ids), Reward.created_at >= start, Reward.created_at < end).group_by(Reward.campaign_id)).all())
    earned = {(campaign_id, kind): (int(count), int(fen)) for campaign_id, kind, count, fen in db.session.execute(
        sa.select(LedgerEntry.campaign_id, LedgerEntry.kind, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen))
        .where(ours, LedgerEntry.kind.in_((L_GRANTED, L_REVERSED)), LedgerEntry.earned_on.between(first_day, last_day))
        .group_by(LedgerEntry.campaign_id, LedgerEntry.kind))}
    paid = {campaign_id: (int(count), int(fen), int(residents)) for campaign_id, count, fen, residents in db.session.execute(
        sa.select(LedgerEntry.campaign_id, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen),
                  sa.func.count(sa.distinct(LedgerEntry.resident_id)))
        .where(ours, LedgerEntry.kind == L_PAID, LedgerEntry.occurred_at >= start, LedgerEntry.occurred_at < end)
        .group_by(LedgerEntry.campaign_id))}
    to_date = {(campaign_id, kind): int(fen) for campaign_id, kind, fen in db.session.execute(
        sa.select(LedgerEntry.campaign_id, LedgerEntry.kind, sa.func.sum(LedgerEntry.amount_fen))
        .where(ours, LedgerEntry.kind.in_((L_GRANTED, L_REVERSED, L_PAID)))
        .group_by(LedgerEntry.campaign_id, LedgerEntry.kind))}
    figures = []
    for campaign in running:
        grants, reversals = earned.get((campaign.id, L_GRANTED), (0, 0)), earned.get((campaign.id, L_REVERSED), (0, 0))
        paid_count, paid_fen, residents = paid.get(campaign.id, (0, 0, 0))
        figures.append(CampaignFigures(
            campaign_id=campaign.id, name=campaign.name, budget_fen=campaign.budget_fen,
            reports=reports.get(campaign.id, 0), granted=grants[0] - reversals[0], granted_fen=grants[1] - reversals[1],
            paid=paid_count, paid_fen=paid_fen, residents_paid=residents,
            used_fen=to_date.get((campaign.id, L_GRANTED), 0) - to_date.get((campaign.id, L_REVERSED), 0),
            paid_to_date_fen=to_date.get((campaign.id, L_PAID), 0)))
    return figures


# --- the officers' views ---------------------------------------------------------------------

def rewards_in(*states: str, limit: int = 200) -> list[Reward]:
    return list(db.session.scalars(sa.select(Reward).where(Reward.state.in_(states)).order_by(Reward.id).limit(limit)))


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


def ledger_for(*, resident_id: int | None = None) -> list[LedgerEntry]:
    query = sa.select(LedgerEntry).order_by(LedgerEntry.id)
    if resident_id is not None:
        query = query.where(LedgerEntry.resident_id == resident_id)
    return list(db.session.scalars(query))


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


def ledger_export_rows() -> Iterable[tuple[LedgerEntry, str | None, int]]:
    """Every ledger entry with its bill number and report, oldest first, for the finance office."""
    rows = db.session.execute(
        sa.select(LedgerEntry, Payout.out_bill_no, Reward.report_id)
        .join(Reward, Reward.id == LedgerEntry.reward_id)
        .outerjoin(Payout, sa.or_(Payout.ledger_entry_id == LedgerEntry.id, Payout.id == LedgerEntry.payout_id))
        .order_by(LedgerEntry.id).execution_options(yield_per=1000))
    return ((entry, out_bill_no, report_id) for entry, out_bill_no, report_id in rows)
