"""Acting on rewards in tests: campaigns, accepted reports (real uploads, real moderation), settings."""

from __future__ import annotations

import dataclasses
import datetime as dt

from citizen import services as citizen_services
from citizen.models import Report
from core.db import db, utcnow
from core.services import Actor
from rewards import services
from rewards.models import Campaign, Reward
from tests.citizen.helpers import new_report

OFFICER, SECOND_OFFICER = Actor(None, "officer-1"), Actor(None, "officer-2")
MODERATOR = Actor(None, "moderator-1")


def today() -> dt.date:
    return services.shanghai_day(utcnow())


def campaign_form(**changes: object) -> services.CampaignForm:
    form = services.CampaignForm(name="有奖随手拍 · 测试", starts_on=today() - dt.timedelta(days=1),
                                 ends_on=today() + dt.timedelta(days=30), budget_fen=100_000,
                                 default_amount_fen=500, daily_cap_fen=50_000, monthly_cap_fen=100_000)
    return dataclasses.replace(form, **changes)


def make_campaign(app, **changes: object) -> int:
    with app.app_context():
        campaign = services.save_campaign(OFFICER, campaign_form(**changes), max_transfer_fen=20_000)
        db.session.commit()
        return campaign.id


def moderate(app, run_jobs, report_id: int, *steps: str) -> None:
    """Move a report through moderation and its case lifecycle as staff would, then run queued jobs."""
    run_jobs()
    with app.app_context():
        for step in steps:
            version = db.session.get(Report, report_id).version
            if step == "accepted":
                citizen_services.accept_report(MODERATOR, report_id, expected_version=version)
                db.session.commit()
                # The built-in case desk takes the report at once: it may be forwarded already.
                run_jobs()
            elif db.session.get(Report, report_id).status == step:
                continue
            elif step == "rejected":
                citizen_services.reject_report(MODERATOR, report_id, expected_version=version, reason="不属于受理范围")
                db.session.commit()
            else:
                citizen_services.transition(db.session.get(Report, report_id), step, actor_kind="system")
                db.session.commit()
    run_jobs()


def accepted_report(app, client, run_jobs, auth: dict[str, str], **body_options) -> int:
    report_id = new_report(client, auth, **body_options)["id"]
    moderate(app, run_jobs, report_id, "accepted")
    return report_id


def reward_of(app, report_id: int) -> Reward | None:
    with app.app_context():
        reward = services._reward_for_report(report_id)
        if reward is not None:
            db.session.expunge(reward)
        return reward


def budget_used(app, campaign_id: int) -> int:
    with app.app_context():
        return services.budget_used(db.session.get(Campaign, campaign_id).id)
