"""Submissions at once still count toward the hourly limits (on a database that really commits)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from citizen.models import Report
from core.db import db
from tests.citizen.helpers import report_body, sign_in, upload_photo
from tests.conftest import app_on_own_database

pytestmark = pytest.mark.live_database
LIMIT, CONTENDERS = 2, 8


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("limited"), fake_wechat, request, "submission_limit",
                             reports_per_resident_per_hour=LIMIT, wechat_app_id=None) as app:
        yield app


@pytest.fixture(scope="module")
def ip_limited_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("ip_limited"), fake_wechat, request, "ip_submission_limit",
                             reports_per_ip_per_hour=LIMIT, wechat_app_id=None) as app:
        yield app


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


def test_simultaneous_submissions_of_many_residents_from_one_address_never_exceed_its_hourly_limit(ip_limited_app):
    client = ip_limited_app.test_client()
    residents = [sign_in(client, f"oNeighbour{n}") for n in range(CONTENDERS)]
    photos = [upload_photo(client, auth) for auth in residents]
    start = threading.Barrier(CONTENDERS)

    def submit(resident: int) -> int:
        own_client = ip_limited_app.test_client()
        start.wait()
        return own_client.post("/api/v1/reports", json=report_body([photos[resident]]),
                               headers={**residents[resident], "Idempotency-Key": uuid.uuid4().hex}).status_code

    with ThreadPoolExecutor(max_workers=CONTENDERS) as pool:
        statuses = sorted(pool.map(submit, range(CONTENDERS)))
    assert statuses == [201] * LIMIT + [429] * (CONTENDERS - LIMIT)
    with ip_limited_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == LIMIT
