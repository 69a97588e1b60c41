"""Campaigns, rewards, the append-only ledger, payouts (WeChat Pay transfer bills) and their notifications.

Money is integer fen everywhere. Balances and budget use are sums over ``reward_ledger``;
nothing here keeps a running total.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow


class Campaign(TimestampMixin, Base):
    __tablename__ = "reward_campaigns"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    # Asia/Shanghai calendar dates, both inclusive.
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    budget_fen: Mapped[int]
    default_amount_fen: Mapped[int]
    # {"S0102": 1000, "S01": 500}: a category id, or a class key (kind letter + class code), to fen.
    amounts: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    # Category ids or class keys that earn; empty: every category.
    eligible_categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # District names that earn; empty: the whole service area.
    eligible_districts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    daily_cap_fen: Mapped[int]
    monthly_cap_fen: Mapped[int]
    # "accepted": earned when a moderator accepts the report; "closed": only when its case is closed as resolved.
    earn_on: Mapped[str] = mapped_column(sa.String(16), default="accepted")
    # Rewards above this amount need a second, different officer's approval; None: one approval always.
    second_approval_above_fen: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)

    def audit_view(self) -> dict[str, Any]:
        return {"name": self.name, "starts_on": self.starts_on.isoformat(), "ends_on": self.ends_on.isoformat(),
                "budget_fen": self.budget_fen, "default_amount_fen": self.default_amount_fen,
                "amounts": self.amounts, "eligible_categories": self.eligible_categories,
                "eligible_districts": self.eligible_districts, "daily_cap_fen": self.daily_cap_fen,
                "monthly_cap_fen": self.monthly_cap_fen, "earn_on": self.earn_on,
                "second_approval_above_fen": self.second_approval_above_fen, "is_active": self.is_active}


class Reward(TimestampMixin, Base):
    """What one report earns (or why it earns nothing). One per report, so a report can never earn twice."""

    __tablename__ = "rewards"
    __table_args__ = (sa.Index("ix_rewards_state", "state", "id"),
                      # Figures: the reports a campaign looked at in a period.
                      sa.Index("ix_rewards_campaign_created", "campaign_id", "created_at"),
                      IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("reward_campaigns.id"), index=True)
    # citizen's report and resident ids; packages share no tables, so no foreign keys.
    report_id: Mapped[int] = mapped_column(unique=True)
    resident_id: Mapped[int] = mapped_column(index=True)
    amount_fen: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    hold_signals: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # An officer looked at the hold signals and let the reward be granted.
    released_by: Mapped[str | None] = mapped_column(sa.String(64))
    # The Asia/Shanghai date it was granted, for the per-day and per-month caps.
    granted_on: Mapped[dt.date | None]
    # Officers' approvals it needs, fixed from the campaign's threshold when it is granted: an officer who changes
    # the threshold afterwards does not change what applies to it.
    approvals_required: Mapped[int] = mapped_column(default=1)


class LedgerEntry(Base):
    """One money event. Rows are never updated or deleted (database triggers enforce it).

    ``dedupe_key`` is unique: a repeated job, notification or click cannot write the same event twice.
    """

    __tablename__ = "reward_ledger"
    # Budget sums and the figures of a period read the ledger's indexes only (amounts included).
    __table_args__ = (sa.Index("ix_reward_ledger_campaign_kind", "campaign_id", "kind", "earned_on", "amount_fen"),
                      sa.Index("ix_reward_ledger_kind_time", "kind", "occurred_at"),
                      sa.Index("ix_reward_ledger_resident_day", "resident_id", "earned_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("reward_campaigns.id"))
    resident_id: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(20))
    amount_fen: Mapped[int]
    # The Asia/Shanghai date the reward was earned, repeated on its reversal, for the caps.
    earned_on: Mapped[dt.date]
    payout_id: Mapped[int | None] = mapped_column(index=True)
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    dedupe_key: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Payout(TimestampMixin, Base):
    """One WeChat Pay transfer bill, one per ``payout_requested`` ledger entry.

    ``out_bill_no`` is the deployment's prefix and a random part, drawn once and sent on every retry: WeChat Pay
    wants it unique per merchant, and other databases (staging, another city) may pay through the same merchant.
    """

    __tablename__ = "reward_payouts"
    __table_args__ = (sa.Index("ix_reward_payouts_state", "state", "updated_at"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"), index=True)
    ledger_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("reward_ledger.id"), unique=True)
    out_bill_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    amount_fen: Mapped[int]
    # SHA-256 of the openid the bill pays (None: made before it was kept), to recognise the bill as ours when queried.
    payee_digest: Mapped[str | None] = mapped_column(sa.String(64))
    # UNSENT until WeChat has answered with a bill; then WeChat's states (ACCEPTED … SUCCESS, FAIL, CANCELLED);
    # COLLISION when WeChat holds a bill of another payee or amount under this number (left to an officer).
    state: Mapped[str] = mapped_column(sa.String(20), default="UNSENT")
    create_attempts: Mapped[int] = mapped_column(default=0)
    # The sweep asked WeChat to cancel it because the resident cannot confirm it (the answer carrying its
    # package_info was lost; queries never return one): once CANCELLED, a new bill is sent in its place.
    resend_after_cancel: Mapped[bool] = mapped_column(default=False)
    transfer_bill_no: Mapped[str | None] = mapped_column(sa.String(64))
    package_info: Mapped[str | None] = mapped_column(sa.Text)
    fail_reason: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.String(200))


class PayoutNotification(Base):
    """Notifications already applied, by WeChat's notification id: a replay changes nothing."""

    __tablename__ = "reward_payout_notifications"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    out_bill_no: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(20))


class PayoutAlert(Base):
    """Why payouts are paused (merchant balance exhausted, rate limited); open until an officer resumes them."""

    __tablename__ = "reward_payout_alerts"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    raised_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    code: Mapped[str] = mapped_column(sa.String(32))
    message: Mapped[str] = mapped_column(sa.String(200))
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))


class ExcludedResident(Base):
    """A resident who earns nothing: a staff member's own WeChat account, or excluded by an officer."""

    __tablename__ = "reward_excluded_residents"

    resident_id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(64))
