"""Time limits (时限) of the desk's steps, counted on the city's working calendar; deadlines, overdue cases and 督办.

Each step a case waits in (待立案, 已立案 awaiting 派遣, 已派遣 awaiting 处置, 已处置 awaiting 核查,
已核查 awaiting 结案) has a limit in hours, either working hours (the calendar: working days and periods,
Asia/Shanghai, with holidays and 调休 working days an administrator lists) or clock hours. The shipped
defaults per category class are data (``cases/data/time_limits.json``); an administrator overrides any scope
("default", "urgent", a class such as "S04", or one category such as "S0401"), audited. Urgent categories
(急要件) take the "urgent" limits.

A case's deadline is set when its step starts (a return or a resident's reopening starts the step again); the
sweep (``supervise_overdue``) marks a case overdue once per deadline, records a 督办 entry and notifies its
department (the notice list under 督办通知).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from cases.models import (REWORK_ACTION, WORKING_WEEK_ID, CaseCalendarDay, CaseTimeLimit, CaseWorkingWeek,
                          Department, DeskCase, DeskCaseStep, DeskSupervision)
from citizen import services as citizen_services
from core.db import db, utcnow
from core.errors import NotFound, ValidationFailed
from core.services import SYSTEM_ACTOR, Actor, record_audit

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULTS_FILE = Path(__file__).resolve().parents[1] / "data" / "time_limits.json"
# The steps a case waits in, each with a limit, and the work awaited there.
LIMITED_STEPS = {"received": "立案", "registered": "派遣", "dispatched": "处置", "handled": "核查", "verified": "结案"}
DEFAULT_SCOPE, URGENT_SCOPE = "default", "urgent"
MAX_LIMIT_HOURS = 24 * 90
# How far ahead a deadline is looked for: a calendar without a working day in a year is a mistake, not a deadline.
SEARCH_DAYS = 366


@dataclasses.dataclass(frozen=True)
class Limit:
    minutes: int
    working_hours: bool

    @property
    def hours(self) -> float:
        return self.minutes / 60


WEEKDAY_NAMES = {weekday: f"周{name}" for weekday, name in enumerate("一二三四五六日", start=1)}


@dataclasses.dataclass(frozen=True)
class WorkingCalendar:
    """Working periods on working days, in Asia/Shanghai. ``exceptions`` maps a date to whether it is worked,
    whatever its weekday (holidays, and the weekend days made working days)."""

    periods: tuple[tuple[dt.time, dt.time], ...]
    weekdays: frozenset[int]  # ISO: Monday 1 … Sunday 7
    exceptions: Mapping[dt.date, bool] = dataclasses.field(default_factory=dict)

    @property
    def description(self) -> str:
        """"周一、周二、周三、周四、周五 09:00–12:00、13:30–17:30"."""
        days = "、".join(WEEKDAY_NAMES[weekday] for weekday in sorted(self.weekdays))
        hours = "、".join(f"{opens:%H:%M}–{closes:%H:%M}" for opens, closes in self.periods)
        return f"{days} {hours}"

    def is_workday(self, day: dt.date) -> bool:
        return self.exceptions.get(day, day.isoweekday() in self.weekdays)

    def _working_spans(self, start: dt.datetime, days: int) -> Iterable[tuple[dt.datetime, dt.datetime]]:
        """The working periods (UTC) of ``days`` days from the one ``start`` falls on, in order."""
        first = start.astimezone(SHANGHAI).date()
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            if self.is_workday(day):
                for opens, closes in self.periods:
                    yield (dt.datetime.combine(day, opens, SHANGHAI).astimezone(dt.UTC),
                           dt.datetime.combine(day, closes, SHANGHAI).astimezone(dt.UTC))

    def add_working(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The moment ``duration`` of working time after ``start``."""
        left = duration
        for opens, closes in self._working_spans(start, SEARCH_DAYS):
            begin = max(opens, start)
            if closes <= begin:
                continue
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
        raise ValidationFailed("工作日历一年内没有工作时间，无法计算时限。", code="calendar_empty")

    def working_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Working time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.working_between(end, start)
        total = dt.timedelta()
        days = (end.astimezone(SHANGHAI).date() - start.astimezone(SHANGHAI).date()).days + 1
        for opens, closes in self._working_spans(start, days):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        return total

    def deadline(self, start: dt.datetime, limit: Limit) -> dt.datetime:
        duration = dt.timedelta(minutes=limit.minutes)
        return self.add_working(start, duration) if limit.working_hours else start + duration

    def time_left(self, now: dt.datetime, due: dt.datetime, working_hours: bool) -> dt.timedelta:
        """Until ``due`` (negative: overdue by as much), in working or clock time."""
        return self.working_between(now, due) if working_hours else due - now


# --- the shipped defaults and the administrator's overrides ----------------------------------------------------

@cache
def _defaults() -> dict[str, Any]:
    return json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))


def _limit(entry: Mapping[str, Any]) -> Limit:
    return Limit(round(entry["hours"] * 60), bool(entry["working_hours"]))


def shipped_limits() -> dict[str, dict[str, Limit]]:
    """The defaults shipped as data, by scope ("default", "urgent", and each class) and step."""
    data = _defaults()
    scopes = {DEFAULT_SCOPE: data["default"], URGENT_SCOPE: data["urgent"], **data["classes"]}
    return {scope: {step: _limit(entry) for step, entry in steps.items()} for scope, steps in scopes.items()}


def limit_overrides() -> dict[str, dict[str, Limit]]:
    overrides: dict[str, dict[str, Limit]] = {}
    for row in db.session.scalars(sa.select(CaseTimeLimit)):
        overrides.setdefault(row.scope, {})[row.step] = Limit(row.minutes, row.working_hours)
    return overrides


def scope_chain(category_id: str, urgent: bool) -> tuple[str, ...]:
    """The scopes whose limits apply to a category, the first that sets a step winning."""
    return (URGENT_SCOPE,) if urgent else (category_id, category_id[:3], DEFAULT_SCOPE)


def effective_limits(scope_names: Iterable[str], overrides: Mapping[str, Mapping[str, Limit]] | None = None,
                     ) -> dict[str, Limit]:
    """Each step's limit through a chain of scopes: at each scope an override before the shipped value."""
    overrides = limit_overrides() if overrides is None else overrides
    shipped = shipped_limits()
    chain = list(scope_names)
    limits: dict[str, Limit] = {}
    for step in LIMITED_STEPS:
        for scope in chain:
            found = overrides.get(scope, {}).get(step) or shipped.get(scope, {}).get(step)
            if found is not None:
                limits[step] = found
                break
        # "default" ends every non-urgent chain, "urgent" has every step: a step always has a limit.
    return limits


def limit_table() -> list[dict[str, Any]]:
    """What the limits page lists: each scope with its effective limits and which steps it overrides."""
    overrides = limit_overrides()
    categories = citizen_services.list_categories(include_inactive=True)
    class_names = {category.id[:3]: category.class_name for category in categories}
    category_names = {category.id: category.name for category in categories}
    rows = [{"scope": DEFAULT_SCOPE, "name": "默认（未单独设置的类别）", "chain": (DEFAULT_SCOPE,)},
            {"scope": URGENT_SCOPE, "name": "急要件", "chain": (URGENT_SCOPE,)}]
    rows += [{"scope": scope, "name": f"{'部件' if scope[0] == 'B' else '事件'} {scope[1:]} {name}",
              "chain": (scope, DEFAULT_SCOPE)} for scope, name in sorted(class_names.items())]
    rows += [{"scope": scope, "name": f"{scope} {category_names.get(scope, '')}",
              "chain": (scope, scope[:3], DEFAULT_SCOPE)}
             for scope in sorted(overrides) if scope not in (DEFAULT_SCOPE, URGENT_SCOPE, *class_names)]
    for row in rows:
        row["limits"] = effective_limits(row["chain"], overrides)
        row["overridden"] = set(overrides.get(row["scope"], {}))
    return rows


def _valid_scope(scope: str) -> str:
    if scope in (DEFAULT_SCOPE, URGENT_SCOPE):
        return scope
    known = {category.id for category in citizen_services.list_categories(include_inactive=True)}
    if scope in known or any(category_id[:3] == scope for category_id in known):
        return scope
    raise ValidationFailed("没有这个类别或大类。", code="unknown_scope", details={"fields": {"scope": ["unknown"]}})


def set_limits(actor: Actor, scope: str, limits: Mapping[str, tuple[float | None, bool]]) -> None:
    """An administrator's limits of one scope: ``{step: (hours, working_hours)}``; hours None removes the override
    (the shipped or wider value applies again). Audited."""
    scope = _valid_scope(scope)
    rows = {row.step: row for row in db.session.scalars(sa.select(CaseTimeLimit).where(CaseTimeLimit.scope == scope))}
    before = {step: {"hours": row.minutes / 60, "working_hours": row.working_hours} for step, row in rows.items()}
    for step, (hours, working_hours) in limits.items():
        if step not in LIMITED_STEPS:
            raise ValidationFailed("未知的办理环节。", code="unknown_step")
        if hours is None:
            if step in rows:
                db.session.delete(rows.pop(step))
            continue
        if not 0 < hours <= MAX_LIMIT_HOURS:
            raise ValidationFailed(f"{LIMITED_STEPS[step]}时限须大于 0 且不超过 {MAX_LIMIT_HOURS} 小时。",
                                   code="limit_out_of_range", details={"fields": {step: ["out of range"]}})
        row = rows.get(step) or CaseTimeLimit(scope=scope, step=step)
        row.minutes, row.working_hours = round(hours * 60), working_hours
        rows[step] = row
        db.session.add(row)
    db.session.flush()
    after = {step: {"hours": row.minutes / 60, "working_hours": row.working_hours} for step, row in rows.items()}
    record_audit(actor, "case_time_limit.update", "case_time_limit", scope, before=before, after=after)


# --- the working calendar --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class WorkingWeek:
    """The working days of the week and the working periods of each, as the calendar counts them."""

    weekdays: frozenset[int]  # ISO: Monday 1 … Sunday 7
    periods: tuple[tuple[dt.time, dt.time], ...]
    edited: bool  # an administrator's, not the shipped one


def working_week() -> WorkingWeek:
    """The administrator's working week where one is set, else the shipped one (cases/data/time_limits.json)."""
    row = db.session.get(CaseWorkingWeek, WORKING_WEEK_ID)
    stored = _defaults()["calendar"] if row is None else {"weekdays": row.weekdays, "periods": row.periods}
    periods = tuple((dt.time.fromisoformat(opens), dt.time.fromisoformat(closes))
                    for opens, closes in stored["periods"])
    return WorkingWeek(frozenset(stored["weekdays"]), periods, edited=row is not None)


def working_calendar() -> WorkingCalendar:
    week = working_week()
    exceptions = {row.day: row.is_workday for row in db.session.scalars(sa.select(CaseCalendarDay))}
    return WorkingCalendar(week.periods, week.weekdays, exceptions)


_CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _clock_time(text: str, number: int) -> str:
    """"9:00" or "09:00" as "09:00"; else why not, naming the period."""
    match = _CLOCK_TIME.fullmatch(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValidationFailed(f"第 {number} 段工作时间的「{text}」不是时间，请按 HH:MM 填写（如 09:00、17:30）。",
                               code="invalid_period", details={"fields": {"periods": [f"{number}: HH:MM"]}})
    return f"{int(match[1]):02d}:{match[2]}"


def _checked_periods(periods: Sequence[tuple[str, str]]) -> list[list[str]]:
    """The working periods as stored (HH:MM pairs in order), from the page's rows: a row left blank is skipped;
    periods must be whole, each ending after it starts, in order and not overlapping, at least one."""
    checked: list[list[str]] = []
    for number, (opens_text, closes_text) in enumerate(periods, start=1):
        opens_text, closes_text = opens_text.strip(), closes_text.strip()
        if not opens_text and not closes_text:
            continue
        if not opens_text or not closes_text:
            raise ValidationFailed(f"第 {number} 段工作时间须同时填写开始和结束时间。", code="invalid_period",
                                   details={"fields": {"periods": [f"{number}: incomplete"]}})
        opens, closes = _clock_time(opens_text, number), _clock_time(closes_text, number)
        if closes <= opens:
            raise ValidationFailed(f"第 {number} 段工作时间的结束时间 {closes} 须晚于开始时间 {opens}。",
                                   code="invalid_period", details={"fields": {"periods": [f"{number}: empty"]}})
        if checked and opens < checked[-1][1]:
            raise ValidationFailed(f"第 {number} 段工作时间 {opens}–{closes} 须在上一段 {checked[-1][0]}–"
                                   f"{checked[-1][1]} 结束后开始：各段按时间先后填写，不能重叠。",
                                   code="periods_overlap", details={"fields": {"periods": [f"{number}: overlaps"]}})
        checked.append([opens, closes])
    if not checked:
        raise ValidationFailed("请至少填写一段工作时间（如 09:00–12:00）。", code="periods_required",
                               details={"fields": {"periods": ["at least one"]}})
    return checked


def _audited_week(week: WorkingWeek) -> dict[str, list[str]]:
    return {"weekdays": [WEEKDAY_NAMES[weekday] for weekday in sorted(week.weekdays)],
            "periods": [f"{opens:%H:%M}–{closes:%H:%M}" for opens, closes in week.periods]}


def set_working_week(actor: Actor, *, weekdays: Collection[int], periods: Sequence[tuple[str, str]]) -> WorkingWeek:
    """An administrator's working days (ISO weekdays) and working periods (("09:00", "12:00") pairs, in order),
    replacing the shipped ones; ValidationFailed saying what is wrong. Audited. Deadlines already set keep their
    time; steps starting from now count with it."""
    if not weekdays:
        raise ValidationFailed("请至少选择一个工作日。", code="weekdays_required",
                               details={"fields": {"weekdays": ["at least one"]}})
    if not set(weekdays) <= set(WEEKDAY_NAMES):
        raise ValidationFailed("工作日须为周一至周日。", code="invalid_weekday",
                               details={"fields": {"weekdays": ["1–7"]}})
    stored = _checked_periods(periods)
    before = working_week()
    row = db.session.get(CaseWorkingWeek, WORKING_WEEK_ID) or CaseWorkingWeek(id=WORKING_WEEK_ID)
    row.weekdays, row.periods = sorted(set(weekdays)), stored
    db.session.add(row)
    db.session.flush()
    after = working_week()
    record_audit(actor, "case_calendar.week", "case_calendar", "week", before=_audited_week(before),
                 after=_audited_week(after))
    return after


def reset_working_week(actor: Actor) -> None:
    """Back to the shipped working week. Audited."""
    row = db.session.get(CaseWorkingWeek, WORKING_WEEK_ID)
    if row is None:
        return
    before = working_week()
    db.session.delete(row)
    db.session.flush()
    record_audit(actor, "case_calendar.week_reset", "case_calendar", "week", before=_audited_week(before),
                 after=_audited_week(working_week()))


def calendar_days(since: dt.date) -> list[CaseCalendarDay]:
    return list(db.session.scalars(sa.select(CaseCalendarDay).where(CaseCalendarDay.day >= since)
                                   .order_by(CaseCalendarDay.day)))


def set_calendar_day(actor: Actor, day: dt.date, *, is_workday: bool, name: str) -> CaseCalendarDay:
    """A holiday (not worked) or a 调休 working day, replacing what the day was set to. Audited. Deadlines already
    set keep their time; steps starting from now count with it."""
    name = name.strip()
    if not name or len(name) > 32:
        raise ValidationFailed("请填写 1–32 字的名称（如「国庆节」「国庆调休上班」）。", code="name_required",
                               details={"fields": {"name": ["1–32 characters"]}})
    row = db.session.get(CaseCalendarDay, day)
    before = None if row is None else {"is_workday": row.is_workday, "name": row.name}
    if row is None:
        row = CaseCalendarDay(day=day, is_workday=is_workday, name=name)
        db.session.add(row)
    row.is_workday, row.name = is_workday, name
    db.session.flush()
    record_audit(actor, "case_calendar.set", "case_calendar_day", day.isoformat(), before=before,
                 after={"is_workday": is_workday, "name": name})
    return row


def remove_calendar_day(actor: Actor, day: dt.date) -> None:
    row = db.session.get(CaseCalendarDay, day)
    if row is None:
        return
    record_audit(actor, "case_calendar.remove", "case_calendar_day", day.isoformat(),
                 before={"is_workday": row.is_workday, "name": row.name})
    db.session.delete(row)
    db.session.flush()


# --- a case's deadline -----------------------------------------------------------------------------------------

def clock_step(desk_case: DeskCase, step_row: DeskCaseStep, *, now: dt.datetime | None = None) -> None:
    """The desk's hook when a case enters a step (``step_row`` is the step's record): the record keeps the deadline
    of the step it ended, and the case's new step starts its clock (none once closed)."""
    now = now or utcnow()
    step_row.due_at = desk_case.due_at
    category = citizen_services.get_report(desk_case.report_id).category
    desk_case.is_urgent = bool(category.is_urgent)
    desk_case.step_started_at, desk_case.overdue_at = now, None
    limit = effective_limits(scope_chain(category.id, desk_case.is_urgent)).get(desk_case.step)
    if limit is None:
        desk_case.due_at = None
        return
    desk_case.due_at = working_calendar().deadline(now, limit)
    desk_case.due_in_working_hours = limit.working_hours


def queue_order(sort: str | None) -> tuple[sa.ColumnElement[Any], ...]:
    """The desk queue's order: urgent cases first; then the nearest deadline (overdue at the top) with
    ``sort="due"``, else the latest change."""
    first = DeskCase.is_urgent.desc()
    if sort == "due":
        return first, DeskCase.due_at.is_(None), DeskCase.due_at, DeskCase.id
    return first, DeskCase.updated_at.desc(), DeskCase.id.desc()


@dataclasses.dataclass(frozen=True)
class TimeLeft:
    left: dt.timedelta  # negative: overdue by as much
    working_hours: bool

    @property
    def overdue(self) -> bool:
        return self.left < dt.timedelta()

    @property
    def label(self) -> str:
        """"剩余 3 工作小时", "超时 2 小时", "剩余 40 工作分钟"."""
        minutes = int(abs(self.left).total_seconds() // 60)
        unit = "工作" if self.working_hours else ""
        amount = f"{minutes // 60} {unit}小时" if minutes >= 60 else f"{minutes} {unit}分钟"
        return f"{'超时' if self.overdue else '剩余'} {amount}"


def time_left(cases: Iterable[DeskCase], *, now: dt.datetime | None = None) -> dict[int, TimeLeft]:
    """Each open case's time left in its step, by case id (closed cases have none)."""
    now, calendar = now or utcnow(), working_calendar()
    return {case.id: TimeLeft(calendar.time_left(now, case.due_at, case.due_in_working_hours),
                              case.due_in_working_hours)
            for case in cases if case.due_at is not None}


def overdue_count(*, now: dt.datetime | None = None) -> int:
    """Open desk cases past their step's deadline (the 工作台's to-do count)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(DeskCase)
                             .where(DeskCase.due_at.is_not(None), DeskCase.due_at <= (now or utcnow()))) or 0


# --- the sweep: 督办 ---------------------------------------------------------------------------------------------

CENTRE_NAME = "指挥中心"  # who is notified of a case not yet dispatched to a department


def supervise_overdue(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Mark the cases newly past their deadline, once each: a 督办 entry on the case and its department's notice,
    audited. Safe with several workers: the mark is one conditional UPDATE, which only one of them makes, and it
    changes the case's version, so a staff step begun on the case before it is refused rather than losing it."""
    now = now or utcnow()
    due = db.session.execute(sa.select(DeskCase.id, DeskCase.due_at, DeskCase.step, DeskCase.department_id,
                                       DeskCase.department)
                             .where(DeskCase.due_at <= now, DeskCase.overdue_at.is_(None))
                             .order_by(DeskCase.due_at).limit(limit)).all()
    marked = 0
    for case_id, due_at, step, department_id, department in due:
        won = db.session.execute(
            sa.update(DeskCase).where(DeskCase.id == case_id, DeskCase.due_at == due_at,
                                      DeskCase.overdue_at.is_(None))
            .values(overdue_at=now, version=DeskCase.version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if not won:
            continue
        supervision = DeskSupervision(case_id=case_id, step=step, department_id=department_id,
                                      department=department, due_at=due_at, created_at=now)
        db.session.add(supervision)
        db.session.flush()
        record_audit(SYSTEM_ACTOR, "desk_case.supervise", "desk_case", case_id,
                     after={"step": step, "department": department, "due_at": due_at.isoformat()})
        marked += 1
    db.session.flush()
    db.session.expire_all()  # the cases' marks and versions were set past the session
    return marked


def supervisions_of(case_id: int) -> list[DeskSupervision]:
    return list(db.session.scalars(sa.select(DeskSupervision).where(DeskSupervision.case_id == case_id)
                                   .order_by(DeskSupervision.id)))


def _notices_within(departments: Collection[int] | None) -> tuple[sa.ColumnElement[bool], ...]:
    """Which notices a viewer sees: all (``departments`` None: who sees every case), or those of cases one of
    ``departments`` holds that were sent to that department (not one that held the case before)."""
    if departments is None:
        return ()
    return (DeskSupervision.department_id.in_(departments),
            DeskSupervision.case_id.in_(sa.select(DeskCase.id).where(
                DeskCase.department_id == DeskSupervision.department_id)))


def supervision_notices(*, within: Collection[int] | None = None, department: str | None = None,
                        unread_only: bool = False, limit: int = 200) -> list[DeskSupervision]:
    """The notice list: the newest 督办 first, those ``within`` sees, for one department (``CENTRE_NAME``: cases
    not yet dispatched)."""
    query = sa.select(DeskSupervision).where(*_notices_within(within))
    if department == CENTRE_NAME:
        query = query.where(DeskSupervision.department.is_(None))
    elif department:
        query = query.where(DeskSupervision.department == department)
    if unread_only:
        query = query.where(DeskSupervision.read_at.is_(None))
    return list(db.session.scalars(query.order_by(DeskSupervision.id.desc()).limit(limit)))


def unread_notice_count(*, within: Collection[int] | None = None) -> int:
    """The 督办 notices not yet read that ``within`` sees (a handler's 工作台 to-do)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(DeskSupervision)
                             .where(DeskSupervision.read_at.is_(None), *_notices_within(within))) or 0


def notice_departments(*, within: Collection[int] | None = None) -> list[str]:
    names = db.session.scalars(sa.select(DeskSupervision.department).where(*_notices_within(within)).distinct())
    return sorted({name or CENTRE_NAME for name in names})


def mark_notice_read(actor: Actor, supervision_id: int, *, within: Collection[int] | None = None) -> bool:
    """A staff member read a 督办 notice they see (else NotFound); False when it was read before. Audited."""
    supervision = db.session.scalar(sa.select(DeskSupervision).where(DeskSupervision.id == supervision_id,
                                                                     *_notices_within(within)))
    if supervision is None:
        raise NotFound("督办通知不存在。")
    if supervision.read_at is not None:
        return False
    supervision.read_at, supervision.read_by = utcnow(), actor.name
    record_audit(actor, "desk_supervision.read", "desk_case", supervision.case_id,
                 after={"supervision_id": supervision.id})
    db.session.flush()
    return True


# --- department scores (考核) -------------------------------------------------------------------------------------

# 退回: a department sending a case back (退单). Named "send_back" until returns became requests the dispatcher rules
# on ("return_request"); the scores count both, whatever a case's history holds.
RETURN_ACTIONS = ("send_back", "return_request")


@dataclasses.dataclass(frozen=True)
class Measure:
    """A rate or mean over ``sample`` cases (or ratings); ``value`` is None below the least sample scored."""

    value: float | None
    sample: int


@dataclasses.dataclass(frozen=True)
class DepartmentScore:
    department: str
    closed: int  # cases closed in the period: the sample of the rates
    on_time: Measure  # handled (处置) within the time limit, every time
    rework: Measure  # sent back to be handled again: a failed check (核查) or a resident's reopening (返工)
    returned: Measure  # sent back by the department as not its own (退单)
    satisfaction: Measure  # residents' mean rating (1–5) of the cases' reports

    @property
    def scored(self) -> bool:
        return self.on_time.value is not None


def _is_rework(record: DeskCaseStep) -> bool:
    return record.action == REWORK_ACTION or (record.action in RETURN_ACTIONS and record.step == "dispatched")


def _is_return(record: DeskCaseStep) -> bool:
    # A return before handling puts the case back to be dispatched; after it, back to be handled (a rework).
    return record.action in RETURN_ACTIONS and record.step != "dispatched"


def _measure(hits: int, sample: int, min_sample: int) -> Measure:
    return Measure(hits / sample if sample >= min_sample else None, sample)


def department_scores(since: dt.datetime, until: dt.datetime, *, min_sample: int) -> list[DepartmentScore]:
    """Each department's 考核 over the desk cases closed in [since, until): on-time handling, rework and return
    rates, residents' satisfaction, each with its sample; a measure on fewer than ``min_sample`` cases (ratings) is
    not scored, so a department that closed one case is never the best. Scored departments first, best on-time
    rate first; then the others by name."""
    closed_in_period = (sa.select(DeskCaseStep.case_id)
                        .where(DeskCaseStep.action == "close", DeskCaseStep.occurred_at >= since,
                               DeskCaseStep.occurred_at < until))
    cases = list(db.session.scalars(sa.select(DeskCase).options(selectinload(DeskCase.steps))
                                    .where(DeskCase.id.in_(closed_in_period), DeskCase.department.is_not(None))))
    by_department: dict[str, list[DeskCase]] = {}
    for case in cases:
        by_department.setdefault(case.department or "", []).append(case)
    snapshots = citizen_services.report_snapshots_of(case.report_id for case in cases)
    # A return counts against the department that returned the case, which another department may have closed.
    names: dict[int, str] = {id_: name for id_, name in db.session.execute(sa.select(Department.id, Department.name))}
    returned_by: dict[str, set[int]] = {}
    for case in cases:
        for record in case.steps:
            if _is_return(record) and record.department_id in names:
                returned_by.setdefault(names[record.department_id], set()).add(case.id)
    scores = []
    for department in sorted(set(by_department) | set(returned_by)):
        department_cases = by_department.get(department, [])
        returned = returned_by.get(department, set())
        sent = {case.id for case in department_cases} | returned
        handling = [[record for record in case.steps if record.action == "handle" and record.due_at is not None]
                    for case in department_cases]
        timed = [records for records in handling if records]
        on_time = sum(all(record.occurred_at <= record.due_at for record in records) for records in timed)
        ratings = [rating for case in department_cases
                   if (snapshot := snapshots.get(case.report_id)) is not None
                   and (rating := snapshot.rating) is not None]
        closed = len(department_cases)
        scores.append(DepartmentScore(
            department=department, closed=closed, on_time=_measure(on_time, len(timed), min_sample),
            rework=_measure(sum(any(map(_is_rework, case.steps)) for case in department_cases), closed, min_sample),
            returned=_measure(len(returned), len(sent), min_sample),
            satisfaction=Measure(sum(ratings) / len(ratings) if len(ratings) >= min_sample else None, len(ratings))))
    return sorted(scores, key=lambda score: (not score.scored, -(score.on_time.value or 0), score.department))
