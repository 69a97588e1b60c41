"""Case desk benchmark: the 督办 sweep, the desk list and a case's whole life, over a year of cases.

    .venv/bin/python bench/desk.py                          # both databases: 500,000 closed and 20,000 open cases
    .venv/bin/python bench/desk.py --closed 50000 --open 20000 --lifecycles 100    # a few minutes for both
    .venv/bin/python bench/desk.py --database postgres --keep   # keep the loaded schema; the next --keep reuses it

For each database (the embedded SQLite default, and PostgreSQL at BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test, in a schema of its own) it:
1. migrates an empty database, imports the city's departments (cases/data/departments_qingdao.csv, as
   ``make run`` does) and loads ``--closed`` closed cases spread over the last 365 days with their six steps
   (受理 立案 派遣 处置 核查 结案) and ``--open`` open cases in every step, most dispatched to the 39 departments
   (a few busy ones), some past their deadlines and already supervised, ``--overdue`` of them newly past
   (COPY on PostgreSQL with the triggers off, the reports' per-status totals and map cells counted after it;
   executemany on SQLite; the tables' indexes built after the load), each with its report;
2. times the sweep (``flask cases supervise``: ``supervise_overdue`` and its commit, every minute in
   production): the first run after ``--overdue`` cases went past their deadlines at once (it marks at most
   500 a run), the runs it takes to mark them all, and a steady-state run with nothing new to mark;
3. times the desk list's first page sorted by deadline (``GET /admin/desk?sort=due``, the Flask test client,
   signed in) as a handler of the busiest department sees it (its 已派遣 cases) and as the dispatcher sees it
   (待立案, every department), p50/p95, each in turn with ``GET /healthz`` (the same app's cheapest page);
4. runs ``--lifecycles`` cases through their whole life with the services, each step its own transaction as a
   request is (受理 → 立案 → 派遣 → 处置 with an after-photo → 核查 → 结案), and, in alternate rounds, the
   reference: as many plain INSERTs of a step row, each committed, as those lives take steps.

Targets: the sweep's steady-state run < 1 s and its run over 500 newly overdue cases < 10 s (both far inside
the one-minute period); the desk list's p95 < 100 ms for a handler and for the dispatcher; a case's life at
≥ 20× the average rate of 16,000 cases a day (3.7 cases/s). It prints each figure next to its reference and
their ratio.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from core.config import Config  # noqa: E402
from tests.common.media_files import photo_bytes  # noqa: E402
from tests.common.stack import percentile  # noqa: E402

BENCH_SECRET = "bench-secret-key-0123456789-0123456789-abcdef"
SCHEMA = "bench_desk"
PASSWORD = "bench-desk-password"
DEPARTMENTS_FILE = ROOT / "cases" / "data" / "departments_qingdao.csv"
QINGDAO_CENTRE = (36.0671, 120.3826)
CASES_PER_DAY = 16_000
SWEEP_PERIOD_S = 60
# Open cases by step: most wait at a department (已派遣); the rest before it or after it.
OPEN_STEPS = ["received"] * 8 + ["registered"] * 8 + ["dispatched"] * 55 + ["returned"] * 2 + ["handled"] * 15 + [
    "verified"] * 12
# The steps a case has been through to reach each step, and the action and role of each.
PATH = [("receive", "received", None), ("register", "registered", "dispatcher"),
        ("dispatch", "dispatched", "dispatcher"), ("handle", "handled", "handler"),
        ("verify", "verified", "verifier"), ("close", "closed", "dispatcher")]
REACHED = {"received": 1, "registered": 2, "dispatched": 3, "handled": 4, "verified": 5, "closed": 6}
# Hours after the case arrived at which each step of PATH is taken, for a closed case (a typical quick case).
STEP_HOURS = (0, 1, 2, 20, 24, 26)
ALREADY_OVERDUE_SHARE = 0.08  # open cases past their deadline, found by an earlier sweep

REPORT_COLUMNS = ("id", "resident_id", "category_id", "description", "lat", "lng", "address", "district", "status",
                  "idempotency_key", "request_fingerprint", "flags", "checks", "version", "created_at", "updated_at")
CASE_COLUMNS = ("id", "report_id", "step", "department_id", "department", "version", "step_started_at", "due_at",
                "due_in_working_hours", "overdue_at", "is_urgent", "created_at", "updated_at")
STEP_COLUMNS = ("case_id", "occurred_at", "action", "step", "actor_name", "actor_role", "department_id", "note",
                "media_ids", "proof", "due_at")
REPORT_STATUS = {"received": "forwarded", "registered": "forwarded", "dispatched": "in_progress",
                 "returned": "in_progress", "handled": "resolved", "verified": "resolved", "closed": "closed"}


def sqlite_value(value: object) -> object:
    """What SQLAlchemy writes to SQLite: datetimes as UTC text without an offset, booleans as 0/1."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def bulk_insert(table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> int:
    """PostgreSQL: COPY, the tables' triggers and foreign key checks off for the transaction (what the report
    triggers keep is counted afterwards: ``count_report_summaries``); SQLite: executemany. The bench seeds; the app
    never writes like this."""
    from core.db import db

    connection = db.session.connection()
    driver = connection.connection.driver_connection
    count = 0
    if connection.dialect.name == "postgresql":
        driver.execute("SET LOCAL session_replication_role = replica")
        with driver.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    cursor = driver.cursor()
    batch: list[tuple[object, ...]] = []
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for row in rows:
        batch.append(tuple(map(sqlite_value, row)))
        if len(batch) == 10_000:
            cursor.executemany(statement, batch)
            count += len(batch)
            batch.clear()
    cursor.executemany(statement, batch)
    return count + len(batch)


class Desk:
    """What was loaded: the departments (id, name) with the busiest first."""

    def __init__(self, departments: list[tuple[int, str]]) -> None:
        self.departments = departments


def seed_staff_and_departments() -> list[tuple[int, str]]:
    """The city's departments (imported as ``make run`` does) and one member of staff per duty, the handler a
    member of the busiest department; the departments by id and name, the busiest first."""
    from cases import services as case_services
    from core import services as core_services
    from core.services import SYSTEM_ACTOR

    case_services.import_departments(SYSTEM_ACTOR, DEPARTMENTS_FILE.read_text(encoding="utf-8-sig"))
    active = {row["name"] for row in csv.DictReader(io.StringIO(DEPARTMENTS_FILE.read_text(encoding="utf-8-sig")))
              if row["active"] == "1"}
    departments = [(department.id, department.name) for department in case_services.list_departments()
                   if department.name in active]
    staff = {}
    for role in ("dispatcher", "handler", "verifier"):
        staff[role] = core_services.create_staff(SYSTEM_ACTOR, username=f"bench_{role}", display_name=role,
                                                 password=PASSWORD, roles=[role]).id
    case_services.set_members(SYSTEM_ACTOR, departments[0][0], {staff["handler"]})
    return departments


def department_weights(count: int) -> list[float]:
    """A few busy departments (the street offices of the busy districts), a long tail."""
    return [1 / (rank + 1) ** 0.7 for rank in range(count)]


def load_desk(args: argparse.Namespace) -> Desk:
    """Residents, the reports of every case, the closed and open cases with their steps; printed as it goes."""
    from citizen.models import Resident
    from core.crypto import encrypt
    from core.db import db

    departments = seed_staff_and_departments()
    db.session.commit()
    categories = list(db.session.scalars(sa.text("SELECT id FROM categories WHERE is_active AND NOT is_urgent")))
    urgent_categories = list(db.session.scalars(sa.text("SELECT id FROM categories WHERE is_active AND is_urgent")))
    now = dt.datetime.now(dt.timezone.utc)
    residents = 2000
    bulk_insert("residents", ("id", "openid", "openid_digest", "is_blocked", "created_at", "updated_at"),
                ((number, encrypt(f"bench-desk-{number}"), Resident.digest("openid", f"bench-desk-{number}"), False,
                  now, now) for number in range(1, residents + 1)))
    db.session.commit()

    from cases.models import DeskCase, DeskCaseStep
    from citizen.models import Report
    tables = [Report.__table__, DeskCase.__table__, DeskCaseStep.__table__]
    indexes = [index for table in tables for index in table.indexes]
    for index in indexes:
        index.drop(db.session.connection())
    db.session.commit()

    rng = random.Random(5)
    weights = department_weights(len(departments))
    total = args.closed + args.open
    started = time.perf_counter()
    reports: list[tuple[object, ...]] = []
    cases: list[tuple[object, ...]] = []
    steps: list[tuple[object, ...]] = []
    loaded = {"reports": 0, "desk_cases": 0, "desk_case_steps": 0}

    def flush() -> None:
        for table, columns, rows in (("reports", REPORT_COLUMNS, reports), ("desk_cases", CASE_COLUMNS, cases),
                                     ("desk_case_steps", STEP_COLUMNS, steps)):
            loaded[table] += bulk_insert(table, columns, rows)
            rows.clear()
        db.session.commit()

    open_steps = iter(rng.choice(OPEN_STEPS) for _ in range(args.open))
    newly_overdue = set(rng.sample(range(args.closed + 1, args.closed + args.open + 1), min(args.overdue, args.open)))
    for number in range(1, total + 1):
        if number <= args.closed:
            step = "closed"
            arrived = now - dt.timedelta(days=2) - dt.timedelta(seconds=rng.randrange(363 * 86400))
        else:
            step = next(open_steps)
            arrived = now - dt.timedelta(seconds=rng.randrange(5 * 86400))
        urgent = rng.random() < 0.05 and bool(urgent_categories)
        category = rng.choice(urgent_categories if urgent else categories)
        place = QINGDAO_CENTRE[0] + rng.uniform(-0.25, 0.25), QINGDAO_CENTRE[1] + rng.uniform(-0.3, 0.3)
        submitted = arrived - dt.timedelta(minutes=rng.randrange(10, 600))
        reports.append((number, rng.randrange(1, residents + 1), category, "基准案件", place[0], place[1], "青岛市",
                        "市南区", REPORT_STATUS[step], f"bench-desk-{number}", "bench",
                        "[]", "{}", 1, submitted, arrived))
        department_id, department = rng.choices(departments, weights)[0]
        dispatched = REACHED.get(step, 3) >= 3
        taken = PATH[:REACHED.get(step, 3)]
        if step == "closed":
            moments = [arrived + dt.timedelta(hours=hours * rng.uniform(0.5, 2)) for hours in STEP_HOURS]
        else:
            moments = sorted(arrived + dt.timedelta(seconds=rng.randrange(int((now - arrived).total_seconds()) + 1))
                             for _ in taken)
            moments[0] = arrived
        previous_due = None
        for (action, reached, role), moment in zip(taken, moments, strict=True):
            steps.append((number, moment, action, reached, "bench" if role else "system", role,
                          department_id if REACHED[reached] >= 3 else None, None, "[]", "[]", previous_due))
            previous_due = moment + dt.timedelta(hours=8)
        if step == "returned":
            steps.append((number, now - dt.timedelta(minutes=30), "return_request", "returned", "bench", "handler",
                          department_id, "不属于本部门", "[]", "[]", previous_due))
        due_at = overdue_at = None
        if step != "closed":
            if number in newly_overdue:
                due_at = now - dt.timedelta(seconds=rng.randrange(1, 3600))
            elif rng.random() < ALREADY_OVERDUE_SHARE:
                due_at = now - dt.timedelta(seconds=rng.randrange(3600, 10 * 86400))
                overdue_at = due_at + dt.timedelta(minutes=1)
            else:
                due_at = now + dt.timedelta(seconds=rng.randrange(60, 5 * 86400))
        last = moments[-1] if step != "returned" else now - dt.timedelta(minutes=30)
        cases.append((number, number, step, department_id if dispatched else None,
                      department if dispatched else None, len(taken), last, due_at, True, overdue_at, urgent,
                      arrived, last))
        if len(reports) >= 20_000:
            flush()
    flush()
    loaded_s = time.perf_counter() - started
    for index in indexes:
        index.create(db.session.connection())
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for table in ("reports", "desk_cases", "residents"):
            db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT max(id) FROM {table}))"))
        db.session.commit()
        count_report_summaries()
    analyse()
    print(f"  loaded in {loaded_s:.1f} s, indexed and analysed in {time.perf_counter() - started - loaded_s:.1f} s: "
          + ", ".join(f"{rows:,} {table}" for table, rows in loaded.items()), flush=True)
    return Desk(departments)


def count_report_summaries() -> None:
    """PostgreSQL: the per-status totals and the public map's cells, which the report triggers keep, counted from the
    reports loaded with the triggers off."""
    from citizen import services as citizen_services
    from core.db import db
    from reports import status_totals_recount

    db.session.execute(sa.text(status_totals_recount()))
    citizen_services.rebuild_map_cells()
    db.session.commit()


def analyse() -> None:
    """Statistics (and PostgreSQL's visibility map, for index-only scans), as autovacuum would have them."""
    from core.db import db

    if db.engine.dialect.name != "postgresql":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        return
    tables = list(db.session.scalars(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(sa.text(f'VACUUM ANALYZE "{table}"'))


def reloaded_desk() -> Desk:
    """What a kept schema holds (--keep): the departments, busiest first."""
    from core.db import db

    departments = [tuple(row) for row in db.session.execute(sa.text(
        "SELECT d.id, d.name FROM case_departments d JOIN case_department_members m ON m.department_id = d.id"))]
    departments += [tuple(row) for row in db.session.execute(sa.text(
        "SELECT id, name FROM case_departments WHERE id NOT IN (SELECT department_id FROM case_department_members) "
        "AND is_active ORDER BY id"))]
    return Desk(departments)


# --- 2. the sweep ------------------------------------------------------------------------------------------------

def sweep_once() -> tuple[int, float]:
    """One ``flask cases supervise``: its marks and their commit; (cases marked, seconds)."""
    from cases import services as case_services
    from core.db import db

    started = time.perf_counter()
    marked = case_services.supervise_overdue()
    db.session.commit()
    return marked, time.perf_counter() - started


def bench_sweep() -> dict[str, float]:
    from core.db import db

    waiting = db.session.scalar(sa.text("SELECT count(*) FROM desk_cases WHERE due_at <= :now AND overdue_at IS NULL"),
                                {"now": dt.datetime.now(dt.timezone.utc)})
    db.session.commit()
    first_marked, first_s = sweep_once()
    runs, total_s, marked = 1, first_s, first_marked
    while True:
        more, seconds = sweep_once()
        runs, total_s, marked = runs + 1, total_s + seconds, marked + more
        if not more:
            break
    steady = [sweep_once()[1] for _ in range(5)]
    steady_s = statistics.median(steady)
    print(f"  sweep, first run after {waiting:,} cases went overdue at once: {first_marked} marked in "
          f"{first_s * 1000:.0f} ms ({first_s / max(first_marked, 1) * 1000:.2f} ms a case); "
          f"{first_s / SWEEP_PERIOD_S:.4f} of its one-minute period (target < 10 s: "
          f"{'met' if first_s < 10 else 'NOT met'})")
    print(f"  sweep, all {marked:,} marked in {runs} runs (the last marking none), {total_s:.2f} s in all")
    print(f"  sweep, steady state (nothing new): median {steady_s * 1000:.1f} ms of 5 runs; "
          f"{steady_s / SWEEP_PERIOD_S:.5f} of its one-minute period (target < 1 s: "
          f"{'met' if steady_s < 1 else 'NOT met'})", flush=True)
    return {"sweep_first_s": first_s, "sweep_steady_s": steady_s}


# --- 3. the desk list --------------------------------------------------------------------------------------------

def signed_in(app, role: str):  # noqa: ANN001, ANN201
    client = app.test_client()
    login_page = client.get("/admin/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/admin/login", data={"username": f"bench_{role}", "password": PASSWORD,
                                               "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client


def page_times(client, path: str, requests: int) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """The page, and in turn with it the health check: each request's seconds."""
    assert client.get(path).status_code == 200  # warm: templates compiled, caches filled
    times, reference = [], []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200 and "案件办理" in response.get_data(as_text=True)
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        reference.append(time.perf_counter() - started)
    return times, reference


def bench_desk_list(app, desk: Desk, requests: int) -> dict[str, float]:  # noqa: ANN001
    from core.db import db

    with app.app_context():
        department_id, department = desk.departments[0]
        waiting = db.session.scalar(sa.text("SELECT count(*) FROM desk_cases WHERE department_id = :id AND "
                                            "step = 'dispatched'"), {"id": department_id})
        received = db.session.scalar(sa.text("SELECT count(*) FROM desk_cases WHERE step = 'received'"))
    figures = {}
    for role, path, seen in (("handler", "/admin/desk?step=dispatched&sort=due",
                              f"{department}'s {waiting:,} 已派遣 cases"),
                             ("dispatcher", "/admin/desk?step=received&sort=due",
                              f"{received:,} 待立案 cases of every department")):
        times, reference = page_times(signed_in(app, role), path, requests)
        p95 = percentile(times, 0.95)
        figures[f"list_{role}_p95_ms"] = p95 * 1000
        print(f"  desk list, first page by deadline as the {role} ({seen}): p50 "
              f"{statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (target p95 < 100 ms: "
              f"{'met' if p95 < 0.1 else 'NOT met'}); GET /healthz in turn p50 "
              f"{statistics.median(reference) * 1000:.1f} ms; ratio p50 "
              f"{statistics.median(times) / statistics.median(reference):.1f}", flush=True)
    return figures


# --- 4. a case's life --------------------------------------------------------------------------------------------

def lifecycle_reports(count: int) -> list[int]:
    """Reports accepted and forwarded to the desk, not yet its cases, at the after-photo's place: what the lifecycles
    open; their ids."""
    from citizen.models import Report
    from core.db import db

    first = (db.session.scalar(sa.select(sa.func.max(Report.id))) or 0) + 1
    category = db.session.scalar(sa.text("SELECT id FROM categories WHERE is_active AND NOT is_urgent ORDER BY id"))
    resident = db.session.scalar(sa.text("SELECT min(id) FROM residents"))
    now = dt.datetime.now(dt.timezone.utc)
    ids = list(range(first, first + count))
    db.session.execute(sa.insert(Report.__table__), [dict(zip(REPORT_COLUMNS, (
        number, resident, category, "基准案件", *QINGDAO_CENTRE, "青岛市", "市南区", "forwarded",
        f"bench-life-{number}", "bench", [], {}, 1, now, now), strict=True)) for number in ids])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('reports', 'id'), :last)"), {"last": ids[-1]})
    db.session.commit()
    return ids


def after_photo_source(report_id: int) -> dict[str, object]:
    """A handler's photo, processed as an upload is (EXIF position at the lifecycle reports' place, taken after any
    dispatch of this run), as a row to copy for each case: each 处置 takes its own photo."""
    from citizen import services as citizen_services
    from core.db import db
    from media import services as media_services
    from media.models import Media

    taken = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="bench-desk-photo-") as directory:
        path = Path(directory) / "after.jpg"
        path.write_bytes(photo_bytes(3, gps=QINGDAO_CENTRE,
                                     taken_at=taken.astimezone(dt.timezone(dt.timedelta(hours=8)))))
        resident_id = citizen_services.get_report(report_id).resident_id
        media_id = media_services.accept_local_file(resident_id, path).id
    db.session.commit()
    table = Media.__table__
    row = db.session.execute(sa.select(table).where(table.c.id == media_id)).mappings().one()
    db.session.commit()
    return {key: value for key, value in row.items() if key != "id"}


def live_one_case(report_id: int, department_id: int, photo: dict[str, object], staff: dict[str, object]) -> int:
    """受理 → 立案 → 派遣 → 处置 (an after-photo) → 核查 → 结案 through the services, each its own transaction;
    the steps taken."""
    from cases import services as case_services
    from citizen.settings import CitizenSettings
    from core.config import current_settings
    from core.db import db
    from media.models import Media

    case_id = case_services.open_desk_case(report_id).id
    db.session.commit()
    for action in ("register", "dispatch", "handle", "verify", "close"):
        actor, roles = staff[{"register": "dispatcher", "dispatch": "dispatcher", "handle": "handler",
                              "verify": "verifier", "close": "dispatcher"}[action]]
        photos = None
        if action == "handle":
            media_id = db.session.scalar(sa.insert(Media.__table__).returning(Media.__table__.c.id),
                                         [{**photo, "sha256": os.urandom(32).hex()}])
            photos = case_services.AfterPhotos((case_services.AfterPhoto(media_id),),
                                               current_settings(CitizenSettings))
        version = case_services.get_desk_case(case_id).version
        case_services.act_on_desk_case(actor, case_id, action, roles=roles, expected_version=version,
                                       note="已清理完毕" if action == "handle" else "",
                                       department_id=department_id if action == "dispatch" else None,
                                       after_photos=photos)
        db.session.commit()
    return 6


def plain_steps(case_id: int, count: int) -> None:
    """The reference: ``count`` step rows, each INSERTed and committed on its own."""
    from core.db import db

    for _ in range(count):
        db.session.execute(sa.text(
            "INSERT INTO desk_case_steps (case_id, occurred_at, action, step, actor_name, media_ids, proof) "
            "VALUES (:case_id, :now, 'bench', 'closed', 'bench', '[]', '[]')"),
            {"case_id": case_id, "now": dt.datetime.now(dt.timezone.utc)})
        db.session.commit()


def bench_lifecycle(app, desk: Desk, lifecycles: int, rounds: int = 4) -> dict[str, float]:  # noqa: ANN001
    from core.db import db
    from core.models import StaffAccount
    from core.services import Actor

    with app.app_context():
        staff = {}
        for role in ("dispatcher", "handler", "verifier"):
            account = db.session.scalar(sa.select(StaffAccount).where(StaffAccount.username == f"bench_{role}"))
            staff[role] = (Actor(account.id, account.username), (role,))
        reports = lifecycle_reports(lifecycles)
        photo = after_photo_source(reports[0])
        reference_case = db.session.scalar(sa.text("SELECT min(id) FROM desk_cases"))
        db.session.commit()
        department_id = desk.departments[0][0]
        life_s = reference_s = 0.0
        steps = 0
        per_round = -(-len(reports) // rounds)
        for start in range(0, len(reports), per_round):
            batch = reports[start:start + per_round]
            started = time.perf_counter()
            taken = sum(live_one_case(report_id, department_id, photo, staff) for report_id in batch)
            life_s += time.perf_counter() - started
            steps += taken
            started = time.perf_counter()
            plain_steps(reference_case, taken)
            reference_s += time.perf_counter() - started
        closed = db.session.scalar(sa.text("SELECT count(*) FROM desk_cases WHERE step = 'closed' AND report_id IN "
                                           f"({', '.join(map(str, reports))})"))
        assert closed == len(reports), f"{closed} of {len(reports)} lifecycles closed"
    life_rate = len(reports) / life_s
    reference_rate = len(reports) / reference_s  # cases whose steps plain inserts write as fast
    day_average = CASES_PER_DAY / 86400
    print(f"  a case's life (6 steps, 6 transactions) through the services: {life_rate:.1f} cases/s "
          f"({life_s / steps * 1000:.1f} ms a step); reference, {steps:,} plain INSERTs of a step row each "
          f"committed: {reference_rate:.1f} cases/s ({reference_s / steps * 1000:.2f} ms a row); ratio "
          f"{life_rate / reference_rate:.3f}")
    print(f"  16,000 cases a day is {day_average:.3f} cases/s on average ({CASES_PER_DAY / (8 * 3600):.2f}/s if "
          f"all came in 8 working hours): the desk's one process does {life_rate / day_average:.0f}× the average "
          f"(target ≥ 20×: {'met' if life_rate >= 20 * day_average else 'NOT met'}), a day's cases in "
          f"{CASES_PER_DAY / life_rate / 60:.1f} minutes of one process", flush=True)
    return {"life_rate": life_rate}


def bench(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    from flask_migrate import upgrade

    from core.app import create_app
    from core.db import db

    print(f"\n== {name}: {args.closed:,} closed and {args.open:,} open cases "
          f"(load average {' '.join(f'{value:.1f}' for value in os.getloadavg())})", flush=True)
    app = create_app(Config.from_env(env))
    with app.app_context():
        upgrade()
        if args.keep and db.session.scalar(sa.text("SELECT count(*) FROM desk_cases")):
            print("  reusing the cases already loaded (--keep); the sweep finds only what went overdue since",
                  flush=True)
            desk = reloaded_desk()
        else:
            desk = load_desk(args)
        figures = bench_sweep()
    figures |= bench_desk_list(app, desk, args.requests)
    figures |= bench_lifecycle(app, desk, args.lifecycles)
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    return figures


def sqlite_file(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'bench.db'}"


def postgres_schema(keep: bool) -> Iterator[str]:
    url = Config.from_env({"DATABASE_URL": os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")}).database_url
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if not keep:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    try:
        yield f"{url}?options=-csearch_path%3D{SCHEMA}"
    finally:
        if not keep:
            with engine.begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--closed", type=int, default=500_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--overdue", type=int, default=2_000, help="open cases newly past their deadline")
    parser.add_argument("--requests", type=int, default=100, help="of each desk list page")
    parser.add_argument("--lifecycles", type=int, default=200)
    parser.add_argument("--keep", action="store_true",
                        help="PostgreSQL: keep the bench schema afterwards, and reuse the cases it holds")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    base_env = {"SECRET_KEY": BENCH_SECRET, "MEDIA_ROOT": str(workdir / "media"), "LOG_LEVEL": "WARNING",
                "REDIS_URL": ""}
    runs: list[tuple[str, Callable[[], Iterator[str]]]] = []
    if args.database in ("sqlite", "both"):
        runs.append(("embedded default (SQLite)", lambda: sqlite_file(workdir)))
    if args.database in ("postgres", "both"):
        runs.append(("PostgreSQL", lambda: postgres_schema(args.keep)))
    try:
        for name, urls in runs:
            database = urls()
            try:
                bench(name, {**base_env, "DATABASE_URL": next(database)}, args)
            finally:
                database.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
