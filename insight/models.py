"""Pre-aggregated figures: one row of facts per report, and small rollups kept in step with them.

Each rollup counts reports by a few columns only, so that a figure reads few rows: per day where the
dashboard needs any run of days, per month (the first day of the month) where only the monthly
report, which filters by district, needs them. Days and months are Asia/Shanghai calendar dates.
Which figure reads which rollup is in ``insight.services``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ReportFact(Base):
    """What a report last contributed to the rollups; the difference to its current state is what changes.

    The report's id without a foreign key: packages share no tables.
    """

    __tablename__ = "insight_report_facts"

    report_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_day: Mapped[dt.date]
    category_id: Mapped[str] = mapped_column(sa.String(8))
    district: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(20))
    cell: Mapped[str] = mapped_column(sa.String(16))
    closed_day: Mapped[dt.date | None]
    close_hours: Mapped[int | None]
    rated_day: Mapped[dt.date | None]
    rating: Mapped[int | None]


class Rollup:
    """A count of reports by the key columns (the primary key); ``count`` may be 0 after changes."""

    count: Mapped[int] = mapped_column(default=0)


class StatusDay(Rollup, Base):
    """Reports submitted on a day, by district and by their status now."""

    __tablename__ = "insight_status_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)


class CategoryDay(Rollup, Base):
    """Reports submitted on a day, by category (the whole city)."""

    __tablename__ = "insight_category_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    category_id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)


class CategoryMonth(Rollup, Base):
    """Reports submitted in a month, by district and category."""

    __tablename__ = "insight_category_months"

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    category_id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)


class CloseDay(Rollup, Base):
    """Reports closed on a day, by whole hours from report to close (the whole city)."""

    __tablename__ = "insight_close_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    hours: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class CloseMonth(Rollup, Base):
    """Reports closed in a month, by district and whole hours from report to close."""

    __tablename__ = "insight_close_months"

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    hours: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class RatingDay(Rollup, Base):
    """Ratings given on a day, by district and rating (1–5)."""

    __tablename__ = "insight_rating_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    rating: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class CellDay(Rollup, Base):
    """Reports submitted on a day, by hot-spot grid cell ("row:col")."""

    __tablename__ = "insight_cell_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    cell: Mapped[str] = mapped_column(sa.String(16), primary_key=True)


class CellCategoryDay(Rollup, Base):
    """Reports of one category submitted on a day, by grid cell: the category's hot spots."""

    __tablename__ = "insight_cell_category_days"

    category_id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    cell: Mapped[str] = mapped_column(sa.String(16), primary_key=True)


class CellMonth(Rollup, Base):
    """Reports submitted in a month, by district and grid cell: a district's hot spots."""

    __tablename__ = "insight_cell_months"

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    cell: Mapped[str] = mapped_column(sa.String(16), primary_key=True)


ROLLUPS: tuple[type[Rollup], ...] = (StatusDay, CategoryDay, CategoryMonth, CloseDay, CloseMonth, RatingDay, CellDay,
                                     CellCategoryDay, CellMonth)
