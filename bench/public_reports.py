"""Public reports map benchmark: GET /api/v1/reports/public over HTTP with a million reports in PostgreSQL.

    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/public_reports.py
    .venv/bin/python bench/public_reports.py --existing 100000 --requests 100

With BENCH_REDIS_URL the answer cache is in that Redis, as in production (else in each gunicorn process).
It loads ``--existing`` reports (COPY, in a schema of its own of the database at BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test) spread over Qingdao's ten districts as residents report: most in the
urban districts around their seats, fewer in the county-level cities, over the last 180 days, in the lifecycle's
statuses; counts the map cells once (the load bypasses the triggers) and vacuums; serves the app with gunicorn, and has
``--clients`` concurrent clients ask, each from a window of its own drawn at random:

- the city-wide view (the whole city, about 1.6° across: clusters, from the map cells);
- a district-level view (about 0.1° across near a district's seat: clusters, from the map cells);
- a street-level view (about 1 km around a point where reports are: the reports themselves, first page of 50);
- the city-wide view of one category in the last 30 days (clusters counted from the reports).

Each view is measured with the answer cache off (every answer computed: the worst case) and on (clients asking
a few windows each, as a city's residents opening the map do), next to two references measured in the same run:
``GET /healthz`` (the app's bare endpoint) and a plain indexed SELECT of one report by id through the same app.
It prints p50/p95 per view, and the ratio of each p95 to the plain SELECT's (target: p95 < 50 ms).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402

from citizen.facts import district_seats  # noqa: E402
from core.config import Config  # noqa: E402
from reports import base_env, database, prepare_database  # noqa: E402
from tests.common.stack import Gunicorn, percentile  # noqa: E402

# Share of reports by district (the urban districts report most), and how far they spread around the seat (°).
DISTRICT_WEIGHTS = {"市南区": 16, "市北区": 18, "李沧区": 11, "崂山区": 9, "黄岛区": 15, "城阳区": 10, "即墨区": 7,
                    "胶州市": 6, "平度市": 4, "莱西市": 4}
DISTRICT_SPREAD_DEG = {"市南区": 0.02, "市北区": 0.025, "李沧区": 0.025, "崂山区": 0.05, "黄岛区": 0.08, "城阳区": 0.05,
                       "即墨区": 0.06, "胶州市": 0.06, "平度市": 0.08, "莱西市": 0.07}
STATUS_WEIGHTS = {"pending_review": 3, "accepted": 4, "forwarded": 10, "in_progress": 14, "resolved": 12,
                  "closed": 45, "rejected": 8, "duplicate": 3, "withdrawn": 1}
CITY = {"south": 35.55, "west": 119.45, "north": 37.15, "east": 121.05}
VIEWS = ("city-wide", "district", "street", "city-wide, one category, 30 days")


def reference_app(config: Config | None = None):  # noqa: ANN201
    """The app as served, plus the reference route: one report's id and status by its id (the primary key)."""
    import sqlalchemy as sa
    from flask import jsonify

    from core.app import create_app
    from core.db import db

    app = create_app(config)

    @app.get("/bench/plain-select/<int:report_id>")
    def plain_select(report_id: int):  # noqa: ANN202
        row = db.session.execute(sa.text("SELECT id, status FROM reports WHERE id = :id"), {"id": report_id}).one()
        return jsonify({"id": row.id, "status": row.status})

    return app


def spread_over_districts(count: int, categories: list[str], first_resident: int, residents: int,
                          postgres: bool) -> Iterator[tuple[object, ...]]:
    """Reports as rows of bench/reports.py's REPORT_COLUMNS, spread over the districts and the last 180 days."""
    rng = random.Random(21)
    seats = {name: (lat, lng) for name, lat, lng in district_seats()}
    districts, weights = list(DISTRICT_WEIGHTS), list(DISTRICT_WEIGHTS.values())
    statuses, status_weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    # A few categories are most of the reports (litter, parking, roads), as everywhere.
    category_weights = [1 / (rank + 1) for rank in range(len(categories))]
    now = dt.datetime.now(dt.timezone.utc)
    for n in range(count):
        district = rng.choices(districts, weights)[0]
        lat, lng = seats[district]
        sigma = DISTRICT_SPREAD_DEG[district]
        created = now - dt.timedelta(seconds=rng.randrange(180 * 86400))
        stamp = created if postgres else created.strftime("%Y-%m-%d %H:%M:%S.%f")
        category = rng.choices(categories, category_weights)[0]
        yield (first_resident + rng.randrange(residents), category, "路边有暴露垃圾",
               rng.gauss(lat, sigma), rng.gauss(lng, sigma * 1.2), "青岛市", district,
               rng.choices(statuses, status_weights)[0], f"seed-{n}", "seed", "[]", "{}", 1, stamp, stamp)


def count_map_cells(env: dict[str, str]) -> None:
    import sqlalchemy as sa

    from citizen import services
    from core.app import create_app
    from core.db import db

    app = create_app(Config.from_env(env))
    with app.app_context():
        started = time.perf_counter()
        rows = services.rebuild_map_cells()
        db.session.commit()
        print(f"  counted {rows:,} map cells in {time.perf_counter() - started:.1f} s", flush=True)
        # As autovacuum would in a while: the visibility map lets the map's indexes answer alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE reports"))
            connection.execute(sa.text("VACUUM ANALYZE report_map_cells"))
        for engine in db.engines.values():
            engine.dispose()


def windows(view: str, rng: random.Random) -> dict[str, object]:
    """A window of ``view`` drawn at random (WGS-84), with its other arguments."""
    _, lat, lng = rng.choice(district_seats())
    if view == "city-wide":
        return {**CITY}
    if view == "district":
        lat, lng = lat + rng.uniform(-0.02, 0.02), lng + rng.uniform(-0.02, 0.02)
        return {"south": lat - 0.045, "west": lng - 0.055, "north": lat + 0.045, "east": lng + 0.055}
    if view == "street":
        lat, lng = lat + rng.gauss(0, 0.01), lng + rng.gauss(0, 0.01)
        return {"south": lat - 0.0045, "west": lng - 0.0055, "north": lat + 0.0045, "east": lng + 0.0055}
    since = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    return {**CITY, "category": rng.choice(["S0102", "S0101", "B0301"]), "since": since}


def run(url: str, clients: int, requests_each: int, ask: Callable[[requests.Session, random.Random], int]
        ) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(number: int) -> None:
        nonlocal errors
        session, rng = requests.Session(), random.Random(number)
        for _ in range(requests_each):
            started = time.perf_counter()
            ok = ask(session, rng)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies, errors


def measure(url: str, args: argparse.Namespace, max_id: int, *, windows_per_client: int | None
            ) -> dict[str, tuple[list[float], int]]:
    """Each view and the references, in rounds (so that a slow moment of the machine falls on all alike)."""
    each = max(1, args.requests // args.clients // args.rounds)
    results: dict[str, tuple[list[float], int]] = {}

    def record(name: str, outcome: tuple[list[float], int]) -> None:
        latencies, errors = results.get(name, ([], 0))
        results[name] = (latencies + outcome[0], errors + outcome[1])

    def view_asker(view: str) -> Callable[[requests.Session, random.Random], int]:
        def ask(session: requests.Session, rng: random.Random) -> int:
            # With the cache on, each client keeps to a few windows (residents opening the map where they are).
            chooser = random.Random(rng.randrange(windows_per_client)) if windows_per_client else rng
            params = {**windows(view, chooser), "coord_type": "wgs84"}
            response = session.get(f"{url}/api/v1/reports/public", params=params, timeout=30)
            return response.status_code == 200 and "mode" in response.json()
        return ask

    for _ in range(args.rounds):
        record("GET /healthz", run(url, args.clients, each, lambda session, rng: session.get(
            f"{url}/healthz", timeout=30).status_code == 200))
        record("plain indexed SELECT", run(url, args.clients, each, lambda session, rng: session.get(
            f"{url}/bench/plain-select/{rng.randrange(1, max_id)}", timeout=30).status_code == 200))
        for view in VIEWS:
            record(view, run(url, args.clients, each, view_asker(view)))
    return results


def report(title: str, results: dict[str, tuple[list[float], int]]) -> None:
    print(f"\n  {title}")
    reference = percentile(results["plain indexed SELECT"][0], 0.95)
    print(f"  {'request':<36}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p95 / SELECT':>14}{'errors':>8}")
    for name, (latencies, errors) in results.items():
        p95 = percentile(latencies, 0.95)
        print(f"  {name:<36}{len(latencies):>6}{statistics.median(latencies) * 1000:>9.1f}{p95 * 1000:>9.1f}"
              f"{p95 / reference:>14.2f}{errors:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400, help="per view and mode, over all clients and rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-public-reports-"))
    try:
        with database("postgres", workdir, schema="bench_public_reports") as database_url:
            env = {**base_env(workdir), "DATABASE_URL": database_url, "RATE_LIMIT_PUBLIC_REPORTS": "0/60",
                   # The answer cache in Redis, as in production (else in each gunicorn process).
                   "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "")}
            print(f"== PostgreSQL, {args.existing:,} reports ==  (load average "
                  f"{' '.join(f'{value:.1f}' for value in os.getloadavg())})", flush=True)
            prepare_database(env, args.existing, spread_over_districts)
            count_map_cells(env)
            for title, cache_seconds, windows_per_client in (
                    ("answer cache off: every answer computed", "0", None),
                    ("answer cache on (30 s), the clients asking from 3 windows per view", "30", 3)):
                server = Gunicorn({**env, "PUBLIC_REPORTS_CACHE_SECONDS": cache_seconds}, workers=args.workers,
                                  app_spec="public_reports:reference_app()", python_path=(ROOT / "bench", ROOT))
                try:
                    results = measure(server.url, args, args.existing, windows_per_client=windows_per_client)
                finally:
                    server.stop()
                report(title, results)
            print(f"\n  load average at the end: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
