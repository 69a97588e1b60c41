from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.crypto import EncryptedString, blind_index
from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow
from core.models import StaffAccount
from core.privacy import mask_personal_data


class Resident(TimestampMixin, Base):
    """A mini-program user, known by their WeChat openid (never shown or logged in the clear).

    The openid and unionid are stored encrypted, each with a blind index to find the resident by (``find_by``);
    assigning either sets its index."""

    __tablename__ = "residents"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(EncryptedString(64))
    openid_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(EncryptedString(64))
    unionid_digest: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    is_blocked: Mapped[bool] = mapped_column(default=False, index=True)
    # Why and since when an administrator blocked the resident (spam, abuse); the audit log keeps every change.
    blocked_reason: Mapped[str | None] = mapped_column(sa.String(200))
    blocked_at: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    # The account was deleted (or expired): its openid is a placeholder, its data gone or anonymised.
    forgotten_at: Mapped[dt.datetime | None]

    @validates("openid", "unionid")
    def _set_blind_index(self, field: str, value: str | None) -> str | None:
        setattr(self, f"{field}_digest", self.digest(field, value))
        return value

    @staticmethod
    def digest(field: str, value: str | None) -> str | None:
        """The blind index of an ``openid`` or ``unionid``, as stored in ``<field>_digest``."""
        return blind_index(f"residents.{field}", value)

    @classmethod
    def find_by(cls, field: str, value: str) -> sa.ColumnElement[bool]:
        """The condition "``field`` is ``value``" on an encrypted, indexed field (``openid``, ``unionid``)."""
        return getattr(cls, f"{field}_digest") == cls.digest(field, value)


class Category(Base):
    """A problem type of the national classification: a component (部件) or an event (事件)."""

    __tablename__ = "categories"
    __table_args__ = (sa.UniqueConstraint("kind", "code"),)

    # Kind letter + 4-digit standard code ("B0301" 公共厕所, "S0101" 私搭乱建): the bare codes of
    # components and events overlap.
    id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    class_code: Mapped[str] = mapped_column(sa.String(2))
    class_name: Mapped[str] = mapped_column(sa.String(32))
    code: Mapped[str] = mapped_column(sa.String(4))
    name: Mapped[str] = mapped_column(sa.String(64))
    hint: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # 急要件: its reports stand at the top of the moderation queue and its cases at the top of the desk's, with
    # the urgent time limits.
    is_urgent: Mapped[bool] = mapped_column(default=False)


class Report(TimestampMixin, Base):
    """A street problem reported by a resident (我拍我城)."""

    __tablename__ = "reports"
    __table_args__ = (
        sa.UniqueConstraint("resident_id", "idempotency_key"),
        sa.Index("ix_reports_queue", "status", "created_at", "id"),
        sa.Index("ix_reports_category_recent", "category_id", "created_at"),
        sa.Index("ix_reports_location", "lat", "lng"),
        sa.Index("ix_reports_resident_recent", "resident_id", "created_at"),
        sa.Index("ix_reports_ip_recent", "submitted_ip_digest", "created_at"),
        # The sweeps' "changed lately" (listeners checking that no status change passed them by).
        sa.Index("ix_reports_changed", "updated_at", "id"),
        # The public map (migration 0024): a window's reports, newest first, and a category's clusters over a
        # period, read from the index alone.
        sa.Index("ix_reports_map_window", "lat", "lng", "status", "id"),
        sa.Index("ix_reports_map_category", "category_id", "created_at", "status", "lat", "lng"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("residents.id"))
    category_id: Mapped[str] = mapped_column(sa.ForeignKey("categories.id"))
    description: Mapped[str] = mapped_column(sa.String(500))
    # What the public (Open311, residents nearby) reads: the description with personal data masked, made whenever
    # the description is written (below), so that no read has to remember to mask.
    public_description: Mapped[str] = mapped_column(sa.String(500))
    # WGS-84; GCJ-02 is derived at the edges.
    lat: Mapped[float]
    lng: Mapped[float]
    address: Mapped[str] = mapped_column(sa.String(200))
    district: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    request_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    # Encrypted; the blind index counts a burst of reports from one address.
    submitted_ip: Mapped[str | None] = mapped_column(EncryptedString(45))
    submitted_ip_digest: Mapped[str | None] = mapped_column(sa.String(64))
    # What the checks flagged, as shown; ReportFlag rows hold the same flags for the queue's filter.
    flags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    checks: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"))
    reject_reason: Mapped[str | None] = mapped_column(sa.String(500))
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(64))
    reviewed_at: Mapped[dt.datetime | None]
    rating: Mapped[int | None]
    # 500 characters of up to 4 bytes each, encrypted.
    rating_comment: Mapped[str | None] = mapped_column(EncryptedString(2000))
    rated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    category: Mapped[Category] = relationship(lazy="joined")
    media: Mapped[list[ReportMedia]] = relationship(order_by="ReportMedia.position", cascade="all, delete-orphan")
    events: Mapped[list[ReportEvent]] = relationship(order_by="ReportEvent.id", cascade="all, delete-orphan")
    flag_rows: Mapped[list[ReportFlag]] = relationship(cascade="all, delete-orphan")
    followers: Mapped[list[ReportFollower]] = relationship(
        cascade="all, delete-orphan", foreign_keys="ReportFollower.report_id")
    assignment: Mapped[ReportAssignment | None] = relationship(cascade="all, delete-orphan")

    # Concurrent moderators: the second UPDATE matches no row and fails instead of applying twice.
    __mapper_args__ = {"version_id_col": version}

    @validates("submitted_ip")
    def _set_ip_index(self, field: str, value: str | None) -> str | None:
        self.submitted_ip_digest = ip_digest(value)
        return value

    @validates("description")
    def _write_public_description(self, _key: str, text: str) -> str:
        self.public_description = mask_personal_data(text)
        return text


def ip_digest(ip_address: str | None) -> str | None:
    """The blind index of a submitter's IP address, to count reports from one address without storing it plain."""
    return blind_index("reports.submitted_ip", ip_address)


FOLLOW_REASONS = ("merged", "me_too")


class ReportFollower(Base):
    """A resident other than the reporter who follows a report: its timeline (public parts) and notifications,
    and their own rating once it is resolved. "merged": their report (``source_report_id``) was merged into this
    one as a duplicate; "me_too": they added their voice (附议) to it from the reports nearby."""

    __tablename__ = "report_followers"
    __table_args__ = (sa.UniqueConstraint("report_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"))
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(8))
    source_report_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(EncryptedString(2000))
    rated_at: Mapped[dt.datetime | None]


class ReportAssignment(Base):
    """The moderator who holds a report in the queue: claimed it, or was assigned it by an administrator. A table of
    its own, so that taking a report does not move the report's version under a moderator reading it."""

    __tablename__ = "report_assignments"

    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"), index=True)
    assigned_by: Mapped[str] = mapped_column(sa.String(64))
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    staff: Mapped[StaffAccount] = relationship(lazy="joined")


class ReportFlag(Base):
    """One flag of one report, so that the moderation queue filters on flags in SQL."""

    __tablename__ = "report_flags"

    flag: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True, index=True)


class ReportStatusCount(Base):
    """How many reports are in each status, kept by database triggers (migration 0011) on every insert,
    status change and delete, so that the queue's counts cost a few rows instead of a million.

    Each status is spread over a few shards (the report id modulo SHARDS) so that concurrent
    submissions on PostgreSQL do not all wait for the same row; a status change locks its two rows
    ordered by status (migration 0013), so that reports moving opposite ways cannot deadlock.
    """

    __tablename__ = "report_status_counts"
    SHARDS = 8

    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(sa.BigInteger)


class ReportMapCell(Base):
    """How many reports of each status lie in each cell of the public map's cluster grids, with the sums of their
    coordinates (a cluster's centre), kept by database triggers (migration 0024) on every insert, status or
    position change and delete, so that a city-wide map adds up a few hundred rows instead of a million.

    A grid of ``level`` divides WGS-84 degrees from (-90, -180) into cells of ``360 / 2**level`` degrees (level 16:
    about 610 × 490 m in Qingdao); a coarser level's cell is ``cell >> (level - coarser)`` on each axis, so each
    level answers every coarser one. Three are kept: a city at 12, a district at 14, streets at 16."""

    __tablename__ = "report_map_cells"
    LEVELS = (12, 14, 16)

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    cell_y: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cell_x: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(sa.BigInteger)
    lat_sum: Mapped[float]
    lng_sum: Mapped[float]


class ReportMedia(Base):
    __tablename__ = "report_media"

    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    # The media package's id; packages share no tables, so no foreign key.
    media_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    position: Mapped[int] = mapped_column(default=0)
    purpose: Mapped[str] = mapped_column(sa.String(12), default="evidence")
    # The timeline step it illustrates (a case system's resolution photo); None for the resident's evidence.
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_events.id"))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    # 64-bit difference hash of the photo, hex: equal hashes are near-identical pictures.
    phash: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    # The evidence stays with staff; a photo is public only once a moderator says so, and then only as a copy
    # blurred in the boxes the moderator drew (fractions of the width and height: [x, y, w, h], from the top left).
    is_public: Mapped[bool] = mapped_column(default=False)
    blur_boxes: Mapped[list[list[float]]] = mapped_column(sa.JSON, default=list)
    # The media package's blurred copy, once rendered; None while it is being made (or the photo is not public).
    public_media_id: Mapped[int | None]


EVENT_VISIBILITIES = ("resident", "public", "internal")


class ReportEvent(Base):
    """One step of a report's timeline.

    ``visibility`` says who reads ``note``: "resident" (the resident, on their own report: status changes and what
    moderators tell them), "public" (a public reply: the resident and anyone reading the Open311 feed; stored masked)
    or "internal" (staff only). ``staff_note`` is an officer's internal note on a step the resident does see.
    """

    __tablename__ = "report_events"
    # The monthly figures count reopenings (closed → in progress) by time.
    __table_args__ = (sa.Index("ix_report_events_transition", "from_status", "to_status", "occurred_at"),
                      IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_name: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.String(500))
    visibility: Mapped[str] = mapped_column(sa.String(8), default="resident")
    staff_note: Mapped[str | None] = mapped_column(sa.String(500))


class RejectionTemplate(Base):
    """Reasons moderators pick when rejecting; admins edit them."""

    __tablename__ = "rejection_templates"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
