"""Campaigns: their settings as officers save them, the one running on a day, and their rules in plain Chinese."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from citizen import services as citizen_services
from core.db import db, get_or_not_found
from core.errors import Conflict, ValidationFailed
from core.jobs import enqueue_after_commit
from core.services import Actor, record_audit
from rewards.models import Campaign
from rewards.services.states import EARNING_STATUSES, SHANGHAI, yuan

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
    unknown = set(form.eligible_categories) - set(citizen_services.category_key_names())
    if unknown:
        problems["eligible_categories"] = [f"unknown categories: {', '.join(sorted(unknown))}"]
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
    # Its period may hold reports submitted before it was saved: they earn as the later ones do.
    enqueue_after_commit("rewards.jobs.decide_campaign_period", campaign.id)
    return campaign


def get_campaign(campaign_id: int) -> Campaign:
    return get_or_not_found(Campaign, campaign_id, "活动不存在。")


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def period_bounds(campaign: Campaign) -> tuple[dt.datetime, dt.datetime]:
    """The instants [start, end) of the campaign's period: its first day to its last, Beijing time."""
    return (dt.datetime.combine(campaign.starts_on, dt.time(), SHANGHAI),
            dt.datetime.combine(campaign.ends_on + dt.timedelta(days=1), dt.time(), SHANGHAI))


def campaign_on(day: dt.date) -> Campaign | None:
    """The campaign that rewards the reports submitted on ``day`` (Beijing time): the one rule of which campaign pays
    for a report, wherever it is decided (its status changes, the sweep, a campaign saved with a past period)."""
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

    rules = [f"活动时间：{campaign.starts_on:%Y年%m月%d日}至{campaign.ends_on:%Y年%m月%d日}（北京时间）。"
             "活动期间提交的反映均按本规则奖励，包括活动发布前提交的反映；期间之外提交的不予奖励。",
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
