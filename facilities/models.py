"""Facility kinds (the city's component classification), facilities, and import history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import IDS_NEVER_REUSED, Base, TimestampMixin, utcnow

FACILITY_STATUSES = ("in_service", "under_repair", "removed")
# Only facilities in service are found by the nearest query; the two partial indexes below
# hold exactly those rows and cover every column the search reads (SQLite 3.40 needs the
# predicate's columns in the index too), so the search never visits the table.
NEAREST_PREDICATE = "status = 'in_service'"
NEAREST_SHOWN_PREDICATE = "status = 'in_service' AND shown"


class FacilityKind(Base):
    """A kind of mapped component: the 85 standard subclasses plus the city's extension kinds.

    The code is the component's report-category code (class + subclass), e.g. 0301 公共厕所.
    """

    __tablename__ = "facility_kinds"

    code: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    class_name: Mapped[str] = mapped_column(sa.String(32))
    shown_to_residents: Mapped[bool] = mapped_column(default=False)
    is_extension: Mapped[bool] = mapped_column(default=False)
    # The kind's facilities in service, refreshed after every import and edit.
    facility_count: Mapped[int] = mapped_column(default=0)


# FacilityDensity.scope of the counts over every kind shown to residents (what an any-kind search finds).
ALL_SHOWN_SCOPE = "*"


class FacilityDensity(Base):
    """How many facilities in service lie in each coarse grid cell (level spatial.DENSITY_LEVEL), per kind
    and for all kinds shown to residents; refreshed with the kind statistics after imports and edits.

    They only steer the nearest query's choice of its first grid level (so that its first block holds few
    rows yet almost always proves the answer), never its answer.
    """

    __tablename__ = "facility_densities"

    scope: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # a kind code, or ALL_SHOWN_SCOPE
    cell: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    facility_count: Mapped[int]


class Facility(TimestampMixin, Base):
    __tablename__ = "facilities"
    __table_args__ = (
        sa.Index("ix_facilities_nearest_kind", "kind_code", "cell", "lat", "lng", "id", "status",
                 sqlite_where=sa.text(NEAREST_PREDICATE), postgresql_where=sa.text(NEAREST_PREDICATE)),
        sa.Index("ix_facilities_nearest_any", "cell", "lat", "lng", "id", "status", "shown",
                 sqlite_where=sa.text(NEAREST_SHOWN_PREDICATE), postgresql_where=sa.text(NEAREST_SHOWN_PREDICATE)),
        sa.CheckConstraint("status IN ('in_service', 'under_repair', 'removed')", name="status"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind_code: Mapped[str] = mapped_column(sa.ForeignKey("facility_kinds.code"), index=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    # WGS-84 degrees; GCJ-02 is computed at the edges.
    lat: Mapped[float]
    lng: Mapped[float]
    # Z-order (Morton) code of the point on the 2^24 x 2^24 grid, see facilities.spatial.
    cell: Mapped[int] = mapped_column(sa.BigInteger)
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    district: Mapped[str] = mapped_column(sa.String(32), default="")
    # "HH:MM-HH:MM[,HH:MM-HH:MM…]" in Beijing time, a range may cross midnight; NULL: no restricted hours.
    opening_hours: Mapped[str | None] = mapped_column(sa.String(64))
    # Kind-specific attributes, e.g. for toilets: free, accessible, baby_changing, genders.
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="in_service")
    # Copy of the kind's shown_to_residents, so the any-kind index holds only what residents see.
    shown: Mapped[bool] = mapped_column(default=True)
    is_sample: Mapped[bool] = mapped_column(default=False)

    kind: Mapped[FacilityKind] = relationship(lazy="joined", innerjoin=True)

    @property
    def kind_name(self) -> str:
        return self.kind.name


IMPORT_STATUSES = ("queued", "running", "finished", "failed")


class FacilityImport(Base):
    """One import of a facility file: from `flask facilities import`, or uploaded in the admin and run as a job."""

    __tablename__ = "facility_imports"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    file_format: Mapped[str] = mapped_column(sa.String(16))
    kind_override: Mapped[str | None] = mapped_column(sa.String(8))
    # The datum of the file's coordinates (turned into WGS-84 as each row is read).
    coord_type: Mapped[str] = mapped_column(sa.String(8), default="wgs84", server_default="wgs84")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    # The file's rows, counted before they are read (null until then): the progress bar's end.
    rows_total: Mapped[int | None]
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_accepted: Mapped[int] = mapped_column(default=0)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    # Why a failed import stopped (the file unreadable as a whole), in Chinese for the staff.
    failure: Mapped[str | None] = mapped_column(sa.String(255))
    actor_name: Mapped[str] = mapped_column(sa.String(64), default="system")


class FacilityImportRejection(Base):
    """A row an import refused, written with the batch it was read in: why, in Chinese, and in which column."""

    __tablename__ = "facility_import_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("facility_imports.id", ondelete="CASCADE"), index=True)
    line: Mapped[int]
    source_id: Mapped[str] = mapped_column(sa.String(64), default="")
    column: Mapped[str] = mapped_column(sa.String(32), default="")
    reason: Mapped[str] = mapped_column(sa.String(255))
