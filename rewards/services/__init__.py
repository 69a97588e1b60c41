"""Rewarded snapshots: campaigns, eligibility, the ledger, approvals and payouts. No Flask here.

Every money event is a row of the append-only ledger; budget use, caps and balances are sums
over it. Callers (the api, admin pages, jobs, the CLI, insight and core's data rights) use the
names below; the modules hold one concern each.
"""

from rewards.services.approvals import approve_rewards, approvers, exclude_resident, reverse_reward
from rewards.services.campaigns import CampaignForm, campaign_on, campaign_rules, campaigns, get_campaign, save_campaign
from rewards.services.figures import CampaignFigures, campaign_figures
from rewards.services.grants import (catch_up_decisions, consider_report, decide_period, refuse_held,
                                     release_held, reward_for_report)
from rewards.services.ledger import append_entry, budget_used, daily_budget_use, ledger_for, resident_totals
from rewards.services.notifications import handle_notification
from rewards.services.officers import (ledger_export_rows, payout_state_counts, payouts_awaiting_resend,
                                       payouts_query, reward_count, rewards_in)
from rewards.services.payouts import (PayoutsDisabled, abandon_collided_payout, cancel_payout, open_alert, pay,
                                      resume_payouts, retry_payout, sweep_payouts, unconfirmable)
from rewards.services.reconciliation import reconcile
from rewards.services.residents import claim, export_resident_data, forget_resident, resident_rewards
from rewards.services.states import (APPROVED, BILL_STATE_NAMES, GRANTED, HELD, HOLD_SIGNAL_NAMES, L_APPROVED,
                                     L_GRANTED, L_PAID, LEDGER_KIND_NAMES, PAID, PAYING, REASONS, REFUSED,
                                     STATE_NAMES, UNPAID, shanghai_day, yuan)

__all__ = [
    "APPROVED", "BILL_STATE_NAMES", "GRANTED", "HELD", "HOLD_SIGNAL_NAMES", "LEDGER_KIND_NAMES", "L_APPROVED",
    "L_GRANTED", "L_PAID", "PAID", "PAYING", "REASONS", "REFUSED", "STATE_NAMES", "UNPAID", "CampaignFigures",
    "CampaignForm", "PayoutsDisabled", "abandon_collided_payout", "append_entry", "approve_rewards", "approvers",
    "budget_used", "campaign_figures", "campaign_on", "campaign_rules", "campaigns", "cancel_payout",
    "catch_up_decisions", "claim", "consider_report", "daily_budget_use", "decide_period", "exclude_resident",
    "export_resident_data", "forget_resident", "get_campaign", "handle_notification", "ledger_export_rows",
    "ledger_for", "open_alert", "pay", "payout_state_counts", "payouts_awaiting_resend", "payouts_query",
    "reconcile", "refuse_held", "release_held", "resident_rewards", "resident_totals", "resume_payouts",
    "retry_payout", "reverse_reward", "reward_count", "reward_for_report", "rewards_in", "save_campaign",
    "shanghai_day", "sweep_payouts", "unconfirmable", "yuan",
]
