"""Submissions at once still count toward the hourly limits (on a database that really commits)."""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from citizen.models import Report
from core.config import Config
from core.db import db
from tests.citizen.helpers import report_body, sign_in, upload_photo
from tests.conftest import BACKENDS, build_config, dispose, drop_postgres_schema, fresh_postgres_schema, migrated_app

pytestmark = pytest.mark.live_database
LIMIT, CONTENDERS = 2, 8


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory, fake_wechat, request):
    """An app on a database of its own where each request commits in its own transaction and connection."""
    tmp_dir = tmp_path_factory.mktemp("limited")
    schema = f"submission_limit_{os.getpid()}"
    if BACKENDS == "services":
        url = Config.from_env({"DATABASE_URL": request.getfixturevalue("postgres_url")}).database_url
        database_url = fresh_postgres_schema(url, schema)
    else:
        database_url = f"sqlite:///{tmp_dir / 'limited.db'}"
    app = migrated_app(build_config(tmp_dir, fake_wechat, database_url=database_url,
                                    reports_per_resident_per_hour=LIMIT, wechat_app_id=None))
    yield app
    dispose(app)
    if BACKENDS == "services":
        drop_postgres_schema(database_url, schema)


def test_simultaneous_submissions_never_exceed_the_hourly_limit(limited_app):
    client = limited_app.test_client()
    auth = sign_in(client, "oHastyResident")
    photos = [upload_photo(client, auth) for _ in range(CONTENDERS)]
    start = threading.Barrier(CONTENDERS)

    def submit(photo: int) -> int:
        own_client = limited_app.test_client()
        start.wait()
        return own_client.post("/api/v1/reports", json=report_body([photo]),
                               headers={**auth, "Idempotency-Key": uuid.uuid4().hex}).status_code

    with ThreadPoolExecutor(max_workers=CONTENDERS) as pool:
        statuses = sorted(pool.map(submit, photos))
    assert statuses == [201] * LIMIT + [429] * (CONTENDERS - LIMIT)
    with limited_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == LIMIT
