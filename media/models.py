"""One row per uploaded file; the bytes live in object storage under the keys recorded here."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin

# awaiting_upload: a signed direct upload was handed out; processing: accepted, derivatives pending;
# ready: derivatives made; failed: the job could not render it (the original is kept for staff).
MEDIA_STATUSES = ("awaiting_upload", "processing", "ready", "failed")


class Media(TimestampMixin, Base):
    __tablename__ = "media"
    __table_args__ = (
        # The same resident sending the same bytes again gets the same media back (and owner look-ups use it).
        sa.UniqueConstraint("owner_resident_id", "sha256", name="uq_media_owner_sha256"),
        sa.Index("ix_media_unattached", "attached_to", "created_at"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # citizen's resident, by id alone: no foreign keys across packages (README, "Architecture").
    owner_resident_id: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(16))
    format: Mapped[str] = mapped_column(sa.String(8))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    taken_at: Mapped[dt.datetime | None]
    gps_lat: Mapped[float | None] = mapped_column(sa.Float(precision=53))
    gps_lng: Mapped[float | None] = mapped_column(sa.Float(precision=53))
    perceptual_hash: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    original_key: Mapped[str] = mapped_column(sa.String(255))
    large_key: Mapped[str | None] = mapped_column(sa.String(255))
    thumb_key: Mapped[str | None] = mapped_column(sa.String(255))
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    # What this media belongs to ("report:17", "signboard_application:3"); unattached media expires.
    attached_to: Mapped[str | None] = mapped_column(sa.String(64))
    attached_at: Mapped[dt.datetime | None]
    upload_expires_at: Mapped[dt.datetime | None]
