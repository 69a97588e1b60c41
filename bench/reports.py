"""Report submission benchmark: submissions per second against gunicorn, next to a plain insert.

    .venv/bin/python bench/reports.py                      # both databases, 1 million existing reports
    .venv/bin/python bench/reports.py --database sqlite --existing 100000 --seconds 10

For each database (the embedded SQLite default, and PostgreSQL at BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test, in a schema of its own) it:
1. migrates an empty database and loads ``--existing`` reports spread over the city and 90 days
   (COPY on PostgreSQL, executemany on SQLite, the report indexes built after the load);
2. serves the app with gunicorn (jobs inline; duplicate detection runs inside each submission anyway);
3. runs ``--clients`` concurrent clients, alternating in rounds between the reference endpoint of the
   same app — one plain INSERT and commit, added only here —, ``GET /api/v1/me`` (the cheapest signed-in
   resident request, for scale) and ``POST /api/v1/reports``, each submission with a photo of its own;
4. times the moderation queue's first page (``GET /admin/reports``) as a signed-in moderator.

It prints requests per second, p50/p99 latency, the ratio of submission to reference throughput
(target ≥ 0.5), and the queue's p95 (target < 50 ms); with both databases, last, the submissions' p99 on
each and their ratio (target: SQLite's ≤ 2× PostgreSQL's).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import io
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from core.config import Config  # noqa: E402
from tests.common.stack import Gunicorn, percentile  # noqa: E402

QINGDAO_CENTRE = (36.0671, 120.3826)
MODERATOR = ("bench_moderator", "bench-moderator-password")
BENCH_SECRET = "bench-secret-key-0123456789-0123456789-abcdef"


def reference_app(config: Config | None = None):  # noqa: ANN201
    """The app as served, plus the reference route: one plain insert and commit."""
    from flask import jsonify

    from core import services
    from core.app import create_app
    from core.db import db

    app = create_app(config)

    @app.post("/bench/plain-insert")
    def plain_insert():  # noqa: ANN202
        services.record_audit(services.SYSTEM_ACTOR, "bench.insert", "bench")
        db.session.commit()
        return jsonify({"ok": True}), 201

    return app


def photo_bytes(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (800, 600), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = rng.randrange(800), rng.randrange(600)
        draw.rectangle((x, y, x + 200, y + 150), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def prepare_database(env: dict[str, str], existing: int,
                     spread: Callable[..., Iterator[tuple[object, ...]]] | None = None) -> None:
    """Migrate, then load existing reports in bulk (they are the table a new report lands in), as rows of
    REPORT_COLUMNS from ``spread`` (default _existing_reports, whose arguments it takes).

    The report indexes are dropped for the load and built afterwards; PostgreSQL loads with COPY,
    its triggers off (session_replication_role), and the per-status totals (whose rows the migrations
    create) are then counted once.
    """
    from flask_migrate import upgrade

    from citizen.models import Report, Resident
    from core import services
    from core.app import create_app
    from core.crypto import encrypt
    from core.db import db

    app = create_app(Config.from_env(env))
    with app.app_context():
        upgrade()
        services.create_staff(services.SYSTEM_ACTOR, username=MODERATOR[0], display_name="bench",
                              password=MODERATOR[1], roles=["moderator"])
        db.session.commit()
        categories = list(db.session.scalars(sa.text("SELECT id FROM categories WHERE is_active")))
        residents = 2000
        db.session.execute(sa.text("INSERT INTO residents (openid, openid_digest, is_blocked, created_at, updated_at) "
                                   "VALUES (:openid, :digest, false, :now, :now)"),
                           [{"openid": encrypt(openid), "digest": Resident.digest("openid", openid),
                             "now": dt.datetime.now(dt.timezone.utc)}
                            for openid in (f"bench-existing-{n}" for n in range(residents))])
        db.session.commit()
        first_resident = db.session.scalar(sa.text("SELECT min(id) FROM residents"))
        postgres = db.engine.dialect.name == "postgresql"
        started = time.perf_counter()
        indexes = list(Report.__table__.indexes)
        for index in indexes:
            index.drop(db.session.connection())
        db.session.commit()
        rows = (spread or _existing_reports)(existing, categories, first_resident, residents, postgres)
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if postgres:
                cursor.execute("SET session_replication_role = replica")
                with cursor.copy(f"COPY reports ({', '.join(REPORT_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute("SET session_replication_role = DEFAULT")
                cursor.execute(status_totals_recount())
            else:
                cursor.execute("BEGIN")
                cursor.executemany(f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) VALUES "
                                   f"({', '.join('?' * len(REPORT_COLUMNS))})", rows)
            connection.commit()
        finally:
            connection.close()
        loaded = time.perf_counter() - started
        for index in indexes:
            index.create(db.session.connection())
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        print(f"  loaded {existing:,} existing reports in {loaded:.1f} s, indexed in "
              f"{time.perf_counter() - started - loaded:.1f} s", flush=True)
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def status_totals_recount() -> str:
    """The statement counting the per-status totals (``report_status_counts``) again from the reports, after a
    PostgreSQL load with the triggers that keep them off."""
    from citizen.models import ReportStatusCount

    return (f"INSERT INTO report_status_counts (status, shard, total) SELECT status, id % {ReportStatusCount.SHARDS}, "
            f"count(*) FROM reports GROUP BY 1, 2 ON CONFLICT (status, shard) DO UPDATE SET total = excluded.total")


REPORT_COLUMNS = ("resident_id", "category_id", "description", "lat", "lng", "address", "district", "status",
                  "idempotency_key", "request_fingerprint", "flags", "checks", "version", "created_at", "updated_at")


def _existing_reports(count: int, categories: list[str], first_resident: int, residents: int,
                      postgres: bool) -> Iterator[tuple[object, ...]]:
    """Reports spread over the city and the last 90 days, as rows of REPORT_COLUMNS."""
    rng = random.Random(7)
    statuses = ["pending_review"] * 2 + ["accepted", "forwarded", "in_progress", "resolved", "closed"] * 3 + [
        "rejected", "duplicate"]
    now = dt.datetime.now(dt.timezone.utc)
    for n in range(count):
        created = now - dt.timedelta(seconds=rng.randrange(90 * 86400))
        # SQLite stores what SQLAlchemy's DateTime writes: UTC, without an offset.
        stamp = created if postgres else created.strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (first_resident + rng.randrange(residents), rng.choice(categories), "既有反映",
               QINGDAO_CENTRE[0] + rng.uniform(-0.25, 0.25), QINGDAO_CENTRE[1] + rng.uniform(-0.3, 0.3), "青岛市",
               "市南区", rng.choice(statuses), f"seed-{n}", "seed", "[]", "{}", 1, stamp, stamp)


class Client:
    """One mini-program user: a signed-in resident with one uploaded photo, and copies of it to report with."""

    def __init__(self, url: str, number: int) -> None:
        self.url = url
        self.session = requests.Session()
        signed_in = self.session.post(f"{url}/api/v1/auth/dev", json={"openid": f"bench-client-{number}"},
                                      timeout=30).json()
        self.resident_id = signed_in["resident"]["id"]
        self.session.headers["Authorization"] = f"Bearer {signed_in['token']}"
        upload = self.session.post(f"{url}/api/v1/media", timeout=60,
                                   files={"file": ("photo.jpg", photo_bytes(number), "image/jpeg")})
        self.uploaded_photo_id = upload.json()["id"]
        self.photo_ids: list[int] = []
        self.rng = random.Random(number)

    def submit(self) -> int:
        lat = QINGDAO_CENTRE[0] + self.rng.uniform(-0.2, 0.2)
        lng = QINGDAO_CENTRE[1] + self.rng.uniform(-0.2, 0.2)
        # A photo attaches to one report only, as each report in the mini-program takes its own pictures.
        body = {"category_code": "S0102", "description": "路边有暴露垃圾", "address": "青岛市市南区",
                "location": {"lat": lat, "lng": lng, "coord_type": "wgs84"}, "media_ids": [self.photo_ids.pop()]}
        return self.session.post(f"{self.url}/api/v1/reports", json=body, timeout=30,
                                 headers={"Idempotency-Key": uuid.uuid4().hex}).status_code

    def plain_insert(self) -> int:
        return self.session.post(f"{self.url}/bench/plain-insert", timeout=30).status_code

    def profile(self) -> int:
        return self.session.get(f"{self.url}/api/v1/me", timeout=30).status_code


def provision_photos(env: dict[str, str], clients: list[Client], per_client: int) -> None:
    """Give each client ``per_client`` photos of its own, as rows copied from the photo it uploaded with
    other bytes' hashes (uploading and processing that many through the API would take longer than the run)."""
    for client in clients:
        client.photo_ids = provision_photos_for(env, client.uploaded_photo_id, per_client)


def provision_photos_for(env: dict[str, str], uploaded_photo_id: int, count: int) -> list[int]:
    """The ids of ``count`` copies of an uploaded photo's row, each with other bytes' hashes."""
    from core.app import create_app
    from core.db import db
    from media.models import Media

    app = create_app(Config.from_env(env))
    rng = random.Random(11 + uploaded_photo_id)
    with app.app_context():
        table = Media.__table__
        uploaded = db.session.execute(sa.select(table).where(table.c.id == uploaded_photo_id)).mappings().one()
        copies = [{**{key: value for key, value in uploaded.items() if key != "id"},
                   "sha256": rng.randbytes(32).hex(), "perceptual_hash": rng.randbytes(8).hex()}
                  for _ in range(count)]
        photo_ids = list(db.session.scalars(sa.insert(table).returning(table.c.id), copies))
        db.session.commit()
        for engine in db.engines.values():
            engine.dispose()
    return photo_ids


# (client method, expected status, label). GET /api/v1/me is the cheapest signed-in resident request (the token,
# the resident's row, a marshmallow answer): the floor under every resident endpoint, shown for scale.
OPERATIONS = (("plain_insert", 201, "reference: plain insert"), ("profile", 200, "GET /api/v1/me"),
              ("submit", 201, "POST /api/v1/reports"))


def run_round(clients: list[Client], operation: str, seconds: float, expected: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(client: Client) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = getattr(client, operation)()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += status != expected

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(loop, clients))
    return latencies, errors


def queue_page_times(url: str, repeats: int = 60) -> tuple[list[float], list[float]]:
    """The queue's first page, and in turn with it the health check (the same server's cheapest page)."""
    session = requests.Session()
    login_page = session.get(f"{url}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    session.post(f"{url}/admin/login", data={"username": MODERATOR[0], "password": MODERATOR[1], "csrf_token": token},
                 timeout=30)
    session.get(f"{url}/admin/reports", timeout=30)
    times: list[float] = []
    reference: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = session.get(f"{url}/admin/reports", timeout=30)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200 and "反映审核" in response.text
        started = time.perf_counter()
        assert session.get(f"{url}/healthz", timeout=30).status_code == 200
        reference.append(time.perf_counter() - started)
    return times, reference


def bench(name: str, env: dict[str, str], args: argparse.Namespace) -> float:
    """Runs the rounds on one database and prints its figures; returns the submissions' p99 in seconds."""
    print(f"\n== {name} ==  (load average {' '.join(f'{value:.1f}' for value in os.getloadavg())})", flush=True)
    prepare_database(env, args.existing)
    server = Gunicorn(env, workers=args.workers, app_spec="reports:reference_app()",
                      python_path=(ROOT / "bench", ROOT))
    try:
        clients = [Client(server.url, n) for n in range(args.clients)]
        provision_photos(env, clients, args.photos_per_client)
        results = {operation: ([], 0, 0.0) for operation, _, _ in OPERATIONS}
        for _ in range(args.rounds):
            for operation, expected, _ in OPERATIONS:
                latencies, errors = run_round(clients, operation, args.seconds / args.rounds, expected)
                previous = results[operation]
                results[operation] = (previous[0] + latencies, previous[1] + errors,
                                      previous[2] + args.seconds / args.rounds)
        queue, healthz = queue_page_times(server.url)
    finally:
        server.stop()
    rates = {}
    print(f"  {'request':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for operation, _, label in OPERATIONS:
        latencies, errors, seconds = results[operation]
        rates[operation] = len(latencies) / seconds
        print(f"  {label:<28}{rates[operation]:>9.1f}{statistics.median(latencies) * 1000:>9.1f}"
              f"{percentile(latencies, 0.99) * 1000:>9.1f}{errors:>8}")
    print(f"  submission / reference throughput: {rates['submit'] / rates['plain_insert']:.2f}  (target ≥ 0.50); "
          f"a signed-in resident's bare read / reference: {rates['profile'] / rates['plain_insert']:.2f}")
    print(f"  moderation queue first page: p50 {statistics.median(queue) * 1000:.1f} ms, "
          f"p95 {percentile(queue, 0.95) * 1000:.1f} ms  (target p95 < 50 ms); in turn with it GET /healthz: "
          f"p50 {statistics.median(healthz) * 1000:.1f} ms, p95 {percentile(healthz, 0.95) * 1000:.1f} ms")
    print(f"  load average at the end: {' '.join(f'{value:.1f}' for value in os.getloadavg())}", flush=True)
    return percentile(results["submit"][0], 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per operation, split over the rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--photos-per-client", type=int, default=1_000,
                        help="each submission takes a photo of its own; a client that runs out fails the run")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    submission_p99 = {}
    try:
        for name, kind in (("embedded default (SQLite)", "sqlite"), ("PostgreSQL", "postgres")):
            if args.database in (kind, "both"):
                with database(kind, workdir) as database_url:
                    submission_p99[kind] = bench(name, {**base_env(workdir), "DATABASE_URL": database_url}, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if len(submission_p99) == 2:
        sqlite, postgres = submission_p99["sqlite"], submission_p99["postgres"]
        print(f"\nPOST /api/v1/reports p99: SQLite {sqlite * 1000:.1f} ms, PostgreSQL {postgres * 1000:.1f} ms, "
              f"ratio {sqlite / postgres:.2f}  (target ≤ 2.00)")


def base_env(workdir: Path) -> dict[str, str]:
    """The app's settings for a run: media in ``workdir``, the dev sign-in, limits out of the way, jobs inline."""
    return {"SECRET_KEY": BENCH_SECRET, "MEDIA_ROOT": str(workdir / "media"), "DEV_LOGIN": "1",
            "REPORTS_PER_RESIDENT_PER_HOUR": "100000000", "REPORTS_PER_IP_PER_HOUR": "100000000",
            "LOG_LEVEL": "WARNING", "REDIS_URL": ""}


@contextlib.contextmanager
def database(kind: str, workdir: Path, schema: str = "bench_reports") -> Iterator[str]:
    """The URL of an empty database: an SQLite file in ``workdir``, or a schema of its own (``schema``, dropped after)
    in the PostgreSQL database at BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    url = Config.from_env({"DATABASE_URL": os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")}).database_url
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()

if __name__ == "__main__":
    main()
