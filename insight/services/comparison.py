"""The monthly report's key figures, each beside last month's and the same month's a year before, with the change.

A figure is one line of ``MONTHLY_FIGURES``: how to read it from a period's figures, how to show it, and which way
is better. Adding a figure is adding a line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from insight.services.overview import PeriodFigures


@dataclasses.dataclass(frozen=True)
class MonthlyFigure:
    key: str
    name: str  # may name the time limit for disposal, {limit_hours}, and the reopenings, {reopened}
    kind: str  # how it is shown: "count", "rate", "hours" or "score" (the admin's ``figure`` filter)
    read: Callable[[PeriodFigures], Any]  # None: nothing to measure in that period
    better: str | None = None  # "up", "down", or None when neither way is better


MONTHLY_FIGURES: tuple[MonthlyFigure, ...] = (
    MonthlyFigure("submitted", "反映总数", "count", lambda f: f.reports.submitted),
    MonthlyFigure("acceptance_rate", "受理率", "rate", lambda f: f.reports.acceptance_rate),
    MonthlyFigure("closed", "结案数", "count", lambda f: f.reports.closing.closed, "up"),
    MonthlyFigure("median_hours", "结案用时中位数", "hours", lambda f: f.reports.closing.median_hours, "down"),
    MonthlyFigure("p90_hours", "结案用时 90 分位", "hours", lambda f: f.reports.closing.p90_hours, "down"),
    MonthlyFigure("disposal_rate", "按时处置率（{limit_hours} 小时内）", "rate",
                  lambda f: f.reports.closing.disposal_rate, "up"),
    MonthlyFigure("average_rating", "市民平均评分", "score", lambda f: f.reports.satisfaction.average, "up"),
    MonthlyFigure("satisfied_rate", "满意率（4–5 分）", "rate", lambda f: f.reports.satisfaction.satisfied_rate, "up"),
    MonthlyFigure("rated", "市民评价数", "count", lambda f: f.reports.satisfaction.rated),
    MonthlyFigure("reopen_rate", "重新办理率（{reopened} 次）", "rate", lambda f: f.reports.reopen_rate, "down"),
)


@dataclasses.dataclass(frozen=True)
class Change:
    """From a base to now: the difference (None when either is missing) and the difference relative to the base
    (None also when the base is 0)."""

    absolute: float | None
    relative: float | None

    @classmethod
    def of(cls, now: float | None, base: float | None) -> Change:
        if now is None or base is None:
            return cls(None, None)
        return cls(now - base, (now - base) / base if base else None)

    def direction(self, better: str | None) -> str | None:
        """"better", "worse", or None (no change, no base, or neither way is better)."""
        if better is None or not self.absolute:
            return None
        return "better" if (self.absolute > 0) == (better == "up") else "worse"


@dataclasses.dataclass(frozen=True)
class ComparedFigure:
    figure: MonthlyFigure
    name: str
    now: Any
    last_month: Any
    last_year: Any

    @property
    def month_on_month(self) -> Change:
        return Change.of(self.now, self.last_month)

    @property
    def year_on_year(self) -> Change:
        return Change.of(self.now, self.last_year)


def compare(now: PeriodFigures, last_month: PeriodFigures, last_year: PeriodFigures,
            figures: tuple[MonthlyFigure, ...] = MONTHLY_FIGURES) -> list[ComparedFigure]:
    names = {"limit_hours": now.reports.closing.limit_hours, "reopened": now.reports.reopened}
    return [ComparedFigure(figure, figure.name.format(**names), figure.read(now), figure.read(last_month),
                           figure.read(last_year)) for figure in figures]
