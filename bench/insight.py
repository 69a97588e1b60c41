"""Insight benchmark: the dashboard and the monthly report over a year of reports, next to a raw scan.

    .venv/bin/python bench/insight.py                                   # PostgreSQL, 1 million reports
    .venv/bin/python bench/insight.py --database sqlite --reports 200000 --no-pdf

For each database (PostgreSQL at BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test,
in a schema of its own; or the embedded SQLite default) it:
1. migrates an empty database and loads ``--reports`` reports spread over the last 365 days, clustered
   around the district seats, with closing events and ratings;
2. counts them once with ``insight.services.rebuild`` (what ``flask insight rebuild`` does);
3. times the dashboard's figures (``insight.services.dashboard``) and the whole page as a signed-in
   moderator, and the last full month's report: its figures, its HTML, and its PDF;
4. times the reference: the same month's headline figures straight from the raw report rows
   (GROUP BYs over ``reports`` and ``report_events``), as a dashboard without counters would.

It prints medians, the targets (dashboard < 300 ms, monthly report < 10 s), and each figure's
ratio to the raw scan.
"""

from __future__ import annotations

import argparse
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


def load_reports(count: int) -> None:
    """A year of reports in bulk, through plain INSERTs (the bench seeds; the app never writes like this)."""
    from citizen import services as citizen_services
    from core.db import db

    seats = citizen_services.district_seats()
    categories = list(db.session.scalars(sa.text("SELECT id FROM categories WHERE is_active")))
    now = dt.datetime.now(dt.timezone.utc)
    db.session.execute(sa.text("INSERT INTO residents (id, openid, is_blocked, created_at, updated_at) "
                               "VALUES (1, 'bench-resident', false, :now, :now)"), {"now": now})
    rng = random.Random(9)
    # Hot spots: a few hundred busy corners, and everything else scattered around the district seats.
    corners = [(name, lat + rng.gauss(0, 0.03), lng + rng.gauss(0, 0.03)) for name, lat, lng in seats for _ in range(30)]
    report_sql = sa.text(
        "INSERT INTO reports (id, resident_id, category_id, description, lat, lng, address, district, status, "
        "idempotency_key, request_fingerprint, flags, checks, rating, rated_at, version, created_at, updated_at) "
        "VALUES (:id, 1, :category_id, '基准反映', :lat, :lng, '青岛市', :district, :status, :key, 'bench', '[]', '{}', "
        ":rating, :rated_at, 1, :created_at, :created_at)")
    event_sql = sa.text("INSERT INTO report_events (report_id, occurred_at, from_status, to_status, actor_kind, note) "
                        "VALUES (:report_id, :occurred_at, 'resolved', 'closed', 'staff', '结案')")
    started = time.perf_counter()
    reports, events = [], []
    for number in range(1, count + 1):
        district, lat, lng = rng.choice(corners) if rng.random() < 0.3 else rng.choice(seats)
        spread = 0.002 if rng.random() < 0.3 else 0.04
        created = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(STATUSES)
        closed = created + dt.timedelta(hours=rng.lognormvariate(3.5, 0.9)) if status == "closed" else None
        if closed is not None and closed > now:
            closed = now
        rated = closed is not None and rng.random() < 0.5
        reports.append({"id": number, "category_id": rng.choice(categories), "lat": lat + rng.gauss(0, spread),
                        "lng": lng + rng.gauss(0, spread), "district": district, "status": status,
                        "key": f"bench-{number}", "created_at": created,
                        "rating": rng.choice([5, 5, 4, 4, 3, 2, 1]) if rated else None,
                        "rated_at": closed + dt.timedelta(hours=6) if rated else None})
        if closed is not None:
            events.append({"report_id": number, "occurred_at": closed})
        if len(reports) == 20_000:
            db.session.execute(report_sql, reports)
            db.session.execute(event_sql, events)
            db.session.commit()
            reports.clear()
            events.clear()
    if reports:
        db.session.execute(report_sql, reports)
        db.session.execute(event_sql, events)
    db.session.commit()
    print(f"  loaded {count:,} reports in {time.perf_counter() - started:.1f} s", flush=True)


def raw_scan(period) -> dict[str, object]:  # noqa: ANN001
    """The reference: the month's headline figures straight from the report rows, no counters."""
    from citizen.models import Report, ReportEvent
    from core.db import db

    start, end = period.bounds
    in_period = sa.and_(Report.created_at >= start, Report.created_at < end)
    figures: dict[str, object] = {}
    for name, column in (("status", Report.status), ("category", Report.category_id), ("district", Report.district),
                         ("day", sa.func.date(Report.created_at))):
        figures[name] = dict(db.session.execute(sa.select(column, sa.func.count()).where(in_period).group_by(column)).all())
    closed = sa.select(ReportEvent.occurred_at, Report.created_at, Report.district).join(
        Report, Report.id == ReportEvent.report_id).where(ReportEvent.to_status == "closed",
                                                          ReportEvent.occurred_at >= start, ReportEvent.occurred_at < end)
    durations = sorted((closed_at - created_at).total_seconds() for closed_at, created_at, _ in db.session.execute(closed))
    figures["median_close_s"] = durations[len(durations) // 2] if durations else None
    figures["ratings"] = dict(db.session.execute(sa.select(Report.rating, sa.func.count()).where(
        Report.rated_at >= start, Report.rated_at < end).group_by(Report.rating)).all())
    row, col = sa.func.round(Report.lat * 222), sa.func.round(Report.lng * 180)
    figures["cells"] = len(list(db.session.execute(sa.select(row, col, sa.func.count()).where(in_period)
                                                   .group_by(row, col))))
    return figures


def bench(name: str, env: dict[str, str], args: argparse.Namespace) -> None:
    from flask_migrate import upgrade

    from core import services as core_services
    from core.app import create_app
    from core.db import db
    from insight import report as report_pages
    from insight import services

    print(f"\n== {name}: {args.reports:,} reports over 365 days", flush=True)
    app = create_app(Config.from_env(env))
    settings = app.config["APP_SETTINGS"]
    with app.app_context():
        upgrade()
        core_services.create_staff(core_services.SYSTEM_ACTOR, username=VIEWER[0], display_name="bench",
                                   password=VIEWER[1], roles=["moderator"])
        db.session.commit()
        load_reports(args.reports)
        started = time.perf_counter()
        services.rebuild(settings)
        print(f"  counted them (flask insight rebuild) in {time.perf_counter() - started:.1f} s", flush=True)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()

        month = services.previous_month(services.last_days(1))
        figures_ms = median_ms(lambda: services.dashboard(settings), args.runs)
        monthly_ms = median_ms(lambda: services.monthly_report(month, settings), args.runs)
        report = services.monthly_report(month, settings)
        html_ms = median_ms(lambda: report_pages.render_monthly_html(report, settings, embed_fonts=True), args.runs)
        reference_ms = median_ms(lambda: raw_scan(month), args.runs)
        pdf_ms = None
        if args.pdf:
            html = report_pages.render_monthly_html(report, settings, embed_fonts=True)
            pdf_ms = median_ms(lambda: report_pages.print_pdf(html, settings), 1)

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
    print(f"  monthly report total   {total_monthly:8.1f} ms   target < 10 s: {'met' if total_monthly < 10_000 else 'NOT met'}")
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
                connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
            try:
                bench("PostgreSQL", {**base_env, "DATABASE_URL": f"{url}?options=-csearch_path%3D{SCHEMA}"}, args)
            finally:
                with engine.begin() as connection:
                    connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
