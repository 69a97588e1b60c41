"""What one report submission costs, in-process, next to two references: where bench/reports.py's ratio comes from.

    .venv/bin/python bench/submission_cost.py                                   # SQLite, jobs inline
    .venv/bin/python bench/submission_cost.py --database postgres --redis redis://127.0.0.1:6379/5

Through the Flask test client (no HTTP, one process, one request at a time), on --existing reports loaded as
bench/reports.py loads them, it times per request the wall clock, the CPU and the SQL statements of:
- the plain insert, bench/reports.py's reference (one audit row, no body);
- a plain report: the same signed-in request and body through the submission's own schema, stored as one report row
  with nothing checked (the cheapest a submission could be);
- ``GET /api/v1/me``, the cheapest signed-in read;
- ``POST /api/v1/reports``, the submission with every check.
With --redis the jobs go to that Redis (the production shape; no worker runs them here, and they are left in its
queue); without, they run inline.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402

import reports  # noqa: E402  (bench/reports.py)


def app_with_plain_report(env: dict[str, str]):  # noqa: ANN201
    """bench/reports.py's app, plus a route storing the submission's body as one report row, unchecked."""
    from flask import request

    from citizen.models import Report
    from citizen.schemas import ReportCreateSchema
    from core.auth import current_resident_id
    from core.config import Config
    from core.db import db, utcnow

    app = reports.reference_app(Config.from_env(env))
    schema = ReportCreateSchema()

    @app.post("/bench/plain-report")
    def plain_report():  # noqa: ANN202
        body = schema.load(request.get_json())
        report = Report(resident_id=current_resident_id(), category_id=body["category_code"],
                        description=body["description"], lat=body["location"]["lat"], lng=body["location"]["lng"],
                        address=body["address"], district="", status="pending_review",
                        idempotency_key=request.headers["Idempotency-Key"], request_fingerprint="plain", flags=[],
                        checks={}, created_at=utcnow())
        db.session.add(report)
        db.session.commit()
        return {"id": report.id, "status": report.status}, 201

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", default="", help="REDIS_URL for the jobs (default: none, jobs run inline)")
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-submission-"))
    env = {**reports.base_env(workdir), "REDIS_URL": args.redis}
    try:
        with reports.database(args.database, workdir) as database_url:
            env["DATABASE_URL"] = database_url
            reports.prepare_database(env, args.existing)
            measure(app_with_plain_report(env), env, args.requests)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(app, env: dict[str, str], count: int) -> None:  # noqa: ANN001
    from core.db import db

    client = app.test_client()
    signed_in = client.post("/api/v1/auth/dev", json={"openid": "bench-submission-cost"}).get_json()
    auth = {"Authorization": f"Bearer {signed_in['token']}"}
    photo = client.post("/api/v1/media", headers=auth,
                        data={"file": (io.BytesIO(reports.photo_bytes(1)), "photo.jpg", "image/jpeg")}).get_json()["id"]
    photos = reports.provision_photos_for(env, photo, 2 * (count + 20))
    rng = random.Random(5)

    def body() -> dict:
        return {"category_code": "S0102", "description": "路边有暴露垃圾", "address": "青岛市市南区",
                "location": {"lat": reports.QINGDAO_CENTRE[0] + rng.uniform(-0.2, 0.2),
                             "lng": reports.QINGDAO_CENTRE[1] + rng.uniform(-0.2, 0.2), "coord_type": "wgs84"},
                "media_ids": [photos.pop()]}

    def post(path: str) -> Callable[[], int]:
        return lambda: client.post(path, json=body(), headers={**auth, "Idempotency-Key": uuid.uuid4().hex}).status_code

    requests = (("reference: plain insert", lambda: client.post("/bench/plain-insert", headers=auth).status_code, 201),
                ("plain report (same request)", post("/bench/plain-report"), 201),
                ("GET /api/v1/me", lambda: client.get("/api/v1/me", headers=auth).status_code, 200),
                ("POST /api/v1/reports", post("/api/v1/reports"), 201))
    statements = []
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *_: statements.append(1))
    print(f"  {'request':<30}{'wall ms':>9}{'CPU ms':>9}{'SQL':>6}")
    cpu_of = {}
    for label, send, expected in requests:
        for _ in range(20):
            assert send() == expected, label
        statements.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            assert send() == expected, label
        wall, cpu = (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count
        cpu_of[label] = cpu
        print(f"  {label:<30}{wall * 1000:>9.2f}{cpu * 1000:>9.2f}{len(statements) / count:>6.1f}")
    submission = cpu_of["POST /api/v1/reports"]
    print(f"  CPU of the reference / a submission: {cpu_of['reference: plain insert'] / submission:.2f}; "
          f"of a plain report / a submission: {cpu_of['plain report (same request)'] / submission:.2f}")


if __name__ == "__main__":
    main()
