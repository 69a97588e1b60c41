"""Staff accounts and the append-only audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow


class StaffAccount(TimestampMixin, Base):
    __tablename__ = "staff_accounts"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[dt.datetime | None]

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)

    def audit_view(self) -> dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name, "roles": sorted(self.roles),
                "is_active": self.is_active}


class StaffSession(Base):
    """A browser signed in as a staff member. Its cookie carries a token whose hash is kept here, so that signing
    out, a password change or a deactivation ends the session on the server, not only in that browser."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class AuditEntry(Base):
    """One staff action. Rows are never updated or deleted (database triggers enforce it)."""

    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"), index=True)
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))


class SweepRun(Base):
    """The last run of one periodic command of the scheduler (`flask schedule run`), one row per command: what the
    jobs page shows and the metric of its last success."""

    __tablename__ = "sweep_runs"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    # None while it runs (or when its scheduler died during it).
    succeeded: Mapped[bool | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    last_success_at: Mapped[dt.datetime | None]
    # The scheduler that ran it: host and process id.
    runner: Mapped[str] = mapped_column(sa.String(128))
