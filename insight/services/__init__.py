"""City insight: the one query layer behind the dashboard and the monthly report. No Flask here.

``periods`` (days and months in Asia/Shanghai), ``counters`` (the rollups, kept in step with every report),
``figures`` (report figures, hot spots, districts ranked), ``comparison`` (the key figures beside last month's and
last year's) and ``overview`` (the dashboard and the monthly report, with other packages' figures). What callers
use is named here.
"""

from insight.services.comparison import MONTHLY_FIGURES, Change, ComparedFigure, MonthlyFigure, compare
from insight.services.counters import CATCH_UP_WINDOW, SOURCES, catch_up, cell_of, grid_steps, rebuild, refresh_report
from insight.services.figures import (CloseFigures, HotSpotGrid, Satisfaction, district_ranking, hot_spot_grid,
                                      percentile, report_figures)
from insight.services.overview import (DASHBOARD_PERIODS, Dashboard, MonthlyReport, PeriodFigures, dashboard,
                                       monthly_report)
from insight.services.periods import Period, last_days, last_whole_month, month, parse_month

__all__ = [
    "CATCH_UP_WINDOW", "DASHBOARD_PERIODS", "MONTHLY_FIGURES", "SOURCES", "Change", "CloseFigures", "ComparedFigure",
    "MonthlyFigure", "compare", "Dashboard", "HotSpotGrid", "MonthlyReport",
    "Period", "PeriodFigures", "Satisfaction", "catch_up", "cell_of", "dashboard", "district_ranking", "grid_steps",
    "hot_spot_grid", "last_days", "last_whole_month", "month", "monthly_report", "parse_month", "percentile",
    "rebuild", "refresh_report", "report_figures",
]
