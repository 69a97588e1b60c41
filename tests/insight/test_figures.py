"""Every figure of the query layer on hand-built reports whose right answers are worked out by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from core.config import ConfigError, Config
from core.db import db
from insight import services
from insight.models import ROLLUPS, ReportFact
from insight.settings import InsightSettings
from tests.insight.helpers import SEATS, make_report, seed_october

OCTOBER = services.month(2026, 10)


@pytest.fixture
def october(app, app_ctx):
    seed_october()
    services.rebuild(app.config["APP_SETTINGS"].area(InsightSettings))
    return app.config["APP_SETTINGS"].area(InsightSettings)


def test_report_figures_of_october(october):
    figures = services.report_figures(OCTOBER, october)
    # Eight reports from 1 October 00:00 to 31 October 23:59 Beijing time (not 30 Sept, not 1 Nov 00:30).
    assert figures.submitted == 8
    assert {status: n for status, n in figures.by_status.items() if n} == {
        "closed": 3, "rejected": 1, "duplicate": 1, "pending_review": 1, "accepted": 1, "in_progress": 1}
    assert figures.by_district == {"市南区": 3, "市北区": 2, "李沧区": 2, "崂山区": 1}
    assert figures.by_category == {"S0102": 7, "B0301": 1}
    assert figures.by_day[dt.date(2026, 10, 1)] == 2 and figures.by_day[dt.date(2026, 10, 31)] == 1
    assert len(figures.by_day) == 31 and sum(figures.by_day.values()) == 8
    # Taken on: 3 closed + accepted + in progress; turned away: rejected + duplicate.
    assert figures.acceptance_rate == pytest.approx(5 / 7)


def test_time_to_close_and_disposal_count_the_reports_closed_in_the_period(october):
    closing = services.report_figures(OCTOBER, october).closing
    # Closed in October: 50 h (reported 30 Sept), 10 h, 30.5 h (counted as 30), 80 h.
    assert closing.histogram == {50: 1, 10: 1, 30: 1, 80: 1}
    assert (closing.closed, closing.median_hours, closing.p90_hours) == (4, 30, 80)
    assert closing.within_limit == 3 and closing.disposal_rate == pytest.approx(0.75)


def test_satisfaction_from_the_ratings_given_in_the_period(october):
    satisfaction = services.report_figures(OCTOBER, october).satisfaction
    assert satisfaction.rated == 3
    assert satisfaction.average == pytest.approx(11 / 3)
    assert satisfaction.satisfied_rate == pytest.approx(2 / 3)


def test_one_district_only(october):
    figures = services.report_figures(OCTOBER, october, district="市北区")
    assert figures.submitted == 2 and figures.acceptance_rate == pytest.approx(1 / 2)
    assert figures.closing.histogram == {80: 1}


def test_an_empty_period_has_no_rates():
    empty = services.Satisfaction({})
    assert empty.average is None and empty.satisfied_rate is None
    assert services.CloseFigures.of({}, 72).median_hours is None


def test_percentile_is_the_nearest_rank():
    assert services.percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.5) == 2
    assert services.percentile({1: 9, 100: 1}, 0.9) == 1
    assert services.percentile({1: 9, 100: 1}, 0.91) == 100


def test_hot_spots_count_reports_per_grid_cell(october):
    grid = services.hot_spot_grid(OCTOBER, october)
    top = grid.top(3)
    # 市南区's three October reports share one spot; 市北区 and 李沧区 have two each.
    assert top[0].count == 3 and top[0].district == "市南区"
    assert abs(top[0].lat - SEATS["市南区"][0]) < 0.005 and abs(top[0].lng - SEATS["市南区"][1]) < 0.005
    assert sorted(spot.count for spot in top) == [2, 2, 3]
    only_toilets = services.hot_spot_grid(OCTOBER, october, category_id="B0301")
    assert list(only_toilets.cells.values()) == [1]
    assert services.hot_spot_grid(OCTOBER, october, district="崂山区").cells == {
        services.cell_of(*SEATS["崂山区"], october.insight_grid_m): 1}


def test_hot_spots_of_whole_months_and_the_days_around_them(october):
    cell = {district: services.cell_of(*SEATS[district], october.insight_grid_m) for district in SEATS}
    # 30 September 20:00 to 1 November 00:30: all of October, a day before and a day after it.
    around_october = services.Period(dt.date(2026, 9, 30), dt.date(2026, 11, 1), "")
    assert services.hot_spot_grid(around_october, october).cells == {
        cell["市南区"]: 4, cell["市北区"]: 2, cell["李沧区"]: 2, cell["崂山区"]: 2}
    assert services.hot_spot_grid(services.Period(dt.date(2026, 10, 2), dt.date(2026, 10, 30), ""), october).cells == {
        cell["市北区"]: 2, cell["李沧区"]: 2, cell["市南区"]: 1}


def test_a_period_splits_into_whole_months_and_the_days_around_them():
    def split(first: dt.date, last: dt.date) -> tuple:
        months, days = services.Period(first, last, "").split_months()
        return (months and (months.first, months.last)), [(part.first, part.last) for part in days]

    d = dt.date
    assert split(d(2026, 9, 30), d(2026, 11, 1)) == (
        (d(2026, 10, 1), d(2026, 10, 31)), [(d(2026, 9, 30), d(2026, 9, 30)), (d(2026, 11, 1), d(2026, 11, 1))])
    assert split(d(2026, 10, 1), d(2026, 12, 31)) == ((d(2026, 10, 1), d(2026, 12, 31)), [])
    assert split(d(2026, 12, 15), d(2027, 3, 2)) == (
        (d(2027, 1, 1), d(2027, 2, 28)), [(d(2026, 12, 15), d(2026, 12, 31)), (d(2027, 3, 1), d(2027, 3, 2))])
    assert split(d(2026, 10, 2), d(2026, 10, 31)) == (None, [(d(2026, 10, 2), d(2026, 10, 31))])
    assert split(d(2026, 10, 30), d(2026, 11, 29)) == (None, [(d(2026, 10, 30), d(2026, 11, 29))])


def test_every_rollup_says_where_its_keys_come_from():
    assert set(services.SOURCES) == set(ROLLUPS)
    for rollup, sources in services.SOURCES.items():
        assert list(sources) == [column.name for column in rollup.__table__.primary_key.columns]


def test_grid_cells_are_the_configured_size():
    lat_step, lng_step = services.grid_steps(500)
    assert lat_step * 111_320 == pytest.approx(500)
    a, b = services.cell_of(36.0, 120.0, 500), services.cell_of(36.0 + lat_step * 1.01, 120.0, 500)
    assert a != b and services.cell_of(36.0 + lat_step * 0.1, 120.0 + lng_step * 0.1, 500) == a


def test_districts_ranked_by_the_weighted_score(october):
    ranking = services.district_ranking(OCTOBER, dataclasses.replace(october, insight_ranking_min_sample=1))
    first, second = ranking[0], ranking[1]
    # 市南区 closed 3 (median 30 h, ratings 5 and 4); 市北区 closed 1 (80 h, rating 2).
    assert (first.district, first.handled, first.median_hours, first.average_rating) == ("市南区", 3, 30, 4.5)
    assert first.score == pytest.approx(100 * (0.4 * 1 + 0.3 * 1 + 0.3 * 0.9), abs=0.05)
    assert second.district == "市北区"
    assert second.score == pytest.approx(100 * (0.4 / 3 + 0.3 * 31 / 81 + 0.3 * 0.4), abs=0.05)
    # The eight districts that closed nothing are not ranked 3–10 at 0.0: they have no score and no rank.
    assert [row.rank for row in ranking] == [1, 2] + [None] * 8
    assert all(row.score is None and set(row.measures.values()) == {None} for row in ranking[2:])
    assert [row.district for row in ranking[2:]] == [name for name in SEATS if name not in ("市南区", "市北区")]


def test_missing_is_missing_in_the_ranking(october):
    """A district with too few closed reports is unranked; one with too few ratings is scored without them."""
    for hours in (20, 40):  # 李沧区 closes two, unrated
        make_report(dt.datetime(2026, 10, 10, 4, tzinfo=dt.timezone.utc), district="李沧区", status="closed",
                    closed_after_hours=hours)
    db.session.commit()
    services.rebuild(october)
    ranking = {row.district: row for row in
               services.district_ranking(OCTOBER, dataclasses.replace(october, insight_ranking_min_sample=2))}
    # 市北区 closed one: too little data, neither scored 0 nor ranked last.
    assert (ranking["市北区"].rank, ranking["市北区"].score, ranking["市北区"].handled) == (None, None, 1)
    # 李沧区 (2 closed, median 20 h, no rating) is ranked on volume and speed alone, at 81.0; 市南区 (3 closed, 30 h,
    # 2 ratings averaging 4.5) on all three, at 87.3.
    lichang, shinan = ranking["李沧区"], ranking["市南区"]
    assert lichang.measures["satisfaction"] is None and lichang.average_rating is None
    assert lichang.score == pytest.approx(100 * (0.4 * 2 / 3 + 0.3 * 1) / 0.7, abs=0.05)
    assert shinan.score == pytest.approx(100 * (0.4 * 1 + 0.3 * 21 / 31 + 0.3 * 0.9), abs=0.05)
    assert (shinan.rank, lichang.rank) == (1, 2)
    # Three ratings needed: 市南区's two no longer count, and nothing is scored as a 0 in their place.
    strict = {row.district: row for row in
              services.district_ranking(OCTOBER, dataclasses.replace(october, insight_ranking_min_sample=3))}
    assert strict["市南区"].measures["satisfaction"] is None and strict["市南区"].average_rating == 4.5
    assert strict["市南区"].score == 100.0 and strict["市南区"].rank == 1 and strict["李沧区"].rank is None
    only_satisfaction = dataclasses.replace(october, insight_ranking_min_sample=3, insight_ranking_weights=(
        ("handled", 0.0), ("speed", 0.0), ("satisfaction", 1.0)))
    assert all(row.rank is None for row in services.district_ranking(OCTOBER, only_satisfaction))


def test_ranking_weights_are_configurable(october):
    only_volume = dataclasses.replace(october,
                                      insight_ranking_weights=(("handled", 1.0), ("speed", 0.0), ("satisfaction", 0.0)))
    ranking = services.district_ranking(OCTOBER, dataclasses.replace(only_volume, insight_ranking_min_sample=1))
    assert [(row.district, row.score) for row in ranking[:2]] == [("市南区", 100.0), ("市北区", 33.3)]
    weighted = Config.from_env({"INSIGHT_RANKING_WEIGHTS": "speed=2,satisfaction=1"}).area(InsightSettings)
    assert weighted.insight_ranking_weights == (("handled", 0.0), ("speed", 2.0), ("satisfaction", 1.0))
    with pytest.raises(ConfigError):
        Config.from_env({"INSIGHT_RANKING_WEIGHTS": "speed=1,beauty=2"})


def test_monthly_report_compares_with_the_previous_month(october):
    report = services.monthly_report(services.parse_month("2026-10"), october)
    assert report.previous.reports.period == services.month(2026, 9)
    assert report.previous.reports.submitted == 2 and report.current.reports.submitted == 8
    assert report.previous.reports.closing.closed == 0
    assert services.parse_month("2026-12").last == dt.date(2026, 12, 31)
    # Only ASCII digits: int() would also take a sign, spaces and other scripts' digits.
    for bad in ("2026", "2026-13", "10-2026", "2026-+1", "2026- 1", "2026-1 ", "2026-１", "２０２６-01", "2026-٣"):
        with pytest.raises(ValueError):
            services.parse_month(bad)
    with pytest.raises(ValueError):
        services.monthly_report(OCTOBER, october, district="北京")


def test_refreshing_follows_a_report_and_matches_a_rebuild(october):
    report = make_report(dt.datetime(2026, 10, 20, 4, tzinfo=dt.timezone.utc), district="李沧区")
    db.session.commit()
    services.refresh_report(report.id, october)
    services.refresh_report(report.id, october)  # a second delivery changes nothing
    assert services.report_figures(OCTOBER, october).submitted == 9
    report.status, report.rating, report.rated_at = "rejected", None, None
    db.session.commit()
    services.refresh_report(report.id, october)
    incremental = _counters()
    services.rebuild(october)
    assert incremental == _counters()
    db.session.delete(report)
    db.session.commit()
    services.refresh_report(report.id, october)
    assert db.session.get(ReportFact, report.id) is None
    assert services.report_figures(OCTOBER, october).submitted == 8


def _counters() -> dict[tuple, int]:
    counters = {}
    for rollup in ROLLUPS:
        keys = [column for column in rollup.__table__.primary_key.columns]
        for row in db.session.execute(sa.select(*keys, rollup.count).where(rollup.count != 0)):
            counters[(rollup.__tablename__, *row[:-1])] = row[-1]
    return counters


def test_one_district_needs_whole_months(october):
    assert OCTOBER.whole_months and services.month(2026, 2).whole_months
    assert not services.last_days(30, until=dt.date(2026, 10, 31)).whole_months
    with pytest.raises(ValueError):
        services.report_figures(services.last_days(30, until=dt.date(2026, 10, 31)), october, district="市南区")
    with pytest.raises(ValueError):
        services.hot_spot_grid(OCTOBER, october, category_id="S0102", district="市南区")
    # Two whole months at once: September and October.
    autumn = services.Period(dt.date(2026, 9, 1), dt.date(2026, 10, 31), "秋")
    assert services.report_figures(autumn, october, district="市南区").by_category == {"S0102": 5}


def test_every_rollup_agrees_with_the_facts_after_moving_a_report_between_days_and_districts(october):
    report = make_report(dt.datetime(2026, 10, 31, 15, 30, tzinfo=dt.timezone.utc),
                         district="崂山区", status="closed", closed_after_hours=1, rating=3,
                         rated_at=dt.datetime(2026, 11, 1, 1, tzinfo=dt.timezone.utc))
    db.session.commit()
    services.refresh_report(report.id, october)
    # 31 Oct 23:30 Beijing time: an October report, closed and rated in November.
    assert services.report_figures(OCTOBER, october, district="崂山区").by_category == {"S0102": 2}
    november = services.month(2026, 11)
    assert services.report_figures(november, october, district="崂山区").closing.histogram == {1: 1}
    assert services.report_figures(november, october).satisfaction.ratings == {3: 1}
    report.district = "黄岛区"
    db.session.commit()
    services.refresh_report(report.id, october)
    assert services.report_figures(OCTOBER, october, district="崂山区").by_category == {"S0102": 1}
    assert services.report_figures(november, october, district="黄岛区").closing.histogram == {1: 1}
    incremental = _counters()
    services.rebuild(october)
    assert incremental == _counters()
