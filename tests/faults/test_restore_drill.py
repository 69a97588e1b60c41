"""The backup-and-restore drill: backups taken under load restore into a service that has every report a resident
was told was accepted, with its photos.

Residents upload photos and file reports through gunicorn (rq workers rendering the photos) while the backup is
taken as the README's operations guide says: first `pg_dump` of the database, then a copy of the bucket. Both are
restored into fresh ones (`pg_restore` into a new database, the objects into a new bucket), the app is started on
them, and `flask media verify --checksums` must find nothing missing, no size or checksum wrong, and every report
answered 201 before the dump began must be there with its photos' originals.

Why the dump comes first: every object is written before the row that refers to it commits (media/services), and
an accepted photo's objects are never deleted while its report stands. So every row in the dump refers to objects
written before the dump's snapshot, which a bucket copy begun after the dump finished holds. Copied first, the
bucket would miss the objects of every row committed between the copy and the dump; the drill proves this too,
with a copy taken before the dump: `verify` reports those rows' objects missing.

    make faults
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from tests.common.stack import (BIN, POSTGRES_BIN, ROOT, Gunicorn, PrivatePostgres, PrivateRedis, RqWorkers,
                                s3_server, wait_until)
from tests.conftest import IN_CI
from tests.faults.test_under_faults import Ledger, resident

pytestmark = pytest.mark.faults

RESIDENTS = 3
BUCKET, RESTORED_BUCKET, EARLY_BUCKET = "drill-media", "drill-restored", "drill-copied-too-early"


def _flask(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "flask"), *args], env={**os.environ, **env, "FLASK_APP": "wsgi"}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(command: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = command.communicate(timeout=300)
    return command.returncode, stdout, stderr


def _copy_bucket(client: object, source: str, target: str) -> int:
    """What `aws s3 sync s3://source s3://target` does: every object copied, server-side; how many."""
    client.create_bucket(Bucket=target)  # type: ignore[attr-defined]
    copied = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=source):  # type: ignore[attr-defined]
        for item in page.get("Contents", []):
            client.copy_object(Bucket=target, Key=item["Key"],  # type: ignore[attr-defined]
                               CopySource={"Bucket": source, "Key": item["Key"]})
            copied += 1
    return copied


def _verified(command: subprocess.Popen[str]) -> tuple[int, dict]:
    """The exit status and the JSON document of a `flask media verify --json` run."""
    status, stdout, stderr = _finished(command)
    assert status in (0, 1), stderr[-3000:]
    return status, json.loads(stdout)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis, str]]:
    if not (POSTGRES_BIN / "pg_restore").exists() or shutil.which("redis-server") is None:
        message = f"the restore drill needs PostgreSQL's binaries ({POSTGRES_BIN}) and redis-server"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    # Stopped last first, all of them whatever happens to one.
    with contextlib.ExitStack() as running:
        servers: list = []
        for start in (PrivatePostgres().start, PrivateRedis().start, lambda: s3_server()[0]):
            servers.append(start())
            running.callback(servers[-1].stop)
        werkzeug_log = logging.getLogger("werkzeug")
        running.callback(werkzeug_log.setLevel, werkzeug_log.level)
        werkzeug_log.setLevel(logging.WARNING)  # moto's requests are not the drill's output
        yield servers[0], servers[1], servers[2].url


def test_a_backup_taken_under_load_restores_every_accepted_report(servers, tmp_path) -> None:
    import boto3

    postgres, redis_server, s3_url = servers
    env = {"SECRET_KEY": "restore-drill-secret-key-0123456789-0123456789", "DATABASE_URL": postgres.url,
           "REDIS_URL": redis_server.url(0), "LOG_LEVEL": "WARNING", "DEV_LOGIN": "1", "S3_BUCKET": BUCKET,
           "S3_ENDPOINT_URL": s3_url, "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": "testing",
           "S3_SECRET_ACCESS_KEY": "testing", "REPORTS_PER_RESIDENT_PER_HOUR": "100000",
           "REPORTS_PER_IP_PER_HOUR": "100000", "RATE_LIMIT_LOGIN": "0/1", "RATE_LIMIT_UPLOAD": "0/1"}
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET)
    started = time.monotonic()
    status, _, errors = _finished(_flask(env, "db", "upgrade"))
    assert status == 0, errors[-3000:]
    workers = RqWorkers(env, 2, log=tmp_path / "workers.log").start()
    server: Gunicorn | None = None
    ledger, stop = Ledger(), threading.Event()
    load: list[threading.Thread] = []
    try:
        server = Gunicorn(env, workers=2)
        load = [threading.Thread(target=resident, args=(server.url, number, ledger, stop))
                for number in range(RESIDENTS)]
        for thread in load:
            thread.start()
        wait_until(lambda: len(ledger.reports) >= RESIDENTS, seconds=60, what="the first reports")
        load_began = time.monotonic()
        # The wrong order, for contrast: the bucket copied, then more reports accepted (at least one resident's
        # photo uploaded after the copy), then the dump.
        early_copied = _copy_bucket(s3, BUCKET, EARLY_BUCKET)
        after_early = len(ledger.reports)
        wait_until(lambda: len(ledger.reports) > after_early + RESIDENTS, seconds=60,
                   what="reports after the early copy")

        # The backup as the operations guide takes it, under load: the dump, then the bucket.
        with ledger.lock:
            told_accepted = set(ledger.reports)
        dump = tmp_path / "backup.dump"
        dumping = time.monotonic()
        dumped = subprocess.run([str(POSTGRES_BIN / "pg_dump"), "--format=custom", f"--file={dump}",
                                 f"--dbname={postgres.url}"], capture_output=True, text=True, timeout=120)
        assert dumped.returncode == 0, dumped.stderr
        dump_seconds = time.monotonic() - dumping
        copying = time.monotonic()
        copied = _copy_bucket(s3, BUCKET, RESTORED_BUCKET)
        copy_seconds = time.monotonic() - copying
        wait_until(lambda: len(ledger.reports) > len(told_accepted), seconds=60, what="reports after the backup")
        load_seconds = time.monotonic() - load_began
    finally:
        stop.set()
        for thread in load:
            thread.join(timeout=60)
        if server is not None:
            server.stop()
        workers.stop()
    assert told_accepted and ledger.reports > told_accepted

    # Restored into fresh ones: a new database from the dump, a new bucket from the copy (made above).
    restored_url = postgres.url.rsplit("/", 1)[0] + "/restored"
    engine = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE restored"))
    engine.dispose()
    restoring = time.monotonic()
    restored_db = subprocess.run([str(POSTGRES_BIN / "pg_restore"), "--no-owner", "--exit-on-error",
                                  f"--dbname={restored_url}", str(dump)], capture_output=True, text=True, timeout=120)
    assert restored_db.returncode == 0, restored_db.stderr
    restore_seconds = time.monotonic() - restoring
    restored_env = {**env, "DATABASE_URL": restored_url, "S3_BUCKET": RESTORED_BUCKET,
                    "REDIS_URL": redis_server.url(1)}

    engine = sa.create_engine(restored_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        restored_reports = set(connection.scalars(sa.text("SELECT id FROM reports")))
        photos_of_told = {int(attached.split(":")[1]): media_id for media_id, attached in connection.execute(
            sa.text("SELECT id, attached_to FROM media WHERE attached_to LIKE 'report:%'"))
            if int(attached.split(":")[1]) in told_accepted}
        restored_media = connection.scalar(sa.text("SELECT count(*) FROM media"))
    engine.dispose()

    # The app serves the restored data: each resident finds each report they were told was accepted.
    checks = time.monotonic()
    verifying = _flask(restored_env, "media", "verify", "--json", "--checksums")
    verifying_early = _flask({**restored_env, "S3_BUCKET": EARLY_BUCKET}, "media", "verify", "--json", "--checksums")
    server = Gunicorn(restored_env, workers=1)
    try:
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
        served, photos_served = _served(server.url, told_accepted)
    finally:
        server.stop()
    status, verified = _verified(verifying)
    early_status, early = _verified(verifying_early)
    checks_seconds = time.monotonic() - checks
    elapsed = time.monotonic() - started

    missing = [problem for problem in verified["problems"] if problem["kind"] == "missing"]
    summary = verified["summary"]
    print(f"\n  reports answered 201: {len(ledger.reports)}, before the dump began: {len(told_accepted)}, "
          f"in the restored database: {len(restored_reports)}, served to their residents: {served}, "
          f"their photos served from the restored bucket: {photos_served}"
          f"\n  pg_dump {dump.stat().st_size} bytes in {dump_seconds:.1f} s; bucket copied after it: {copied} objects "
          f"in {copy_seconds:.1f} s; pg_restore {restore_seconds:.1f} s"
          f"\n  flask media verify on the restored data (exit {status}): {restored_media} media rows, "
          f"{summary['objects']} objects, {summary['hashed']} originals hashed, problems {summary['problems']}, "
          f"unreferenced objects newer than the dump (within retention): {summary['recent_unreferenced']}"
          f"\n  the bucket copied before the dump instead ({early_copied} objects): exit {early_status}, "
          f"problems {early['summary']['problems']}"
          f"\n  drill took {elapsed:.0f} s: load {load_seconds:.0f} s, checks of the restored service "
          f"{checks_seconds:.0f} s")
    assert told_accepted <= restored_reports and served == len(told_accepted)
    assert set(photos_of_told) == told_accepted  # every told report has its photo row
    assert status == 0 and missing == [] and summary["unrepaired"] == 0
    assert summary["hashed"] == summary["media"] == restored_media
    # Copied too early, the bucket lacks the photos of the reports accepted between the copy and the dump.
    assert early_status == 1 and early["summary"]["problems"]["missing"] >= 1


def _served(url: str, told_accepted: set[int]) -> tuple[int, int]:
    """How many of the reports each resident was told were accepted the app serves them, and how many of those
    reports' photos (their large copy, when rendered before the dump) its signed links fetch."""
    served = photos = 0
    for number in range(RESIDENTS):
        token = requests.post(f"{url}/api/v1/auth/dev", json={"openid": f"oFaultResident{number:06d}"},
                              timeout=10).json()["token"]
        cursor = None
        while True:
            page = requests.get(f"{url}/api/v1/reports/mine", headers={"Authorization": f"Bearer {token}"},
                                params={"limit": 50, **({"cursor": cursor} if cursor else {})}, timeout=10)
            assert page.status_code == 200, page.text
            for item in page.json()["items"]:
                if item["id"] in told_accepted:
                    served += 1
                    for media in item["media"]:
                        if "large" in media["urls"]:
                            assert requests.get(media["urls"]["large"], timeout=10).status_code == 200
                            photos += 1
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    return served, photos
