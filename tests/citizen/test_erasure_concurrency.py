"""Deleting the account twice at once (a double tap) deletes it once (on a database that really commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.citizen.helpers import new_report, sign_in
from tests.conftest import app_on_own_database

pytestmark = pytest.mark.live_database
TAPS = 4


@pytest.fixture(scope="module")
def erasing_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("erasing"), fake_wechat, request, "erasure",
                             wechat_app_id=None) as app:
        yield app


def test_the_account_deleted_several_times_at_once_is_deleted_without_an_error(erasing_app):
    client = erasing_app.test_client()
    auth = sign_in(client, "oDoubleTapper")
    new_report(client, auth)
    new_report(client, auth)
    start = threading.Barrier(TAPS)

    def delete(_: int) -> int:
        own_client = erasing_app.test_client()
        start.wait()
        return own_client.delete("/api/v1/me", headers=auth).status_code

    with ThreadPoolExecutor(max_workers=TAPS) as pool:
        statuses = list(pool.map(delete, range(TAPS)))
    # Each later tap either waited for the first and found nothing left (204) or came after it (401: gone).
    assert 204 in statuses and set(statuses) <= {204, 401}, statuses
    assert client.get("/api/v1/me", headers=auth).status_code == 401
