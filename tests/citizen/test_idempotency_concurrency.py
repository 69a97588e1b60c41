"""Concurrent retries of one submission create one report (on a database that really commits)."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests
import sqlalchemy as sa

from citizen.models import Report
from core.db import db
from tests.citizen.helpers import report_body, sign_in, upload_photo

pytestmark = pytest.mark.live_database


def test_simultaneous_retries_with_one_key_create_one_report(live_app, live_server):
    client = live_app.test_client()
    auth = sign_in(client, "oImpatientResident")
    body = report_body([upload_photo(client, auth)])
    headers = {**auth, "Idempotency-Key": "concurrent-retry-0001"}

    def post() -> requests.Response:
        return requests.post(f"{live_server}/api/v1/reports", json=body, headers=headers, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(), range(8)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    with live_app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).where(Report.idempotency_key == "concurrent-retry-0001"))
    assert count == 1
