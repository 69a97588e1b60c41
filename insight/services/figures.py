"""Report figures read from the rollups: counts, closing times and ratings of a period, hot spots, and the
districts ranked."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import heapq
import itertools
import math
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from citizen import services as citizen_services
from core.db import db
from insight.models import (CategoryDay, CategoryMonth, CellCategoryDay, CellDay, CellMonth, CloseDay, CloseMonth,
                            RatingDay, Rollup, StatusDay)
from insight.services.counters import cell_centre
from insight.services.periods import Period
from insight.settings import RANKING_MEASURES, InsightSettings

# Reports staff took on, and those they turned away; acceptance rate = taken on / (taken on + turned away).
TAKEN_ON = ("accepted", "forwarded", "in_progress", "resolved", "closed")
TURNED_AWAY = ("rejected", "duplicate")
SATISFIED_FROM = 4


def _sum(rollup: type[Rollup], period: Period, group_by: Iterable[str], **filters: str) -> list[tuple[Any, ...]]:
    """The rollup's counts in the period, summed by the ``group_by`` columns; rows summing to 0 left out.

    Month rollups answer whole months only.
    """
    if hasattr(rollup, "day"):
        in_period = rollup.day.between(period.first, period.last)
    elif period.whole_months:
        in_period = rollup.month.between(period.first, period.last)
    else:
        raise ValueError(f"{rollup.__tablename__} counts whole months, not {period.first}–{period.last}")
    columns = [getattr(rollup, name) for name in group_by]
    query = (sa.select(*columns, sa.func.sum(rollup.count)).where(in_period)
             .where(*(getattr(rollup, name) == value for name, value in filters.items()))
             .group_by(*columns))
    return [tuple(row) for row in db.session.execute(query) if row[-1]]


def _grouped(rollup: type[Rollup], period: Period, column: str, **filters: str) -> dict[Any, int]:
    return {value: int(count) for value, count in _sum(rollup, period, [column], **filters)}


def percentile(histogram: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile of whole hours: the smallest h with at least ⌈fraction·n⌉ values ≤ h."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    hours = sorted(histogram)
    running = itertools.accumulate(histogram[h] for h in hours)
    return next(h for h, seen in zip(hours, running, strict=True) if seen >= rank)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclasses.dataclass(frozen=True)
class CloseFigures:
    closed: int
    median_hours: int | None
    p90_hours: int | None
    within_limit: int
    limit_hours: int
    histogram: dict[int, int]

    @property
    def disposal_rate(self) -> float | None:
        return _ratio(self.within_limit, self.closed)

    @classmethod
    def of(cls, histogram: dict[int, int], limit_hours: int) -> CloseFigures:
        return cls(closed=sum(histogram.values()), median_hours=percentile(histogram, 0.5),
                   p90_hours=percentile(histogram, 0.9), limit_hours=limit_hours, histogram=histogram,
                   within_limit=sum(count for hours, count in histogram.items() if hours < limit_hours))


@dataclasses.dataclass(frozen=True)
class Satisfaction:
    ratings: dict[int, int]

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def average(self) -> float | None:
        return _ratio(sum(rating * count for rating, count in self.ratings.items()), self.rated)

    @property
    def satisfied_rate(self) -> float | None:
        return _ratio(sum(count for rating, count in self.ratings.items() if rating >= SATISFIED_FROM), self.rated)


@dataclasses.dataclass(frozen=True)
class ReportFigures:
    period: Period
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_district: dict[str, int]
    by_day: dict[dt.date, int]
    closing: CloseFigures
    satisfaction: Satisfaction
    reopened: int = 0  # times residents reopened a closed report in the period

    @property
    def reopen_rate(self) -> float | None:
        """Reopenings per report closed in the period."""
        return _ratio(self.reopened, self.closing.closed)

    @property
    def submitted(self) -> int:
        return sum(self.by_status.values())

    @property
    def taken_on(self) -> int:
        return sum(self.by_status.get(status, 0) for status in TAKEN_ON)

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.taken_on, self.taken_on + sum(self.by_status.get(status, 0) for status in TURNED_AWAY))


def report_figures(period: Period, settings: InsightSettings, *, district: str | None = None) -> ReportFigures:
    """The period's report figures; for one district, whole months only (its rollups are monthly)."""
    in_district = {"district": district} if district else {}
    by_status = dict.fromkeys(citizen_services.STATUS_NAMES, 0)
    by_district: collections.Counter[str] = collections.Counter()
    by_day = dict.fromkeys(period.days, 0)
    for day, where, status, count in _sum(StatusDay, period, ["day", "district", "status"], **in_district):
        by_status[status] = by_status.get(status, 0) + int(count)
        by_district[where] += int(count)
        by_day[day] += int(count)
    if district:
        by_category = _grouped(CategoryMonth, period, "category_id", district=district)
        closing = _grouped(CloseMonth, period, "hours", district=district)
    else:
        by_category, closing = _grouped(CategoryDay, period, "category_id"), _grouped(CloseDay, period, "hours")
    ratings = _grouped(RatingDay, period, "rating", **in_district)
    return ReportFigures(period=period, by_status=by_status,
                         by_category=dict(sorted(by_category.items(), key=lambda item: (-item[1], item[0]))),
                         by_district=dict(sorted(by_district.items(), key=lambda item: (-item[1], item[0]))),
                         by_day=by_day, closing=CloseFigures.of(closing, settings.insight_close_limit_hours),
                         satisfaction=Satisfaction(ratings),
                         reopened=citizen_services.reopened_count(*period.bounds, district=district))


def category_names() -> dict[str, str]:
    return {category.id: category.name for category in citizen_services.list_categories(include_inactive=True)}


# --- hot spots ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HotSpot:
    cell: str
    lat: float
    lng: float
    count: int
    district: str


@dataclasses.dataclass(frozen=True)
class HotSpotGrid:
    grid_m: int
    cells: dict[str, int]

    def top(self, limit: int) -> list[HotSpot]:
        ranked = heapq.nsmallest(limit, self.cells.items(), key=lambda item: (-item[1], item[0]))
        return [HotSpot(cell, *cell_centre(cell, self.grid_m), count=count,
                        district=citizen_services.district_of(*cell_centre(cell, self.grid_m)))
                for cell, count in ranked]


def hot_spot_grid(period: Period, settings: InsightSettings, *, category_id: str | None = None,
                  district: str | None = None) -> HotSpotGrid:
    """Reports per grid cell: of one category, or of one district (whole months), or of all."""
    if category_id and district:
        raise ValueError("hot spots are filtered by a category or by a district, not both")
    if category_id:
        cells = _grouped(CellCategoryDay, period, "cell", category_id=category_id)
    elif district:
        cells = _grouped(CellMonth, period, "cell", district=district)
    else:
        cells = _city_cells(period)
    return HotSpotGrid(settings.insight_grid_m, cells)


def _city_cells(period: Period) -> dict[str, int]:
    """Reports per cell, the whole city: the period's whole months from the month rollup (a busy cell is a row
    a month there, not a row a day), the days before and after them from the day rollup."""
    months, days = period.split_months()
    parts = [sa.select(CellDay.cell, CellDay.count).where(CellDay.day.between(part.first, part.last)) for part in days]
    if months is not None:
        in_months = CellMonth.month.between(months.first, months.last)
        parts.append(sa.select(CellMonth.cell, CellMonth.count).where(in_months))
    counts = sa.union_all(*parts).subquery()
    query = sa.select(counts.c.cell, sa.func.sum(counts.c.count)).group_by(counts.c.cell)
    return {cell: int(count) for cell, count in db.session.execute(query) if count}


# --- districts ranked -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DistrictScore:
    """A district's measures (None: too few reports to measure) and its score and rank (None: not ranked)."""

    district: str
    handled: int
    median_hours: int | None
    average_rating: float | None
    rated: int
    measures: dict[str, float | None]
    score: float | None
    rank: int | None

    @property
    def ranked(self) -> bool:
        return self.rank is not None


def district_ranking(period: Period, settings: InsightSettings) -> list[DistrictScore]:
    """The districts with enough data scored 0–100 on the reports they closed in the period (whole months) and
    ranked; then those with too little data, unranked, in the city's order. Missing is missing, never 0.

    A district is ranked when it closed at least ``insight_ranking_min_sample`` reports. Measures, each 0–1,
    among the ranked districts: ``handled`` = closed / the most any closed; ``speed`` = (fastest median hours + 1) /
    (own median hours + 1); ``satisfaction`` = average rating / 5, only with at least that many ratings (else
    None). The score is the weighted mean × 100 of the measures the district has.
    """
    closing: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for district, hours, count in _sum(CloseMonth, period, ["district", "hours"]):
        closing[district][hours] = int(count)
    ratings: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for district, rating, count in _sum(RatingDay, period, ["district", "rating"]):
        ratings[district][rating] = int(count)
    names = citizen_services.district_names()
    least = settings.insight_ranking_min_sample
    handled = {name: sum(closing[name].values()) for name in names}
    medians = {name: percentile(closing[name], 0.5) for name in names}
    satisfaction = {name: Satisfaction(ratings[name]) for name in names}
    measured = [name for name in names if handled[name] >= least]
    most = max((handled[name] for name in measured), default=0)
    fastest = min((medians[name] for name in measured), default=0)
    weights = dict(settings.insight_ranking_weights)
    measures: dict[str, dict[str, float | None]] = {name: dict.fromkeys(RANKING_MEASURES) for name in names}
    scores: dict[str, float] = {}
    for name in measured:
        average = satisfaction[name].average
        measures[name] = {"handled": handled[name] / most, "speed": (fastest + 1) / (medians[name] + 1),
                          "satisfaction": average / 5 if average is not None and satisfaction[name].rated >= least
                          else None}
        weighed = [(weights[m], value) for m, value in measures[name].items() if value is not None and weights[m]]
        if weighed:
            scores[name] = round(100 * sum(w * value for w, value in weighed) / sum(w for w, _ in weighed), 1)
    order = sorted(scores, key=lambda name: (-scores[name], names.index(name)))
    ranks = {name: position for position, name in enumerate(order, start=1)}
    return [DistrictScore(district=name, handled=handled[name], median_hours=medians[name],
                          average_rating=satisfaction[name].average, rated=satisfaction[name].rated,
                          measures=measures[name], score=scores.get(name), rank=ranks.get(name))
            for name in order + [name for name in names if name not in ranks]]
