"""The words of rewards: reward states, ledger kinds, WeChat Pay's bill states, reasons, and their Chinese names."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

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
