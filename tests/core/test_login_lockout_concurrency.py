"""Wrong passwords tried at once still lock the account (on a database that really commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core import services
from core.db import db
from tests.factories import STAFF_PASSWORD, StaffFactory

pytestmark = pytest.mark.live_database
MAX_FAILURES = 5


def test_simultaneous_wrong_passwords_each_count_toward_the_lockout(live_app):
    with live_app.app_context():
        StaffFactory(username="guessed-at-once", roles=["moderator"])
    start = threading.Barrier(MAX_FAILURES)

    def wrong_password(_: int) -> str:
        with live_app.app_context():
            start.wait()
            try:
                services.authenticate_staff("guessed-at-once", "not-the-password", max_failures=MAX_FAILURES,
                                            lockout_seconds=900)
            except services.LoginRefused as refused:
                db.session.commit()  # as the login page does: the failure is recorded
                return refused.reason
            return "signed in"

    with ThreadPoolExecutor(max_workers=MAX_FAILURES) as pool:
        reasons = list(pool.map(wrong_password, range(MAX_FAILURES)))
    assert "signed in" not in reasons
    with live_app.app_context():
        with pytest.raises(services.LoginRefused) as refused:
            services.authenticate_staff("guessed-at-once", STAFF_PASSWORD, max_failures=MAX_FAILURES,
                                        lockout_seconds=900)
        assert refused.value.reason == "locked"
