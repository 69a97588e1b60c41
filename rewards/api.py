"""Resident API for rewards (有奖随手拍), and WeChat Pay's payout notifications."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from citizen import services as citizen_services
from core.auth import current_resident_id, resident_required
from core.config import current_settings
from core.db import utcnow
from rewards import services
from rewards.jobs import gateway
from rewards.models import Reward
from rewards.schemas import ClaimSchema, CurrentCampaignSchema, MyRewardsSchema, NotificationAnswerSchema
from rewards.settings import RewardSettings

blp = Blueprint("rewards", __name__, description="Rewarded snapshots (有奖随手拍)")
wechatpay_blp = Blueprint("wechatpay", __name__,
                          description="WeChat Pay notifications (called by WeChat Pay, not by the mini-program)")
RESIDENT_AUTH = [{"bearerAuth": []}]


def _category_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for category in citizen_services.list_categories(include_inactive=True):
        names[category.id] = category.name
        names.setdefault(category.id[:3], category.class_name)
    return names


@blp.route("/rewards/campaigns/current")
class CurrentCampaign(MethodView):
    @blp.response(200, CurrentCampaignSchema)
    def get(self) -> dict:
        """The campaign running today (Asia/Shanghai), with its rules in plain Chinese"""
        campaign = services.campaign_on(services.shanghai_day(utcnow()))
        if campaign is None:
            return {"campaign": None}
        return {"campaign": {
            "id": campaign.id, "name": campaign.name, "description": campaign.description,
            "starts_on": campaign.starts_on, "ends_on": campaign.ends_on,
            "default_amount_fen": campaign.default_amount_fen, "daily_cap_fen": campaign.daily_cap_fen,
            "monthly_cap_fen": campaign.monthly_cap_fen, "earn_on": campaign.earn_on,
            "budget_left_fen": max(0, campaign.budget_fen - services.budget_used(campaign.id)),
            "rules": services.campaign_rules(campaign, _category_names())}}


def _present(reward: Reward, campaign_names: dict[int, str]) -> dict[str, Any]:
    report = citizen_services.get_report(reward.report_id)
    return {
        "id": reward.id, "campaign_id": reward.campaign_id, "campaign_name": campaign_names[reward.campaign_id],
        "report": {"id": report.id, "status": report.status,
                   "status_name": citizen_services.STATUS_NAMES[report.status],
                   "category_name": report.category.name, "created_at": report.created_at},
        "state": reward.state, "state_name": services.STATE_NAMES[reward.state],
        "amount_fen": reward.amount_fen if reward.state != services.REFUSED else 0,
        "explanation": services.REASONS.get(reward.reason or ""),
        "claimable": reward.state in {services.APPROVED, services.PAYING, services.UNPAID},
        "created_at": reward.created_at,
    }


@blp.route("/rewards/mine")
class MyRewards(MethodView):
    @resident_required
    @blp.response(200, MyRewardsSchema)
    @blp.doc(security=RESIDENT_AUTH)
    def get(self) -> dict:
        """My rewards: each with its report, state, amount and explanation, and my totals (fen)"""
        resident_id = current_resident_id()
        names = {campaign.id: campaign.name for campaign in services.campaigns()}
        return {"rewards": [_present(reward, names) for reward in services.resident_rewards(resident_id)],
                "totals": services.resident_totals(resident_id)}


@blp.route("/rewards/<int:reward_id>/claim")
class Claim(MethodView):
    @resident_required
    @blp.response(200, ClaimSchema)
    @blp.alt_response(409, description="reward_not_claimable")
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, reward_id: int) -> dict:
        """Claim a reward: the package for wx.requestMerchantTransfer once WeChat Pay waits for my confirmation

        `processing` means the transfer is being prepared: ask again shortly. A transfer left
        unconfirmed until it expired is prepared anew. The mini-program's success callback only
        means the page was shown; the reward is paid when `/rewards/mine` says so.
        """
        answer = services.claim(current_resident_id(), reward_id)
        client = gateway()
        if answer["state"] == "ready" and client is not None:
            answer.update(mch_id=client.mch_id, app_id=client.app_id)
        return answer


@wechatpay_blp.route("/wechatpay/notify")
class Notify(MethodView):
    @wechatpay_blp.response(200, NotificationAnswerSchema)
    @wechatpay_blp.alt_response(401, description="notification_refused: bad signature or stale timestamp")
    @wechatpay_blp.alt_response(503, description="payouts_disabled")
    def post(self) -> dict:
        """WeChat Pay's MCHTRANSFER.BILL.FINISHED notification (signature verified, replay window enforced)"""
        client = gateway()
        if client is None:
            raise services.PayoutsDisabled("未启用微信支付转账。")
        outcome = services.handle_notification(request.headers, request.get_data(), client,
                                               current_settings(RewardSettings))
        return {"code": "SUCCESS", "message": outcome}
