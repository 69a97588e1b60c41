"""Reward jobs, run inline or on rq; each takes ids and reads the current state itself. Each is one unit of work:
the queue commits when it returns (services flush, and commit early only before WeChat Pay is called)."""

from __future__ import annotations

from flask import current_app

from core.config import current_settings
from rewards import services
from rewards.settings import RewardSettings
from rewards.wechatpay import TransferGateway


def gateway() -> TransferGateway | None:
    """The WeChat Pay client, or None where payouts are not enabled."""
    return current_app.extensions.get("wechatpay")


def on_report_status_changed(report_id: int) -> None:
    """Listener for ``report.status_changed`` and ``report.flags_changed``: grant, hold, refuse or wait, as the
    report now stands. (Named for the first: rq finds queued jobs by this name.)"""
    services.consider_report(report_id, current_settings(RewardSettings))


def decide_campaign_period(campaign_id: int) -> None:
    """Queued when a campaign is saved: the reports of its period submitted before it earn as later ones do."""
    services.decide_period(campaign_id, current_settings(RewardSettings))


def pay_reward(reward_id: int) -> None:
    client = gateway()
    if client is not None:
        services.pay(reward_id, client)


def sweep_payouts() -> int:
    """Scheduled (cron: `flask rewards sweep-payouts`): status changes that reached no decision, then bills not
    final after a while and approvals without a bill."""
    settings = current_settings(RewardSettings)
    services.catch_up_decisions(settings)
    client = gateway()
    return services.sweep_payouts(client, settings) if client is not None else 0
