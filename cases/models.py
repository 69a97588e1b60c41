"""Forwarding reports to the city's case system and hearing back: the outbox, updates, the built-in desk."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow


class OutboxMixin(TimestampMixin):
    """Work a job does at least once: claimed under a lease, retried with backoff, swept up when lost.

    pending → working → done | retrying (→ working …) | failed; "skipped" when there is nothing to do.
    """

    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When a job was last queued for it, and until when the attempt under way owns it.
    enqueued_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))


class CaseDelivery(OutboxMixin, Base):
    """The outbox: one row per accepted report, written in the acceptance's own transaction."""

    __tablename__ = "case_deliveries"
    __table_args__ = (sa.Index("ix_case_deliveries_due", "status", "next_attempt_at"),
                      # Figures: the reports accepted in a period and not yet delivered, by status.
                      sa.Index("ix_case_deliveries_backlog", "status", "created_at"),
                      IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The citizen package's report id (packages share no tables, so no foreign key); also the idempotency key.
    report_id: Mapped[int] = mapped_column(unique=True)
    case_system: Mapped[str] = mapped_column(sa.String(16))
    delivered_at: Mapped[dt.datetime | None]
    external_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    external_token: Mapped[str | None] = mapped_column(sa.String(64), index=True)

    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(order_by="DeliveryAttempt.id",
                                                              cascade="all, delete-orphan")


class CaseReopening(OutboxMixin, Base):
    """The outbox of reopened reports for a case system outside (Open311, webhook): one row per reopening, written in
    the reopening's own transaction, sent as a new request referring to the old one. The desk reworks its own case
    at once instead."""

    __tablename__ = "case_reopenings"
    __table_args__ = (sa.UniqueConstraint("report_id", "sequence"),
                      sa.Index("ix_case_reopenings_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(index=True)
    sequence: Mapped[int]  # the report's first, second… reopening
    reason: Mapped[str] = mapped_column(sa.String(500))
    case_system: Mapped[str] = mapped_column(sa.String(16))
    # The case system's id (or token) of the request it reopens.
    previous_external_id: Mapped[str | None] = mapped_column(sa.String(64))
    delivered_at: Mapped[dt.datetime | None]
    external_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)


class DeliveryAttempt(Base):
    __tablename__ = "case_delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("case_deliveries.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # delivered | retry | failed
    detail: Mapped[str | None] = mapped_column(sa.String(500))


class CaseUpdate(Base):
    """A status change heard from the case system, kept once per (source, update id): a repeat is a no-op."""

    __tablename__ = "case_updates"
    __table_args__ = (sa.UniqueConstraint("source", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # push | poll | desk
    update_id: Mapped[str] = mapped_column(sa.String(128))
    body_digest: Mapped[str] = mapped_column(sa.String(64))
    report_id: Mapped[int] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    photo_urls: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # The citizen timeline event it made, once applied; None when it changed nothing (a repeat of the report's
    # status, or older than an update applied before it).
    report_event_id: Mapped[int | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the case system made it (as it said, else its receipt): updates apply in this order, not as they arrive.
    occurred_at: Mapped[dt.datetime | None]


class DeskCase(TimestampMixin, Base):
    """A case on the built-in case desk (立案 → 派遣 → 处置 → 核查 → 结案)."""

    __tablename__ = "desk_cases"
    # A handler's desk counts and lists its departments' cases by step (bench/desk.py).
    __table_args__ = (sa.Index("ix_desk_cases_department_step", "department_id", "step"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(unique=True)
    step: Mapped[str] = mapped_column(sa.String(16), index=True)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_departments.id"))
    # The department's name when dispatched, for display and reports (which group by it); a renamed department's
    # old cases keep the name they were handled under.
    department: Mapped[str | None] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)
    # The clock of the current step (cases.services.limits): when it started, when it is due (None once closed),
    # whether its limit counts working hours, and when the sweep found it overdue (督办, once per step).
    step_started_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    due_in_working_hours: Mapped[bool] = mapped_column(default=True)
    overdue_at: Mapped[dt.datetime | None]
    # Its category is urgent (急要件): short limits, the top of the queue.
    is_urgent: Mapped[bool] = mapped_column(default=False)

    steps: Mapped[list[DeskCaseStep]] = relationship(order_by="DeskCaseStep.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def reworked(self) -> bool:
        """Whether a resident reopened the case (返工)."""
        return any(step.action == REWORK_ACTION for step in self.steps)


# The desk step of a resident's reopening: back to 处置.
REWORK_ACTION = "reopen"


class DeskCaseStep(Base):
    __tablename__ = "desk_case_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("desk_cases.id"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[str] = mapped_column(sa.String(16))
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    # The role the step was taken in (dispatcher, handler, verifier, admin); None for the system and residents.
    actor_role: Mapped[str | None] = mapped_column(sa.String(32))
    # The department holding the case at this step (for a return accepted, the one that returned it): what a
    # department's figures (returns, rework) count by.
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_departments.id"), index=True)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    media_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    # 处置's proof, as checked when the handler gave it: each after-photo's media id, how far from the report's place
    # it was taken and by whose word ("exif", or "upload": the browser's position), and when (EXIF, UTC ISO 8601).
    proof: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # The deadline of the step this one ended (None: the step had none): on time when occurred_at is not later.
    due_at: Mapped[dt.datetime | None]


class DeskSupervision(Base):
    """督办: a desk case found overdue by the sweep, once per deadline; the notice its department's staff read."""

    __tablename__ = "desk_supervisions"
    __table_args__ = (sa.UniqueConstraint("case_id", "due_at"),
                      sa.Index("ix_desk_supervisions_unread", "read_at", "department"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("desk_cases.id"), index=True)
    step: Mapped[str] = mapped_column(sa.String(16))
    # The department notified (None: the centre, the case not yet dispatched), by id for its handlers' notice list
    # and by name as it was called then.
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_departments.id"), index=True)
    department: Mapped[str | None] = mapped_column(sa.String(64))
    due_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
    read_by: Mapped[str | None] = mapped_column(sa.String(64))


class CaseTimeLimit(TimestampMixin, Base):
    """An administrator's time limit of a desk step, overriding the shipped defaults (cases/data/time_limits.json)
    for one scope: "default", "urgent", a category class ("S04") or a category ("S0401")."""

    __tablename__ = "case_time_limits"
    __table_args__ = (sa.UniqueConstraint("scope", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(8))
    step: Mapped[str] = mapped_column(sa.String(16))
    minutes: Mapped[int]
    working_hours: Mapped[bool] = mapped_column(default=True)


class CaseCalendarDay(Base):
    """A day off the working week's pattern: a holiday on a weekday, or a weekend made a working day (调休)."""

    __tablename__ = "case_calendar_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(32))


class CaseWorkingWeek(TimestampMixin, Base):
    """An administrator's working week (weekdays and working periods), replacing the shipped one
    (cases/data/time_limits.json) while it is set. One row at most (``WORKING_WEEK_ID``)."""

    __tablename__ = "case_working_week"

    id: Mapped[int] = mapped_column(primary_key=True)
    weekdays: Mapped[list[int]] = mapped_column(sa.JSON)  # ISO: Monday 1 … Sunday 7
    periods: Mapped[list[list[str]]] = mapped_column(sa.JSON)  # [["09:00", "12:00"], ["13:30", "17:30"]], in order


WORKING_WEEK_ID = 1


class Department(TimestampMixin, Base):
    """A handling department the desk dispatches cases to (a street office, sanitation, municipal works…)."""

    __tablename__ = "case_departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    is_active: Mapped[bool] = mapped_column(default=True)

    rules: Mapped[list[RoutingRule]] = relationship(order_by="(RoutingRule.category_prefix, RoutingRule.district)",
                                                    cascade="all, delete-orphan", back_populates="department")


class RoutingRule(Base):
    """Cases of a category (a category id or its prefix: "S01" for every S01xx, "" for any) in a district ("" for
    any) are proposed to a department; of the rules matching a case, the most specific wins."""

    __tablename__ = "case_routing_rules"
    __table_args__ = (sa.UniqueConstraint("category_prefix", "district"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("case_departments.id"), index=True)
    category_prefix: Mapped[str] = mapped_column(sa.String(8))
    district: Mapped[str] = mapped_column(sa.String(16))

    department: Mapped[Department] = relationship(back_populates="rules")


class DepartmentMember(Base):
    """A staff member with the handler role working for a department: they see and handle its cases."""

    __tablename__ = "case_department_members"

    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("case_departments.id"), primary_key=True, index=True)


class SubscribeGrant(TimestampMixin, Base):
    """How many more subscribe messages of a template a resident allowed (each tap in wx.requestSubscribeMessage
    allows one)."""

    __tablename__ = "subscribe_grants"
    __table_args__ = (sa.UniqueConstraint("resident_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(index=True)
    template_id: Mapped[str] = mapped_column(sa.String(64))
    remaining: Mapped[int] = mapped_column(default=0)


class Notification(OutboxMixin, Base):
    """One subscribe message for one status change of a report to one of its residents (the reporter or a
    follower), sent by a job and retried until it goes; or the record of why it was not (skipped: no permission
    left; coalesced: a newer change of the report replaced it before it went, using its permission)."""

    __tablename__ = "case_notifications"
    __table_args__ = (sa.Index("ix_case_notifications_due", "status", "next_attempt_at"),
                      sa.UniqueConstraint("report_event_id", "resident_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    report_event_id: Mapped[int]
    report_id: Mapped[int] = mapped_column(index=True)
    resident_id: Mapped[int]
    template_id: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    sent_at: Mapped[dt.datetime | None]
    # The notification that replaced this one (status "coalesced").
    coalesced_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_notifications.id"))


class Open311Request(Base):
    """A request filed through our Open311 server: its token, until moderation gives it a public id."""

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client: Mapped[str] = mapped_column(sa.String(64))
    report_id: Mapped[int] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
