"""Signboard pre-approval applications and their history. The templates themselves are data files."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow

STATUSES = {
    "draft": "待修改（未通过自动检查）",
    "submitted": "待审核",
    "changes_requested": "需修改",
    "approved": "已批准",
    "rejected": "未通过",
}


class SignboardApplication(TimestampMixin, Base):
    """A merchant's request to put up one signboard, checked automatically and then by a reviewer."""

    __tablename__ = "signboard_applications"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    # citizen's resident, by id alone: no foreign keys across packages (README, "Architecture").
    resident_id: Mapped[int] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    revision: Mapped[int] = mapped_column(default=1)

    shop_name: Mapped[str] = mapped_column(sa.String(40))
    licence_name: Mapped[str] = mapped_column(sa.String(100))
    credit_code: Mapped[str] = mapped_column(sa.String(18), index=True)
    category: Mapped[str] = mapped_column(sa.String(32))
    address: Mapped[str] = mapped_column(sa.String(200))
    # WGS-84.
    latitude: Mapped[float]
    longitude: Mapped[float]
    facade_width_m: Mapped[float]
    facade_height_m: Mapped[float]
    facade_photo_media_id: Mapped[int]
    floor: Mapped[int]
    building_storeys: Mapped[int]
    pedestrian_street: Mapped[bool]
    single_owner_building: Mapped[bool] = mapped_column(default=False)
    building_kind: Mapped[str] = mapped_column(sa.String(20))

    template_id: Mapped[str] = mapped_column(sa.String(32))
    sign_width_m: Mapped[float]
    sign_height_m: Mapped[float]
    sign_thickness_m: Mapped[float]
    protrusion_m: Mapped[float]
    mount_height_m: Mapped[float]
    mount_position: Mapped[str] = mapped_column(sa.String(20))

    checks: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    rules_version: Mapped[str] = mapped_column(sa.String(40))
    submitted_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    reviewer_comment: Mapped[str | None] = mapped_column(sa.Text)
    certificate_number: Mapped[str | None] = mapped_column(sa.String(24), unique=True)
    # What was approved, frozen: the template as it was, the size, the catalogue version.
    approved_design: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    events: Mapped[list[SignboardApplicationEvent]] = relationship(
        back_populates="application", order_by="SignboardApplicationEvent.id", cascade="all, delete-orphan")

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]

    @property
    def blocking_violations(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"] and c["severity"] == "blocking"]

    @property
    def advisories(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"] and c["severity"] == "advisory"]

    def audit_view(self) -> dict[str, Any]:
        return {"status": self.status, "revision": self.revision, "reviewer_comment": self.reviewer_comment,
                "certificate_number": self.certificate_number}


class SignboardApplicationEvent(Base):
    """One step in an application's history, shown to the merchant and the reviewer."""

    __tablename__ = "signboard_application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("signboard_applications.id"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(sa.String(10))
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    comment: Mapped[str | None] = mapped_column(sa.Text)

    application: Mapped[SignboardApplication] = relationship(back_populates="events")
