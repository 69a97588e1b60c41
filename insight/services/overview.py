"""The dashboard and the monthly report, which only combine the report figures with other packages' figures
(signboard applications, forwarding, rewards — read through their services)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from cases import services as cases_services
from citizen import services as citizen_services
from core.db import utcnow
from insight.services.comparison import ComparedFigure, compare
from insight.services.figures import (DistrictScore, HotSpotGrid, ReportFigures, category_names, district_ranking,
                                      hot_spot_grid, report_figures)
from insight.services.periods import Period, last_days, previous_month, same_month_last_year
from insight.settings import InsightSettings
from rewards import services as rewards_services
from signboard_templates import services as signboard_services

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


def department_scores(period: Period, settings: InsightSettings) -> list[cases_services.DepartmentScore]:
    """The built-in desk's departments (考核) over the cases closed in the period."""
    since, until = period.bounds
    return cases_services.department_scores(since, until, min_sample=settings.insight_department_min_sample)


# --- the dashboard and the monthly report ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PeriodFigures:
    reports: ReportFigures
    signboards: dict[str, int]
    forwarding: cases_services.Backlog  # of the reports accepted in the period


def period_figures(period: Period, settings: InsightSettings, *, district: str | None = None) -> PeriodFigures:
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
    departments: list[cases_services.DepartmentScore]  # of the last 30 days
    department_min_sample: int


DASHBOARD_PERIODS = (1, 7, 30, 90)


def dashboard(settings: InsightSettings, *, hot_spot_days: int = 30, hot_spot_category: str | None = None) -> Dashboard:
    hot_spot_period, recent = last_days(hot_spot_days), last_days(30)
    return Dashboard(today=period_figures(last_days(1), settings), recent=period_figures(recent, settings),
                     hot_spots=hot_spot_grid(hot_spot_period, settings, category_id=hot_spot_category),
                     hot_spot_period=hot_spot_period, backlog=forwarding_backlog(), rewards=reward_figures(recent),
                     category_names=category_names(), departments=department_scores(recent, settings),
                     department_min_sample=settings.insight_department_min_sample)


@dataclasses.dataclass(frozen=True)
class MonthlyReport:
    period: Period
    district: str | None
    current: PeriodFigures
    previous: PeriodFigures
    last_year: PeriodFigures  # the same month a year before
    figures: list[ComparedFigure]  # the key figures, each with last month's and last year's
    hot_spots: HotSpotGrid
    ranking: list[DistrictScore]
    ranking_min_sample: int
    backlog: cases_services.Backlog
    rewards: list[rewards_services.CampaignFigures]
    category_names: dict[str, str]
    weights: dict[str, float]
    generated_at: dt.datetime
    departments: list[cases_services.DepartmentScore]
    department_min_sample: int


def monthly_report(period: Period, settings: InsightSettings, *, district: str | None = None) -> MonthlyReport:
    if district is not None and district not in citizen_services.district_names():
        raise ValueError(f"unknown district: {district}")
    current, previous = period_figures(period, settings, district=district), period_figures(
        previous_month(period), settings, district=district)
    last_year = period_figures(same_month_last_year(period), settings, district=district)
    return MonthlyReport(period=period, district=district, current=current, previous=previous, last_year=last_year,
                         figures=compare(current, previous, last_year),
                         hot_spots=hot_spot_grid(period, settings, district=district),
                         ranking=district_ranking(period, settings),
                         ranking_min_sample=settings.insight_ranking_min_sample, backlog=forwarding_backlog(),
                         rewards=reward_figures(period), category_names=category_names(),
                         weights=dict(settings.insight_ranking_weights), generated_at=utcnow(),
                         departments=department_scores(period, settings),
                         department_min_sample=settings.insight_department_min_sample)
