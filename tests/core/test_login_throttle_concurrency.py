"""Wrong passwords tried at once each count toward the delay (on a database that really commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.core.admin_helpers import admin_login
from tests.common.factories import StaffFactory

pytestmark = pytest.mark.live_database


def test_simultaneous_wrong_passwords_each_count_toward_the_delay(live_app, frozen_rate_limit_clock):
    with live_app.app_context():
        StaffFactory(username="guessed-at-once", roles=["moderator"])
    allowed = live_app.config["APP_SETTINGS"].staff_max_failed_logins
    clients = [live_app.test_client() for _ in range(allowed)]
    for client in clients:
        client.get("/admin/login")
    start = threading.Barrier(allowed)

    def wrong_password(client) -> int:
        start.wait()
        return admin_login(client, "guessed-at-once", "not-the-password").status_code

    with ThreadPoolExecutor(max_workers=allowed) as pool:
        statuses = list(pool.map(wrong_password, clients))
    assert statuses == [401] * allowed
    assert admin_login(live_app.test_client(), "guessed-at-once").status_code == 429
    live_app.extensions["rate_limiter"].reset()
