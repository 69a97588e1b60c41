"""City insight: the one query layer behind the dashboard and the monthly report. No Flask here.

Report figures are read from small rollups (``insight.models``) kept in step with every report by
``refresh_report`` — run as a listener of the report events — and rebuilt in bulk by ``rebuild``.
Sections: keeping the counters; periods; report figures; hot spots; districts ranked; other packages'
figures (signboard applications, forwarding, rewards — through their services); the dashboard and the
monthly report, which only combine the sections above.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import heapq
import itertools
import math
import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cases import services as cases_services
from citizen import services as citizen_services
from citizen.services import ReportSnapshot
from core.config import Config
from core.db import db, id_digests, utcnow
from insight.models import (ROLLUPS, CategoryDay, CategoryMonth, CellCategoryDay, CellDay, CellMonth, CloseDay,
                            CloseMonth, RatingDay, ReportFact, Rollup, StatusDay)
from rewards import services as rewards_services
from signboard_templates import services as signboard_services

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Reports staff took on, and those they turned away; acceptance rate = taken on / (taken on + turned away).
TAKEN_ON = ("accepted", "forwarded", "in_progress", "resolved", "closed")
TURNED_AWAY = ("rejected", "duplicate")
SATISFIED_FROM = 4
METRES_PER_DEGREE = 111_320.0
# Grid columns are a fixed width in degrees of longitude, measured at Qingdao's latitude.
GRID_REFERENCE_LAT = 36.0
REBUILD_BATCH = 5000
Key = tuple[type[Rollup], tuple[Any, ...]]


# --- keeping the counters -------------------------------------------------------------------

def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


def grid_steps(grid_m: int) -> tuple[float, float]:
    """The size of a grid cell in degrees of latitude and of longitude."""
    return (grid_m / METRES_PER_DEGREE,
            grid_m / (METRES_PER_DEGREE * math.cos(math.radians(GRID_REFERENCE_LAT))))


def cell_of(lat: float, lng: float, grid_m: int) -> str:
    lat_step, lng_step = grid_steps(grid_m)
    return f"{math.floor(lat / lat_step)}:{math.floor(lng / lng_step)}"


def cell_centre(cell: str, grid_m: int) -> tuple[float, float]:
    row, col = (int(part) for part in cell.split(":"))
    lat_step, lng_step = grid_steps(grid_m)
    return (row + 0.5) * lat_step, (col + 0.5) * lng_step


def _fact_values(snapshot: ReportSnapshot, grid_m: int) -> dict[str, Any]:
    closed = snapshot.closed_at is not None
    return {
        "report_id": snapshot.id,
        "created_day": local_day(snapshot.created_at),
        "category_id": snapshot.category_id,
        "district": snapshot.district or "",
        "status": snapshot.status,
        "cell": cell_of(snapshot.lat, snapshot.lng, grid_m),
        "closed_day": local_day(snapshot.closed_at) if closed else None,
        "close_hours": int((snapshot.closed_at - snapshot.created_at).total_seconds() // 3600) if closed else None,
        "rated_day": local_day(snapshot.rated_at) if snapshot.rating is not None and snapshot.rated_at else None,
        "rating": snapshot.rating,
    }


# Each rollup's key columns and the fact each is read from; "month" is the first day of that day's month.
# A report adds 1 to a rollup when all those facts are known (closed reports to the close rollups …).
SOURCES: dict[type[Rollup], dict[str, str]] = {
    StatusDay: {"day": "created_day", "district": "district", "status": "status"},
    CategoryDay: {"day": "created_day", "category_id": "category_id"},
    CategoryMonth: {"month": "created_day", "district": "district", "category_id": "category_id"},
    CloseDay: {"day": "closed_day", "hours": "close_hours"},
    CloseMonth: {"month": "closed_day", "district": "district", "hours": "close_hours"},
    RatingDay: {"day": "rated_day", "district": "district", "rating": "rating"},
    CellDay: {"day": "created_day", "cell": "cell"},
    CellCategoryDay: {"category_id": "category_id", "day": "created_day", "cell": "cell"},
    CellMonth: {"month": "created_day", "district": "district", "cell": "cell"},
}


def _contributions(values: dict[str, Any]) -> list[Key]:
    """The rollup rows one report adds 1 to."""
    keys = []
    for rollup, sources in SOURCES.items():
        key = tuple(values[fact] for fact in sources.values())
        if None not in key:
            keys.append((rollup, tuple(value.replace(day=1) if column == "month" else value
                                       for column, value in zip(sources, key))))
    return keys


def _fact_as_values(fact: ReportFact) -> dict[str, Any]:
    return {column.key: getattr(fact, column.key) for column in sa.inspect(ReportFact).columns}


@functools.cache
def _upsert_statement(rollup: type[Rollup], dialect_name: str) -> sa.Insert:
    # Built once per process, on the table rather than the mapped class: the ORM's bulk-insert path and
    # building the statement again were most of a status change's cost here.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = rollup.__table__
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(index_elements=list(SOURCES[rollup]),
                                           set_={"count": table.c.count + statement.excluded["count"]})


def _upsert(rollup: type[Rollup], rows: list[dict[str, Any]]) -> None:
    connection = db.session.connection()
    connection.execute(_upsert_statement(rollup, connection.dialect.name), rows)


def _add_counts(changes: collections.Counter[Key]) -> None:
    by_rollup: dict[type[Rollup], list[dict[str, Any]]] = collections.defaultdict(list)
    for (rollup, key), delta in sorted(changes.items(), key=lambda item: (item[0][0].__tablename__, item[0][1])):
        if delta:
            by_rollup[rollup].append({**dict(zip(SOURCES[rollup], key)), "count": delta})
    for rollup, rows in by_rollup.items():
        _upsert(rollup, rows)


def refresh_report(report_id: int, settings: Config) -> None:
    """Bring the counters in line with the report as it is now; running it again changes nothing."""
    for attempt in range(2):
        try:
            with db.session.begin_nested():
                _refresh(report_id, settings.insight_grid_m)
            break
        except IntegrityError:
            # Another worker counted this report's first version at the same moment: start over from it.
            if attempt:
                raise
    db.session.commit()


def _refresh(report_id: int, grid_m: int) -> None:
    snapshot = citizen_services.report_snapshot(report_id)
    fact = db.session.get(ReportFact, report_id, with_for_update=True)
    changes: collections.Counter[Key] = collections.Counter()
    if fact is not None:
        changes.subtract(_contributions(_fact_as_values(fact)))
    if snapshot is None:
        if fact is not None:
            db.session.delete(fact)
    else:
        values = _fact_values(snapshot, grid_m)
        changes.update(_contributions(values))
        if fact is None:
            db.session.add(ReportFact(**values))
        else:
            for name, value in values.items():
                setattr(fact, name, value)
    db.session.flush()
    _add_counts(changes)


# How far back the scheduled pass compares reports with the facts counted for them, and how many at once.
CATCH_UP_WINDOW = dt.timedelta(days=1)
CATCH_UP_PAGE = 1000


# Deleted reports are found by comparing, per bucket of DIGEST_BUCKET consecutive ids, how many facts and how
# many reports there are and the sums of their ids; a statement digests DIGEST_BUCKETS_PER_SPAN buckets.
DIGEST_BUCKET = 1024
DIGEST_BUCKETS_PER_SPAN = 64


def catch_up(settings: Config, now: dt.datetime | None = None) -> int:
    """Count again the reports changed lately whose counted fact disagrees with them, and take out the facts of
    reports deleted since, because their refresh job was lost with Redis or a worker. The scheduled pass runs
    it; returns how many it counted again."""
    since = (now or utcnow()) - CATCH_UP_WINDOW
    facts_table = ReportFact.__table__
    after, counted_again = None, 0
    while page := citizen_services.changed_report_snapshots(since, after=after, limit=CATCH_UP_PAGE):
        after = (page[-1].changed_at, page[-1].id)
        counted = {row["report_id"]: dict(row) for row in db.session.execute(
            sa.select(facts_table).where(facts_table.c.report_id.in_([snapshot.id for snapshot in page]))).mappings()}
        db.session.rollback()
        for snapshot in page:
            if counted.get(snapshot.id) != _fact_values(snapshot, settings.insight_grid_m):
                refresh_report(snapshot.id, settings)
                counted_again += 1
    return counted_again + _take_out_deleted(settings)


def _take_out_deleted(settings: Config) -> int:
    """Facts whose report no longer exists, at any age: a deleted report leaves no row among the changes.

    Both sides are digested span by span of ids (count and sum of ids per bucket: an index range scan each,
    a few rows back); only the ids of a bucket where they disagree are read and looked up. A bucket also
    disagrees where a report has no fact yet (its refresh still to come): a lookup that removes nothing.
    """
    span = DIGEST_BUCKET * DIGEST_BUCKETS_PER_SPAN
    removed, start = 0, 0
    # Span after span over the ids facts have, skipping the gaps between them.
    while (lowest := db.session.scalar(sa.select(sa.func.min(ReportFact.report_id))
                                       .where(ReportFact.report_id >= start))) is not None:
        first = lowest // DIGEST_BUCKET * DIGEST_BUCKET
        start = first + span
        ours = id_digests(ReportFact.report_id, first, start - 1, bucket=DIGEST_BUCKET)
        theirs = citizen_services.report_id_digests(first, start - 1, bucket=DIGEST_BUCKET)
        for bucket in sorted(number for number, digest in ours.items() if theirs.get(number) != digest):
            counted = list(db.session.scalars(sa.select(ReportFact.report_id).where(
                ReportFact.report_id.between(bucket * DIGEST_BUCKET, (bucket + 1) * DIGEST_BUCKET - 1))))
            gone = sorted(set(counted) - citizen_services.existing_report_ids(counted))
            db.session.rollback()
            for report_id in gone:
                refresh_report(report_id, settings)
            removed += len(gone)
        db.session.rollback()
    return removed


def _month_start(column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[Any]:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.date_trunc("month", column), sa.Date)
    return sa.func.date(column, "start of month")


def rebuild(settings: Config) -> int:
    """Count every report afresh (the first time, or after the grid size changed). Returns how many."""
    for rollup in ROLLUPS:
        db.session.execute(sa.delete(rollup))
    db.session.execute(sa.delete(ReportFact))
    after_id, counted = 0, 0
    while batch := citizen_services.report_snapshots(after_id=after_id, limit=REBUILD_BATCH):
        db.session.execute(sa.insert(ReportFact.__table__),
                           [_fact_values(snapshot, settings.insight_grid_m) for snapshot in batch])
        after_id, counted = batch[-1].id, counted + len(batch)
    # Each rollup in one statement over the facts just written, in key order: a period's rows lie together.
    for rollup, sources in SOURCES.items():
        keys = [_month_start(getattr(ReportFact, fact)) if column == "month" else getattr(ReportFact, fact)
                for column, fact in sources.items()]
        select = (sa.select(*keys, sa.func.count())
                  .where(*(getattr(ReportFact, fact).is_not(None) for fact in sources.values()))
                  .group_by(*keys).order_by(*keys))
        db.session.execute(sa.insert(rollup).from_select([*sources, "count"], select))
    db.session.commit()
    return counted


# --- periods --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Period:
    """Calendar days in Asia/Shanghai, both ends included."""

    first: dt.date
    last: dt.date
    label: str

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as [start, end) instants."""
        start = dt.datetime.combine(self.first, dt.time(), SHANGHAI)
        return start, dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), SHANGHAI)

    @property
    def whole_months(self) -> bool:
        return self.first.day == 1 and (self.last + dt.timedelta(days=1)).day == 1

    def split_months(self) -> tuple[Period | None, list[Period]]:
        """The whole months inside the period (None if none), and the days before and after them."""
        one_day = dt.timedelta(days=1)
        months_first = self.first if self.first.day == 1 else (self.first.replace(day=28) + 4 * one_day).replace(day=1)
        months_last = self.last if (self.last + one_day).day == 1 else self.last.replace(day=1) - one_day
        if months_first > months_last:
            return None, [self]
        before = Period(self.first, months_first - one_day, self.label)
        after = Period(months_last + one_day, self.last, self.label)
        around = [days for days in (before, after) if days.first <= days.last]
        return Period(months_first, months_last, self.label), around


def today() -> dt.date:
    return local_day(utcnow())


def last_days(count: int, *, until: dt.date | None = None) -> Period:
    last = until or today()
    return Period(last - dt.timedelta(days=count - 1), last, "今日" if count == 1 else f"近 {count} 天")


def month(year: int, number: int) -> Period:
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return Period(first, following - dt.timedelta(days=1), f"{year} 年 {number} 月")


_MONTH = re.compile(r"(?P<year>[0-9]{4})-(?P<number>[0-9]{1,2})")


def parse_month(text: str) -> Period:
    """"2026-10" → October 2026; anything else is a ValueError."""
    # ASCII digits only: int() would also take a sign, spaces, underscores and other scripts' digits.
    parts = _MONTH.fullmatch(text)
    # Year 1 starts before year 1 in UTC (where instants are stored), and a report also reads the month before.
    if parts is None or int(parts["year"]) < 2:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM)")
    return month(int(parts["year"]), int(parts["number"]))


def previous_month(period: Period) -> Period:
    before = period.first - dt.timedelta(days=1)
    return month(before.year, before.month)


def last_whole_month() -> Period:
    """The month before today's."""
    now = today()
    return previous_month(month(now.year, now.month))


# --- report figures -------------------------------------------------------------------------

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
    return next(h for h, seen in zip(hours, running) if seen >= rank)


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

    @property
    def submitted(self) -> int:
        return sum(self.by_status.values())

    @property
    def taken_on(self) -> int:
        return sum(self.by_status.get(status, 0) for status in TAKEN_ON)

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.taken_on, self.taken_on + sum(self.by_status.get(status, 0) for status in TURNED_AWAY))


def report_figures(period: Period, settings: Config, *, district: str | None = None) -> ReportFigures:
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
                         satisfaction=Satisfaction(ratings))


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


def hot_spot_grid(period: Period, settings: Config, *, category_id: str | None = None,
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
    district: str
    handled: int
    median_hours: int | None
    average_rating: float | None
    measures: dict[str, float]
    score: float
    rank: int


def district_ranking(period: Period, settings: Config) -> list[DistrictScore]:
    """Each district scored 0–100 on the reports it closed in the period (whole months).

    Measures, each 0–1: ``handled`` = closed / the most any district closed; ``speed`` = (fastest
    median hours + 1) / (own median hours + 1); ``satisfaction`` = average rating / 5. A district
    with nothing closed or rated scores 0 on that measure. The score is the weighted mean × 100.
    """
    closing: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for district, hours, count in _sum(CloseMonth, period, ["district", "hours"]):
        closing[district][hours] = int(count)
    ratings: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for district, rating, count in _sum(RatingDay, period, ["district", "rating"]):
        ratings[district][rating] = int(count)
    names = citizen_services.district_names()
    handled = {name: sum(closing[name].values()) for name in names}
    medians = {name: percentile(closing[name], 0.5) for name in names}
    averages = {name: Satisfaction(ratings[name]).average for name in names}
    most = max(handled.values(), default=0)
    fastest = min((median for median in medians.values() if median is not None), default=None)
    weights = dict(settings.insight_ranking_weights)
    scored = []
    for name in names:
        measures = {
            "handled": handled[name] / most if most else 0.0,
            "speed": (fastest + 1) / (medians[name] + 1) if medians[name] is not None and fastest is not None else 0.0,
            "satisfaction": averages[name] / 5 if averages[name] is not None else 0.0,
        }
        score = 100 * sum(weights[m] * value for m, value in measures.items()) / sum(weights.values())
        scored.append((name, measures, round(score, 1)))
    scored.sort(key=lambda item: (-item[2], names.index(item[0])))
    return [DistrictScore(district=name, handled=handled[name], median_hours=medians[name],
                          average_rating=averages[name], measures=measures, score=score, rank=position)
            for position, (name, measures, score) in enumerate(scored, start=1)]


# --- other packages' figures: signboard applications, forwarding, rewards ----------------------

def signboard_figures(period: Period) -> dict[str, int]:
    since, until = period.bounds
    return signboard_services.applications_by_status(since=since, until=until)


def forwarding_backlog(period: Period | None = None) -> cases_services.Backlog:
    """Accepted reports not yet delivered to the case system now: all, or those accepted in the period."""
    since, until = period.bounds if period is not None else (None, None)
    return cases_services.forwarding_backlog(since=since, until=until)


def reward_figures(period: Period) -> list[rewards_services.CampaignFigures]:
    return rewards_services.campaign_figures(period.first, period.last)


# --- the dashboard and the monthly report ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PeriodFigures:
    reports: ReportFigures
    signboards: dict[str, int]
    forwarding: cases_services.Backlog  # of the reports accepted in the period


def period_figures(period: Period, settings: Config, *, district: str | None = None) -> PeriodFigures:
    """The period's figures; signboards and forwarding are the whole city's, even for one district."""
    return PeriodFigures(reports=report_figures(period, settings, district=district),
                         signboards=signboard_figures(period), forwarding=forwarding_backlog(period))


@dataclasses.dataclass(frozen=True)
class Dashboard:
    today: PeriodFigures
    recent: PeriodFigures
    hot_spots: HotSpotGrid
    hot_spot_period: Period
    backlog: cases_services.Backlog
    rewards: list[rewards_services.CampaignFigures]  # of the last 30 days
    category_names: dict[str, str]


DASHBOARD_PERIODS = (1, 7, 30, 90)


def dashboard(settings: Config, *, hot_spot_days: int = 30, hot_spot_category: str | None = None) -> Dashboard:
    hot_spot_period, recent = last_days(hot_spot_days), last_days(30)
    return Dashboard(today=period_figures(last_days(1), settings), recent=period_figures(recent, settings),
                     hot_spots=hot_spot_grid(hot_spot_period, settings, category_id=hot_spot_category),
                     hot_spot_period=hot_spot_period, backlog=forwarding_backlog(), rewards=reward_figures(recent),
                     category_names=category_names())


@dataclasses.dataclass(frozen=True)
class MonthlyReport:
    period: Period
    district: str | None
    current: PeriodFigures
    previous: PeriodFigures
    hot_spots: HotSpotGrid
    ranking: list[DistrictScore]
    backlog: cases_services.Backlog
    rewards: list[rewards_services.CampaignFigures]
    category_names: dict[str, str]
    weights: dict[str, float]
    generated_at: dt.datetime


def monthly_report(period: Period, settings: Config, *, district: str | None = None) -> MonthlyReport:
    if district is not None and district not in citizen_services.district_names():
        raise ValueError(f"unknown district: {district}")
    return MonthlyReport(period=period, district=district,
                         current=period_figures(period, settings, district=district),
                         previous=period_figures(previous_month(period), settings, district=district),
                         hot_spots=hot_spot_grid(period, settings, district=district),
                         ranking=district_ranking(period, settings), backlog=forwarding_backlog(),
                         rewards=reward_figures(period), category_names=category_names(),
                         weights=dict(settings.insight_ranking_weights), generated_at=utcnow())
