"""Insight benchmark: the dashboard and the monthly report over a year of reports, next to a raw scan.

    .venv/bin/python bench/insight.py                                   # PostgreSQL, 1 million reports
    .venv/bin/python bench/insight.py --database sqlite --reports 200000 --no-pdf
    .venv/bin/python bench/insight.py --keep      # keep the loaded schema; the next --keep run reuses it

For each database (PostgreSQL at BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test,
in a schema of its own; or the embedded SQLite default) it:
1. migrates an empty database and loads ``--reports`` reports spread over the last 365 days, clustered
   around the district seats, with closing events and ratings, a forwarding record for each accepted
   report (a backlog of the last two days and a few stuck ones) and a year-long rewards campaign paying
   5 % of them (COPY on PostgreSQL);
2. counts them once with ``insight.services.rebuild`` (what ``flask insight rebuild`` does), and prints
   how many rollup rows the last 30 days hold;
3. times the dashboard's figures (``insight.services.dashboard``) and the whole page as a signed-in
   moderator, and the last full month's report: its figures, its HTML, and its PDF;
4. times the reference: the same month's headline figures straight from the raw report rows
   (GROUP BYs over ``reports`` and ``report_events``), as a dashboard without counters would.

It prints medians, the targets (dashboard < 300 ms, monthly report < 10 s), and each figure's
ratio to the raw scan.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from core.config import Config  # noqa: E402

BENCH_SECRET = "bench-secret-key-0123456789-0123456789-abcdef"
VIEWER = ("bench_viewer", "bench-viewer-password")
SCHEMA = "bench_insight"
STATUSES = (["pending_review"] * 2 + ["accepted", "forwarded", "in_progress"] * 2 + ["resolved"] * 2
            + ["closed"] * 8 + ["rejected", "duplicate", "withdrawn"])


def median_ms(action, runs: int) -> float:  # noqa: ANN001
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def bulk_insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """PostgreSQL: COPY; SQLite: one multi-row executemany. The bench seeds; the app never writes like this."""
    from core.db import db

    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join(f":{column}" for column in columns)
        connection.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"),
                           [dict(zip(columns, row, strict=True)) for row in rows])


REPORT_COLUMNS = ("id", "resident_id", "category_id", "description", "lat", "lng", "address", "district", "status",
                  "idempotency_key", "request_fingerprint", "flags", "checks", "rating", "rated_at", "version",
                  "created_at", "updated_at")
EVENT_COLUMNS = ("report_id", "occurred_at", "from_status", "to_status", "actor_kind", "note")
DELIVERY_COLUMNS = ("report_id", "case_system", "status", "attempts", "next_attempt_at", "delivered_at", "last_error",
                    "created_at", "updated_at")
REWARD_COLUMNS = ("id", "campaign_id", "report_id", "resident_id", "amount_fen", "state", "hold_signals", "granted_on",
                  "created_at", "updated_at")
LEDGER_COLUMNS = ("occurred_at", "reward_id", "campaign_id", "resident_id", "kind", "amount_fen", "earned_on",
                  "actor_name", "note", "dedupe_key")
TAKEN_ON = {"accepted", "forwarded", "in_progress", "resolved", "closed"}
# The forwarding backlog: reports accepted in the last two days and not yet forwarded, and a few older ones
# stuck (the case system refused them); every other delivery is done.
WAITING = ["pending", "retrying", "retrying", "failed", "working"]
STUCK_SHARE = 0.002
REWARDED_SHARE = 0.05  # a campaign's budget pays for a small share of the reports


def load_reports(count: int) -> None:
    """A year of reports with their closing events, forwarding records and a year-long rewards campaign."""
    from citizen import services as citizen_services
    from citizen.models import Resident
    from core.crypto import encrypt
    from core.db import db

    seats = citizen_services.district_seats()
    categories = list(db.session.scalars(sa.text("SELECT id FROM categories WHERE is_active")))
    now = dt.datetime.now(dt.timezone.utc)
    residents = 2000
    bulk_insert("residents", ("id", "openid", "openid_digest", "is_blocked", "created_at", "updated_at"),
                [(number, encrypt(f"bench-resident-{number}"), Resident.digest("openid", f"bench-resident-{number}"),
                  False, now, now) for number in range(1, residents + 1)])
    shanghai = dt.timezone(dt.timedelta(hours=8))
    db.session.execute(sa.text(
        "INSERT INTO reward_campaigns (id, name, description, starts_on, ends_on, budget_fen, default_amount_fen, "
        "amounts, eligible_categories, eligible_districts, daily_cap_fen, monthly_cap_fen, earn_on, is_active, "
        "created_at, updated_at) VALUES (1, '有奖随手拍', '', :starts, :ends, 60000000, 1000, '{}', '[]', '[]', 5000, "
        "50000, 'accepted', true, :now, :now)"),
        {"starts": (now - dt.timedelta(days=366)).astimezone(shanghai).date(),
         "ends": (now + dt.timedelta(days=30)).astimezone(shanghai).date(), "now": now})
    rng = random.Random(9)
    # Hot spots: a few hundred busy corners, and everything else scattered around the district seats.
    corners = [(name, lat + rng.gauss(0, 0.03), lng + rng.gauss(0, 0.03))
               for name, lat, lng in seats for _ in range(30)]
    started = time.perf_counter()
    reports, events, deliveries, rewards, ledger = [], [], [], [], []
    loaded = collections.Counter()

    def flush() -> None:
        for table, columns, rows in (("reports", REPORT_COLUMNS, reports), ("report_events", EVENT_COLUMNS, events),
                                     ("case_deliveries", DELIVERY_COLUMNS, deliveries),
                                     ("rewards", REWARD_COLUMNS, rewards), ("reward_ledger", LEDGER_COLUMNS, ledger)):
            if rows:
                bulk_insert(table, columns, rows)
                loaded[table] += len(rows)
            rows.clear()
        db.session.commit()

    for number in range(1, count + 1):
        district, lat, lng = rng.choice(corners) if rng.random() < 0.3 else rng.choice(seats)
        spread = 0.002 if rng.random() < 0.3 else 0.04
        created = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(STATUSES)
        if status == "accepted" and now - created > dt.timedelta(days=2):
            status = "forwarded"
        resident = rng.randrange(1, residents + 1)
        closed = created + dt.timedelta(hours=rng.lognormvariate(3.5, 0.9)) if status == "closed" else None
        if closed is not None and closed > now:
            closed = now
        rated = closed is not None and rng.random() < 0.5
        reports.append((number, resident, rng.choice(categories), "基准反映", lat + rng.gauss(0, spread),
                        lng + rng.gauss(0, spread), "青岛市", district, status, f"bench-{number}", "bench", "[]", "{}",
                        rng.choice([5, 5, 4, 4, 3, 2, 1]) if rated else None,
                        closed + dt.timedelta(hours=6) if rated else None, 1, created, created))
        if closed is not None:
            events.append((number, closed, "resolved", "closed", "staff", "结案"))
        if status in TAKEN_ON:
            accepted = created + dt.timedelta(minutes=rng.randrange(10, 600))
            if status == "accepted" and now - accepted < dt.timedelta(days=2) or rng.random() < STUCK_SHARE:
                deliveries.append((number, "desk", rng.choice(WAITING), 1, accepted, None, None, accepted, accepted))
            else:
                delivered = accepted + dt.timedelta(seconds=rng.randrange(1, 300))
                deliveries.append((number, "desk", "done", 1, accepted, delivered, None, accepted, delivered))
            if rng.random() < REWARDED_SHARE:
                amount = rng.choice([500, 1000, 1000, 2000])
                earned_on = accepted.astimezone(shanghai).date()
                paid = accepted + dt.timedelta(hours=rng.randrange(2, 72))
                state = "paid" if paid < now else "approved"
                rewards.append((number, 1, number, resident, amount, state, "[]", earned_on, accepted, accepted))
                steps = [("granted", accepted), ("approved", accepted + dt.timedelta(hours=1))]
                if state == "paid":
                    steps += [("payout_requested", accepted + dt.timedelta(hours=1, minutes=1)), ("paid", paid)]
                ledger.extend((moment, number, 1, resident, kind, amount, earned_on, "bench", "", f"{kind}-{number}")
                              for kind, moment in steps)
        if len(reports) == 50_000:
            flush()
    flush()
    print(f"  loaded in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{rows:,} {table}" for table, rows in loaded.items()), flush=True)


def raw_scan(period) -> dict[str, object]:  # noqa: ANN001
    """The reference: the month's headline figures straight from the report rows, no counters."""
    from citizen.models import Report, ReportEvent
    from core.db import db

    start, end = period.bounds
    in_period = sa.and_(Report.created_at >= start, Report.created_at < end)
    figures: dict[str, object] = {}
    for name, column in (("status", Report.status), ("category", Report.category_id), ("district", Report.district),
                         ("day", sa.func.date(Report.created_at))):
        counts = sa.select(column, sa.func.count()).where(in_period).group_by(column)
        figures[name] = dict(db.session.execute(counts).all())
    closed = sa.select(ReportEvent.occurred_at, Report.created_at, Report.district).join(
        Report, Report.id == ReportEvent.report_id).where(
            ReportEvent.to_status == "closed", ReportEvent.occurred_at >= start, ReportEvent.occurred_at < end)
    durations = sorted((closed_at - created_at).total_seconds()
                       for closed_at, created_at, _ in db.session.execute(closed))
    figures["median_close_s"] = durations[len(durations) // 2] if durations else None
    figures["ratings"] = dict(db.session.execute(sa.select(Report.rating, sa.func.count()).where(
        Report.rated_at >= start, Report.rated_at < end).group_by(Report.rating)).all())
    row, col = sa.func.round(Report.lat * 222), sa.func.round(Report.lng * 180)
    figures["cells"] = len(list(db.session.execute(sa.select(row, col, sa.func.count()).where(in_period)
                                                   .group_by(row, col))))
    return figures


def rows_read(period) -> dict[str, int]:  # noqa: ANN001
    """How many rollup rows each day rollup holds for the period: what the period's figures read."""
    from core.db import db
    from insight.models import ROLLUPS

    return {rollup.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(rollup).where(
        rollup.day.between(period.first, period.last))) for rollup in ROLLUPS if hasattr(rollup, "day")}


def bench(name: str, env: dict[str, str], args: argparse.Namespace) -> None:
    from flask_migrate import upgrade

    from citizen.settings import CitizenSettings
    from core import services as core_services
    from core.app import create_app
    from core.db import db
    from core.models import StaffAccount
    from insight import report as report_pages
    from insight import services
    from insight.settings import InsightSettings

    print(f"\n== {name}: {args.reports:,} reports over 365 days", flush=True)
    app = create_app(Config.from_env(env))
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    service_area = app.config["APP_SETTINGS"].area(CitizenSettings).service_area
    with app.app_context():
        upgrade()
        if not db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == VIEWER[0])):
            core_services.create_staff(core_services.SYSTEM_ACTOR, username=VIEWER[0], display_name="bench",
                                       password=VIEWER[1], roles=["moderator"])
            db.session.commit()
        if db.session.scalar(sa.text("SELECT count(*) FROM reports")):
            print("  reusing the reports already loaded (--keep)", flush=True)
        else:
            load_reports(args.reports)
        if args.keep and db.session.scalar(sa.text("SELECT count(*) FROM insight_report_facts")):
            print("  reusing their counts (--keep)", flush=True)
        else:
            started = time.perf_counter()
            services.rebuild(settings)
            db.session.commit()
            print(f"  counted them (flask insight rebuild) in {time.perf_counter() - started:.1f} s", flush=True)
        if db.engine.dialect.name == "postgresql":
            # Statistics and the visibility map (index-only scans) for this schema's tables, as autovacuum would.
            tables = list(db.session.scalars(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                for table in tables:
                    connection.execute(sa.text(f'VACUUM ANALYZE "{table}"'))

        month = services.last_whole_month()
        read = rows_read(services.last_days(30))
        print("  rollup rows in the last 30 days: " + ", ".join(f"{table} {rows:,}" for table, rows in read.items())
              + " (the hot-spot map reads insight_cell_days;"
              " a category's map, its share of insight_cell_category_days)", flush=True)
        figures_ms = median_ms(lambda: services.dashboard(settings), args.runs)
        monthly_ms = median_ms(lambda: services.monthly_report(month, settings), args.runs)
        report = services.monthly_report(month, settings)
        districts = settings.insight_districts_geojson
        html_ms = median_ms(lambda: report_pages.render_monthly_html(report, service_area, districts), args.runs)
        reference_ms = median_ms(lambda: raw_scan(month), args.runs)
        pdf_ms = None
        if args.pdf:
            html = report_pages.render_monthly_html(report, service_area, districts)
            pdf_ms = median_ms(lambda: report_pages.print_pdf(html, settings.insight_chromium), 1)

    client = app.test_client()
    login_page = client.get("/admin/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/admin/login", data={"username": VIEWER[0], "password": VIEWER[1], "csrf_token": token})
    page_ms = median_ms(lambda: client.get("/admin/insight"), args.runs)

    total_monthly = monthly_ms + html_ms + (pdf_ms or 0)
    print(f"  dashboard figures      {figures_ms:8.1f} ms   (today + 30 days + hot spots)")
    print(f"  dashboard page         {page_ms:8.1f} ms   target < 300 ms: {'met' if page_ms < 300 else 'NOT met'}")
    print(f"  monthly figures        {monthly_ms:8.1f} ms   (month + previous month + hot spots + ranking)")
    print(f"  monthly HTML           {html_ms:8.1f} ms")
    if pdf_ms is not None:
        print(f"  monthly PDF (Chromium) {pdf_ms:8.1f} ms")
    print(f"  monthly report total   {total_monthly:8.1f} ms"
          f"   target < 10 s: {'met' if total_monthly < 10_000 else 'NOT met'}")
    print(f"  reference: raw scan of one month's headline figures {reference_ms:8.1f} ms")
    print(f"  ratio dashboard figures / raw scan {figures_ms / reference_ms:.3f};"
          f" monthly figures / raw scan {monthly_ms / reference_ms:.3f} (below 1: faster than scanning)")
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-pdf", dest="pdf", action="store_false", help="skip printing the PDF with Chromium")
    parser.add_argument("--keep", action="store_true",
                        help="PostgreSQL: keep the bench schema afterwards, and reuse the reports and counts it holds")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-insight-"))
    base_env = {"SECRET_KEY": BENCH_SECRET, "MEDIA_ROOT": str(workdir / "media"), "LOG_LEVEL": "WARNING",
                "REDIS_URL": ""}
    try:
        if args.database in ("sqlite", "both"):
            bench("embedded default (SQLite)", {**base_env, "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}"}, args)
        if args.database in ("postgres", "both"):
            url = Config.from_env({"DATABASE_URL": os.environ.get(
                "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")}).database_url
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                if not args.keep:
                    connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            try:
                bench("PostgreSQL", {**base_env, "DATABASE_URL": f"{url}?options=-csearch_path%3D{SCHEMA}"}, args)
            finally:
                if not args.keep:
                    with engine.begin() as connection:
                        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
