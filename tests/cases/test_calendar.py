"""The desk's working calendar: deadlines in working hours (Asia/Shanghai, holidays and 调休 days) or clock hours."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from cases.services import Limit, WorkingCalendar
from cases.services.limits import SHANGHAI, effective_limits, scope_chain, shipped_limits

WORKDAY_PERIODS = ((dt.time(9), dt.time(12)), (dt.time(13, 30), dt.time(17, 30)))
MONDAY_TO_FRIDAY = frozenset(range(1, 6))
CALENDAR = WorkingCalendar(WORKDAY_PERIODS, MONDAY_TO_FRIDAY)
# 2026-10-01 (a Thursday) to 10-07 off, Saturday 10-10 worked (国庆 with its 调休).
NATIONAL_DAY = WorkingCalendar(WORKDAY_PERIODS, MONDAY_TO_FRIDAY,
                               {**{dt.date(2026, 10, day): False for day in range(1, 8)},
                                dt.date(2026, 10, 10): True})


def beijing(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)


def hours(value: float) -> dt.timedelta:
    return dt.timedelta(hours=value)


def test_working_hours_skip_the_lunch_break_the_night_and_the_weekend():
    # Friday 16:30 + 3 working hours: 1 on Friday, 2 on Monday morning.
    assert CALENDAR.add_working(beijing(2026, 12, 4, 16, 30), hours(3)) == beijing(2026, 12, 7, 11, 0)
    # 11:00 + 2 working hours: 1 before lunch, 1 after 13:30.
    assert CALENDAR.add_working(beijing(2026, 12, 7, 11, 0), hours(2)) == beijing(2026, 12, 7, 14, 30)
    # Started on a Sunday night, the clock begins on Monday at 09:00.
    assert CALENDAR.add_working(beijing(2026, 12, 6, 22, 0), hours(1)) == beijing(2026, 12, 7, 10, 0)


def test_a_working_day_is_seven_hours_and_ends_at_the_last_period_s_close():
    assert CALENDAR.add_working(beijing(2026, 12, 7, 9, 0), hours(7)) == beijing(2026, 12, 7, 17, 30)


def test_holidays_are_skipped_and_a_weekend_made_a_working_day_counts():
    # Wednesday 30 September 17:00 + 1 working hour: 30 minutes that day, then nothing until Thursday 8 October.
    assert NATIONAL_DAY.add_working(beijing(2026, 9, 30, 17, 0), hours(1)) == beijing(2026, 10, 8, 9, 30)
    # Friday 9 October 17:00 + 1 working hour: the 调休 Saturday is worked.
    assert NATIONAL_DAY.add_working(beijing(2026, 10, 9, 17, 0), hours(1)) == beijing(2026, 10, 10, 9, 30)
    assert NATIONAL_DAY.is_workday(dt.date(2026, 10, 10)) and not NATIONAL_DAY.is_workday(dt.date(2026, 10, 5))


def test_clock_hours_ignore_the_calendar():
    start = beijing(2026, 12, 5, 23, 0)  # a Saturday night
    assert CALENDAR.deadline(start, Limit(120, working_hours=False)) == start + hours(2)
    assert CALENDAR.deadline(start, Limit(120, working_hours=True)) == beijing(2026, 12, 7, 11, 0)


def test_time_left_is_negative_once_overdue_and_counts_only_working_time():
    due = beijing(2026, 12, 7, 10, 0)  # Monday
    # From Friday 17:00: 30 minutes on Friday, 1 hour on Monday.
    assert CALENDAR.time_left(beijing(2026, 12, 4, 17, 0), due, True) == hours(1.5)
    # Monday 14:00 is 2.5 working hours late (10:00–12:00 and 13:30–14:00), 4 clock hours.
    assert CALENDAR.time_left(beijing(2026, 12, 7, 14, 0), due, True) == -hours(2.5)
    assert CALENDAR.time_left(beijing(2026, 12, 7, 14, 0), due, False) == -hours(4)


moments = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31),
                       timezones=st.just(dt.UTC))
durations = st.integers(min_value=0, max_value=60 * 24 * 20).map(lambda minutes: dt.timedelta(minutes=minutes))


@given(start=moments, duration=durations)
def test_the_working_time_up_to_a_deadline_is_the_limit(start, duration):
    due = NATIONAL_DAY.add_working(start, duration)
    assert due >= start
    assert NATIONAL_DAY.working_between(start, due) == duration


@given(start=moments, first=durations, second=durations)
def test_adding_working_time_in_two_parts_is_adding_it_at_once(start, first, second):
    assert (NATIONAL_DAY.add_working(NATIONAL_DAY.add_working(start, first), second)
            == NATIONAL_DAY.add_working(start, first + second))


@given(start=moments, duration=durations.filter(bool))
def test_a_working_deadline_falls_inside_a_working_period(start, duration):
    due = NATIONAL_DAY.add_working(start, duration).astimezone(SHANGHAI)
    assert NATIONAL_DAY.is_workday(due.date())
    assert any(opens < due.time() <= closes for opens, closes in WORKDAY_PERIODS)


@given(start=moments, end=moments)
def test_working_time_between_is_antisymmetric_and_never_more_than_clock_time(start, end):
    between = CALENDAR.working_between(start, end)
    assert between == -CALENDAR.working_between(end, start)
    assert abs(between) <= abs(end - start)


def test_the_shipped_limits_give_every_step_a_limit_and_urgent_ones_are_shorter():
    for scope in shipped_limits():
        chain = (scope,) if scope == "urgent" else (scope, "default")
        assert set(effective_limits(chain, overrides={})) == {"received", "registered", "dispatched", "handled",
                                                              "verified"}
    urgent = effective_limits(scope_chain("B0101", urgent=True), overrides={})
    usual = effective_limits(scope_chain("B0101", urgent=False), overrides={})
    assert urgent["dispatched"].minutes < usual["dispatched"].minutes
    assert not urgent["dispatched"].working_hours


def test_a_category_s_own_limit_wins_over_its_class_and_the_default():
    overrides = {"S0401": {"dispatched": Limit(30, False)}, "default": {"verified": Limit(600, True)}}
    limits = effective_limits(scope_chain("S0401", urgent=False), overrides=overrides)
    assert limits["dispatched"] == Limit(30, False)
    assert limits["registered"] == shipped_limits()["S04"]["registered"]  # the class's shipped value
    assert limits["verified"] == Limit(600, True)  # the administrator's default
