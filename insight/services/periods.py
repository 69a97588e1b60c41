"""Periods: calendar days and months in Asia/Shanghai, the unit every figure is asked for in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from zoneinfo import ZoneInfo

from core.db import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()



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
    # Year 1 starts before year 1 in UTC (where instants are stored), and a report also reads the month before
    # and the same month a year before.
    if parts is None or int(parts["year"]) < 3:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM)")
    return month(int(parts["year"]), int(parts["number"]))


def previous_month(period: Period) -> Period:
    before = period.first - dt.timedelta(days=1)
    return month(before.year, before.month)


def same_month_last_year(period: Period) -> Period:
    return month(period.first.year - 1, period.first.month)


def last_whole_month() -> Period:
    """The month before today's."""
    now = today()
    return previous_month(month(now.year, now.month))
