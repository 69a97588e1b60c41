"""Subscribe-message consents posted at once each count (on a database that really commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.citizen.helpers import sign_in
from tests.conftest import app_on_own_database

pytestmark = pytest.mark.live_database
CONSENTS = 8


@pytest.fixture(scope="module")
def subscribing_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("subscribing"), fake_wechat, request, "subscriptions",
                             wechat_status_template_id="TMPL_STATUS") as app:
        yield app


def test_each_of_many_simultaneous_accepts_allows_one_message(subscribing_app):
    auth = sign_in(subscribing_app.test_client(), "oEagerSubscriber")
    start = threading.Barrier(CONSENTS)

    def accept(_: int) -> int:
        client = subscribing_app.test_client()
        start.wait()
        return client.post("/api/v1/notifications/subscriptions", headers=auth,
                           json={"results": {"TMPL_STATUS": "accept"}}).status_code

    with ThreadPoolExecutor(max_workers=CONSENTS) as pool:
        assert set(pool.map(accept, range(CONSENTS))) == {200}
    remaining = subscribing_app.test_client().post("/api/v1/notifications/subscriptions", headers=auth,
                                                   json={"results": {"TMPL_STATUS": "reject"}}).json["remaining"]
    assert remaining == {"TMPL_STATUS": CONSENTS}
