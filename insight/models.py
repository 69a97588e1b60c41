"""Pre-aggregated figures: one row of facts per report, and daily counters kept in step with them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ReportFact(Base):
    """What a report last contributed to the counters; the difference to its current state is what changes.

    The report's id without a foreign key: packages share no tables.
    """

    __tablename__ = "insight_report_facts"

    report_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # Days are calendar days in Asia/Shanghai.
    created_day: Mapped[dt.date]
    category_id: Mapped[str] = mapped_column(sa.String(8))
    district: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(20))
    cell: Mapped[str] = mapped_column(sa.String(16))
    closed_day: Mapped[dt.date | None]
    close_hours: Mapped[int | None]
    rated_day: Mapped[dt.date | None]
    rating: Mapped[int | None]


class DailyCount(Base):
    """How many reports count towards one figure on one day, in one category and district.

    ``metric`` says what is counted and what ``key`` holds: ``submitted`` (key: the report's status
    now), ``closed`` (key: whole hours from report to close), ``rated`` (key: the rating 1–5),
    ``cell`` (key: the hot-spot grid cell "row:col").
    """

    __tablename__ = "insight_daily_counts"
    __table_args__ = (sa.UniqueConstraint("metric", "day", "category_id", "district", "key",
                                          name="uq_insight_daily_counts_figure"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(12))
    day: Mapped[dt.date]
    category_id: Mapped[str] = mapped_column(sa.String(8))
    district: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(16))
    count: Mapped[int] = mapped_column(default=0)
