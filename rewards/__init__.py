"""Rewarded snapshots (有奖随手拍): campaigns, an append-only money ledger, WeChat Pay payouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.admin import register_nav, register_readers, register_todo
    from core.api import register_api_blueprint
    from core.auth import register_roles
    from core.events import REPORT_FLAGS_CHANGED, REPORT_STATUS_CHANGED, subscribe
    from core.metrics import register_collector
    from core.privacy import register_data_holder
    from core.schedule import register_periodic
    from core.staff_words import register_actor_names, register_audit_names
    from rewards import services
    from rewards.admin import AUDIT_ACTIONS, AUDIT_FIELDS, AUDIT_OBJECTS, LEDGER_ACTORS, NAV, ROLE
    from rewards.admin import bp as admin_pages
    from rewards.api import blp, wechatpay_blp
    from rewards.facts import payout_gauges
    from rewards.cli import rewards_cli
    from rewards.settings import RewardSettings
    from rewards.wechatpay import WeChatPayGateway

    settings = app.config["APP_SETTINGS"].area(RewardSettings)
    app.extensions["wechatpay"] = WeChatPayGateway.from_config(settings) if settings.wechatpay_payouts_enabled else None
    register_api_blueprint(api, blp)
    register_api_blueprint(api, wechatpay_blp)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=70)
    register_roles(app, {"reward_officer": "奖励专员"})
    register_audit_names(app, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS, fields=AUDIT_FIELDS,
                         values={("reward", "state"): services.STATE_NAMES,
                                 ("reward_payout", "state"): services.BILL_STATE_NAMES})
    register_actor_names(app, LEDGER_ACTORS)
    # An officer reads the report, photos and checks behind the reward being approved.
    register_readers(app, "report", ("reward_officer",))
    register_todo(app, "rewards_to_approve", "待审批奖励", (ROLE,),
                  lambda _staff: services.reward_count(services.GRANTED),
                  "rewards_admin.review", _anchor="to-approve")
    register_todo(app, "rewards_held", "待复核奖励", (ROLE,), lambda _staff: services.reward_count(services.HELD),
                  "rewards_admin.review", _anchor="held")
    app.cli.add_command(rewards_cli)
    register_periodic(app, "rewards sweep-payouts", every_seconds=300)
    register_periodic(app, "rewards reconcile", daily_at="02:30")
    register_collector(app, payout_gauges)
    subscribe(app, REPORT_STATUS_CHANGED, "rewards.jobs.on_report_status_changed")
    # A reward held while the checks were pending is decided once they have run.
    subscribe(app, REPORT_FLAGS_CHANGED, "rewards.jobs.on_report_status_changed")
    register_data_holder(app, "rewards", export=services.export_resident_data, forget=services.forget_resident)
