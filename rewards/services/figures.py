"""Figures for the city's insight (read-only): campaigns in a period, and where their budgets stand."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from core.db import db
from rewards.models import Campaign, LedgerEntry, Reward
from rewards.services.states import L_GRANTED, L_PAID, L_REVERSED, SHANGHAI


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
        Reward.campaign_id.in_(ids), Reward.created_at >= start, Reward.created_at < end)
        .group_by(Reward.campaign_id)).all())
    earned = {(campaign_id, kind): (int(count), int(fen)) for campaign_id, kind, count, fen in db.session.execute(
        sa.select(LedgerEntry.campaign_id, LedgerEntry.kind, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen))
        .where(ours, LedgerEntry.kind.in_((L_GRANTED, L_REVERSED)), LedgerEntry.earned_on.between(first_day, last_day))
        .group_by(LedgerEntry.campaign_id, LedgerEntry.kind))}
    paid_rows = db.session.execute(
        sa.select(LedgerEntry.campaign_id, sa.func.count(), sa.func.sum(LedgerEntry.amount_fen),
                  sa.func.count(sa.distinct(LedgerEntry.resident_id)))
        .where(ours, LedgerEntry.kind == L_PAID, LedgerEntry.occurred_at >= start, LedgerEntry.occurred_at < end)
        .group_by(LedgerEntry.campaign_id))
    paid = {campaign_id: (int(count), int(fen), int(residents)) for campaign_id, count, fen, residents in paid_rows}
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
