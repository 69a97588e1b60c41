"""Eligibility and grants: what a report earns as it now stands, decided under the campaign's lock.

Grants lock the campaign's row, so concurrent grants see each other's ledger rows and never
overdraw a budget or a cap.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from citizen import facts as citizen_facts
from citizen import services as citizen_services
from core.db import commit_early, db, utcnow
from core.errors import Conflict
from core.services import Actor, record_audit
from rewards.models import Campaign, ExcludedResident, Reward
from rewards.services.campaigns import amount_for, campaign_on, get_campaign, period_bounds
from rewards.services.ledger import append_entry, budget_used, get_reward, lock, resident_earned
from rewards.services.states import (DECIDED, EARNING_STATUSES, GRANTED, HELD, L_GRANTED, PENDING, REFUSED,
                                     REFUSING_STATUSES, SYSTEM, shanghai_day)
from rewards.settings import RewardSettings


def reward_for_report(report_id: int) -> Reward | None:
    return db.session.scalar(sa.select(Reward).where(Reward.report_id == report_id)
                             .execution_options(populate_existing=True))


def consider_report(report_id: int, settings: RewardSettings) -> Reward | None:
    """Decide what a report earns now; safe to call again on every status change (later calls change nothing)."""
    campaign = campaign_on(shanghai_day(citizen_services.report_created_at(report_id)))
    if campaign is None:
        return None
    facts = citizen_services.report_facts(
        report_id, burst_window=dt.timedelta(minutes=settings.reward_burst_window_minutes))
    lock(Campaign, campaign.id)
    reward = reward_for_report(report_id)
    if reward is None:
        reward = Reward(campaign_id=campaign.id, report_id=report_id, resident_id=facts.resident_id,
                        amount_fen=amount_for(campaign, facts.category_id), state=PENDING)
        db.session.add(reward)
        db.session.flush()
    _decide(reward, campaign, facts, settings)
    db.session.flush()
    return reward


def _decide(reward: Reward, campaign: Campaign, facts: citizen_services.ReportFacts, settings: RewardSettings) -> None:
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


def _hold_signals(facts: citizen_services.ReportFacts, settings: RewardSettings) -> list[str]:
    """Bursts are judged by resident: nothing the mini-program sends tells devices apart (its storage is per WeChat
    user, so an id kept there names the resident again). One IP address is a weak signal (a mobile carrier puts many
    residents behind one): its threshold is far higher."""
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
    append_entry(reward, L_GRANTED, amount, actor_name=reward.released_by or SYSTEM, dedupe_key=f"grant:{reward.id}")


def release_held(actor: Actor, reward_id: int, settings: RewardSettings) -> Reward:
    """An officer has looked at the hold signals: grant now (budget and caps still apply)."""
    reward = get_reward(reward_id)
    if reward.state != HELD:
        raise Conflict("该奖励不在待复核状态。", code="reward_not_held")
    campaign = lock(Campaign, reward.campaign_id)
    reward = lock(Reward, reward_id)
    reward.released_by = actor.name
    facts = citizen_services.report_facts(
        reward.report_id, burst_window=dt.timedelta(minutes=settings.reward_burst_window_minutes))
    _decide(reward, campaign, facts, settings)
    record_audit(actor, "reward.release", "reward", reward.id, before={"state": HELD},
                 after={"state": reward.state, "reason": reward.reason})
    return reward


def refuse_held(actor: Actor, reward_id: int) -> Reward:
    reward = lock(Reward, reward_id)
    if reward is None or reward.state != HELD:
        raise Conflict("该奖励不在待复核状态。", code="reward_not_held")
    reward.state, reward.reason = REFUSED, "refused_by_officer"
    record_audit(actor, "reward.refuse", "reward", reward.id, before={"state": HELD}, after={"state": REFUSED})
    return reward


# How far back the scheduled pass looks for status changes (and campaigns saved) that reached no decision, and how
# many reports it reads at once.
CATCH_UP_WINDOW = dt.timedelta(days=1)
CATCH_UP_BATCH = 500
# The statuses a decision is made in: those that earn under some campaign, and those that refuse.
DECIDING_STATUSES = tuple(sorted(set().union(*EARNING_STATUSES.values()) | set(REFUSING_STATUSES)))
_ONE_AT_A_TIME = ("a decision holds its campaign's lock (on SQLite, the database's): one at a time, the pass keeps no "
                  "grant or submission waiting")


def decide_period(campaign_id: int, settings: RewardSettings) -> int:
    """Decide the reports submitted within the campaign's period that have no reward yet (those submitted before it
    was saved, or before its period was widened); how many. Queued when a campaign is saved; the sweep runs it again
    for campaigns saved in the last day, in case that job was lost."""
    campaign = get_campaign(campaign_id)
    if not campaign.is_active:
        return 0
    start, end = period_bounds(campaign)
    after, decided = 0, 0
    while ids := citizen_facts.report_ids_submitted(start, end, statuses=DECIDING_STATUSES, after_id=after,
                                                    limit=CATCH_UP_BATCH):
        after = ids[-1]
        rewarded = set(db.session.scalars(sa.select(Reward.report_id).where(Reward.report_id.in_(ids))))
        for report_id in ids:
            if report_id not in rewarded:
                consider_report(report_id, settings)
                commit_early(_ONE_AT_A_TIME)
                decided += 1
    return decided


def catch_up_decisions(settings: RewardSettings, now: dt.datetime | None = None) -> int:
    """Decide reports whose latest status change reached no listener (its job lost with Redis or a worker):
    no reward yet, or one still pending from before that change. The scheduled pass runs it."""
    since = (now or utcnow()) - CATCH_UP_WINDOW
    after, decided = None, 0
    # Every page of the window: a busy day has more changes than one batch, and the newest matter most.
    while page := citizen_services.changed_report_snapshots(since, after=after, limit=CATCH_UP_BATCH):
        after = (page[-1].changed_at, page[-1].id)
        changed = [(snapshot.id, snapshot.changed_at) for snapshot in page if snapshot.status in DECIDING_STATUSES]
        rewards = {report_id: (state, updated_at) for report_id, state, updated_at in db.session.execute(
            sa.select(Reward.report_id, Reward.state, Reward.updated_at).where(
                Reward.report_id.in_([report_id for report_id, _ in changed])))}
        missed = [report_id for report_id, changed_at in changed if report_id not in rewards
                  or (rewards[report_id][0] == PENDING and rewards[report_id][1] < changed_at)]
        for report_id in missed:
            consider_report(report_id, settings)
            commit_early(_ONE_AT_A_TIME)
        decided += len(missed)
    saved_lately = db.session.scalars(sa.select(Campaign.id).where(Campaign.is_active.is_(True),
                                                                   Campaign.updated_at >= since))
    return decided + sum(decide_period(campaign_id, settings) for campaign_id in list(saved_lately))
