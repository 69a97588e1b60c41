"""Reward officers' pages: campaigns, approvals and holds, payouts, residents' histories, the finance export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from citizen import services as citizen_services
from core.admin import SHANGHAI, NavItem, actor, admin_blueprint
from core.auth import require_staff_role
from core.config import current_settings
from core.csv_export import csv_download, spreadsheet_text
from core.db import database_ids, db
from core.errors import AppError
from core.forms import load_form
from core.pagination import paginate
from core.services import record_audit
from core.staff_words import actor_name
from rewards import services
from rewards.forms import ApprovalForm, CampaignSettingsForm, ExclusionForm, ReversalForm
from rewards.jobs import gateway
from rewards.models import Campaign, ExcludedResident
from rewards.settings import RewardSettings

bp = admin_blueprint("rewards_admin", __name__, url_prefix="/admin/rewards")
ROLE = "reward_officer"
NAV = (
    NavItem("rewards_admin.campaigns", "奖励活动", (ROLE,)),
    NavItem("rewards_admin.review", "奖励审批", (ROLE,)),
    NavItem("rewards_admin.payouts", "奖励转账", (ROLE,)),
)
CHART_WIDTH, CHART_HEIGHT = 640, 220
AUDIT_ACTIONS = {
    "reward.approve": "审批奖励", "reward.release": "复核通过奖励", "reward.refuse": "不予奖励",
    "reward.reverse": "撤销奖励", "reward.exclude_resident": "排除市民（不再奖励）",
    "reward.payouts_resume": "恢复转账",
    "reward_payout.cancel": "撤销转账", "reward_payout.abandon": "作废转账单号", "reward_payout.retry": "重新转账",
    "reward_campaign.save": "保存奖励活动", "reward_ledger.export": "导出资金流水",
}
AUDIT_OBJECTS = {"reward": "奖励", "reward_payout": "奖励转账", "reward_payout_alert": "转账告警",
                 "reward_campaign": "奖励活动", "reward_ledger": "资金流水", "resident": "市民"}
AUDIT_FIELDS = {
    "approval": "审批", "code": "代码", "fail_reason": "失败原因", "amounts": "奖励金额",
    "budget_fen": "总预算（分）", "daily_cap_fen": "每人每日上限（分）", "monthly_cap_fen": "每人每月上限（分）",
    "default_amount_fen": "每条奖励（分）",
    "earn_on": "发放时机", "eligible_categories": "奖励类别", "eligible_districts": "奖励区域", "starts_on": "开始日期",
    "ends_on": "结束日期", "second_approval_above_fen": "需第二人复核金额（分）",
}
# Who the ledger records as acting besides officers: the payout sweep and WeChat Pay's notifications.
LEDGER_ACTORS = {"wechatpay": "微信支付"}


@bp.app_template_filter("yuan")
def yuan_filter(fen: int | None) -> str:
    return "" if fen is None else services.yuan(fen)


@bp.app_context_processor
def _reward_names() -> dict[str, Any]:
    if not request.path.startswith("/admin/rewards"):
        return {}
    return {"reward_state_names": services.STATE_NAMES, "bill_state_names": services.BILL_STATE_NAMES,
            "reason_texts": services.REASONS, "signal_names": services.HOLD_SIGNAL_NAMES,
            "ledger_kind_names": services.LEDGER_KIND_NAMES, "payout_alert": services.open_alert(),
            "unconfirmable": services.unconfirmable}


def _attempt(action: Callable[[], Any], success: str, target: str, **target_args: Any) -> BaseResponse:
    """Run a staff action and flash its outcome. A refusal is rolled back here, not by the request's end: the
    redirect that shows it is a success, which commits."""
    try:
        action()
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(success, "success")
    return redirect(url_for(target, **target_args))


# --- campaigns --------------------------------------------------------------------------------

@bp.get("/campaigns")
def campaigns() -> str:
    require_staff_role(ROLE)
    rows = [(campaign, services.budget_used(campaign.id)) for campaign in services.campaigns()]
    return render_template("rewards/campaigns.html", rows=rows)


def _budget_chart(campaign: Campaign) -> dict[str, Any]:
    """Cumulative budget use per day as SVG points (server-rendered: no chart library, no CDN)."""
    days = services.daily_budget_use(campaign.id)
    span = max(1, (campaign.ends_on - campaign.starts_on).days)
    total, points = 0, [(0.0, float(CHART_HEIGHT))]
    for day, amount in days:
        total += amount
        x = CHART_WIDTH * min(span, max(0, (day - campaign.starts_on).days + 1)) / span
        points.append((round(x, 1), round(CHART_HEIGHT * (1 - min(1.0, total / campaign.budget_fen)), 1)))
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "points": " ".join(f"{x},{y}" for x, y in points),
            "used": total, "days": days}


@bp.route("/campaigns/new", methods=["GET", "POST"])
@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
def campaign_edit(campaign_id: int | None = None) -> BaseResponse | str:
    require_staff_role(ROLE)
    campaign = services.get_campaign(campaign_id) if campaign_id is not None else None
    error, errors = None, None
    if request.method == "POST":
        schema = CampaignSettingsForm()
        try:
            form = services.CampaignForm(**load_form(schema, request.form))
            saved = services.save_campaign(actor(), form, campaign_id=campaign_id,
                                           max_transfer_fen=current_settings(RewardSettings).wechatpay_max_transfer_fen)
        except AppError as exc:
            db.session.rollback()
            error, errors = exc.message, schema.by_input(exc.details.get("fields", {}))
        else:
            flash(f"已保存活动“{saved.name}”。", "success")
            return redirect(url_for("rewards_admin.campaign_edit", campaign_id=saved.id))
    return render_template("rewards/campaign_form.html", campaign=campaign, error=error, errors=errors,
                           form=request.form if request.method == "POST" else None,
                           districts=citizen_services.district_names(),
                           category_tree=citizen_services.category_tree(),
                           chart=_budget_chart(campaign) if campaign else None,
                           used=services.budget_used(campaign.id) if campaign else 0), (422 if error else 200)


# --- approvals and holds ----------------------------------------------------------------------

@bp.get("/review")
def review() -> str:
    require_staff_role(ROLE)
    granted = services.rewards_in(services.GRANTED)
    campaigns = {campaign.id: campaign for campaign in services.campaigns()}
    return render_template(
        "rewards/review.html", held=services.rewards_in(services.HELD), campaigns=campaigns,
        granted=[(reward, services.approvers(reward.id)) for reward in granted],
        unpaid=services.rewards_in(services.UNPAID))


@bp.post("/review/approve")
def approve() -> BaseResponse:
    require_staff_role(ROLE)
    ids = database_ids(load_form(ApprovalForm(), request.form)["reward_ids"])
    result = services.approve_rewards(actor(), ids)
    if result.approved:
        flash(f"已审批 {len(result.approved)} 笔奖励，将发起转账。", "success")
    if result.awaiting_second:
        flash(f"{len(result.awaiting_second)} 笔奖励金额较高，已记录您的审批，还需另一位奖励专员复核。", "info")
    for reward_id, reason in result.skipped.items():
        flash(f"奖励 #{reward_id} 未审批：{reason}。", "error")
    return redirect(url_for("rewards_admin.review"))


@bp.post("/rewards/<int:reward_id>/release")
def release(reward_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.release_held(actor(), reward_id, current_settings(RewardSettings)),
                    f"已复核奖励 #{reward_id}。", "rewards_admin.review")


@bp.post("/rewards/<int:reward_id>/refuse")
def refuse(reward_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.refuse_held(actor(), reward_id), f"已不予奖励 #{reward_id}。",
                    "rewards_admin.review")


@bp.post("/rewards/<int:reward_id>/reverse")
def reverse(reward_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.reverse_reward(actor(), reward_id,
                                                    **load_form(ReversalForm(), request.form)),
                    f"已撤销奖励 #{reward_id}，金额已退回预算。", "rewards_admin.review")


@bp.post("/rewards/<int:reward_id>/retry")
def retry(reward_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.retry_payout(actor(), reward_id), f"已重新发起奖励 #{reward_id} 的转账。",
                    "rewards_admin.payouts")


# --- payouts ------------------------------------------------------------------------------------

@bp.get("/payouts")
def payouts() -> str:
    require_staff_role(ROLE)
    state = request.args.get("state") or None
    page = paginate(services.payouts_query(state), request.args.get("page", 1, type=int), per_page=50)
    return render_template("rewards/payouts.html", page=page, state=state, counts=services.payout_state_counts(),
                           awaiting_resend=services.payouts_awaiting_resend(), payouts_enabled=gateway() is not None)


@bp.post("/payouts/<int:payout_id>/cancel")
def cancel(payout_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    client = gateway()

    def cancel_now() -> None:
        if client is None:
            raise services.PayoutsDisabled("未启用微信支付转账。")
        services.cancel_payout(actor(), payout_id, client)

    return _attempt(cancel_now, "已申请撤销该笔转账。", "rewards_admin.payouts")


@bp.post("/payouts/<int:payout_id>/abandon")
def abandon(payout_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.abandon_collided_payout(actor(), payout_id),
                    "已作废该单号，奖励转为“转账未完成”，可重新转账。", "rewards_admin.payouts")


@bp.post("/payouts/resume")
def resume() -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.resume_payouts(actor()), "已恢复转账，等待中的奖励将继续发放。",
                    "rewards_admin.payouts")


# --- residents and the export ---------------------------------------------------------------

@bp.get("/residents")
def resident_lookup() -> BaseResponse:
    require_staff_role(ROLE)
    resident_id = request.args.get("resident", type=int)
    if resident_id is None:
        flash("请输入市民编号。", "error")
        return redirect(url_for("rewards_admin.review"))
    return redirect(url_for("rewards_admin.resident", resident_id=resident_id))


@bp.get("/residents/<int:resident_id>")
def resident(resident_id: int) -> str:
    require_staff_role(ROLE)
    citizen_services.get_resident(resident_id)
    return render_template("rewards/resident.html", resident_id=resident_id,
                           rewards=services.resident_rewards(resident_id),
                           ledger=services.ledger_for(resident_id=resident_id),
                           totals=services.resident_totals(resident_id),
                           excluded=db.session.get(ExcludedResident, resident_id))


@bp.post("/residents/<int:resident_id>/exclude")
def exclude(resident_id: int) -> BaseResponse:
    require_staff_role(ROLE)
    return _attempt(lambda: services.exclude_resident(actor(), resident_id,
                                                      **load_form(ExclusionForm(), request.form)),
                    "该市民今后不再获得奖励。", "rewards_admin.resident", resident_id=resident_id)


@bp.get("/export.csv")
def export() -> Response:
    staff = require_staff_role(ROLE)
    record_audit(actor(), "reward_ledger.export", "reward_ledger", after={"by": staff.username})

    def rows() -> Iterator[list[Any]]:
        # Read as the response streams (inside its context), not when the view returns.
        for entry, out_bill_no, report_id in services.ledger_export_rows():
            yield [entry.id, entry.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), entry.campaign_id,
                   entry.reward_id, report_id, entry.resident_id, services.LEDGER_KIND_NAMES[entry.kind],
                   services.yuan(entry.amount_fen), out_bill_no or "", spreadsheet_text(actor_name(entry.actor_name)),
                   spreadsheet_text(entry.note)]

    stamp = dt.datetime.now(SHANGHAI).strftime("%Y%m%d")
    header = ["流水号", "时间（北京时间）", "活动", "奖励", "反映", "市民", "类型", "金额（元）", "商户单号", "经办",
              "备注"]
    return csv_download(f"reward-ledger-{stamp}.csv", header, rows())
