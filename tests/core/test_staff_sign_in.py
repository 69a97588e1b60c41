"""Staff sessions end on the server, and failed sign-ins slow down guessing without locking anyone out."""

from __future__ import annotations

import re

import pytest

from core import services
from core.db import db
from core.models import StaffAccount
from tests.core.admin_helpers import admin_login, admin_post, csrf_token
from tests.common.factories import STAFF_PASSWORD, StaffFactory

COOKIE = "qd_admin_session"


@pytest.fixture
def chief(app) -> int:
    # Made in a context of its own: requests must not share the test's app context (and its `g`).
    with app.app_context():
        return StaffFactory(username="chief", roles=["admin"]).id


def _replayed(app, cookie_value: str):
    other = app.test_client()
    other.set_cookie(COOKIE, cookie_value)
    return other


def test_a_saved_session_cookie_stops_working_after_logout(app, client, chief):
    admin_login(client, "chief")
    saved = client.get_cookie(COOKIE).value
    assert _replayed(app, saved).get("/admin/staff").status_code == 200
    admin_post(client, "/admin/logout", {}, form_page="/admin/")
    assert _replayed(app, saved).get("/admin/staff").status_code == 302


def test_logging_out_on_one_device_leaves_the_others_signed_in(app, client, chief):
    admin_login(client, "chief")
    laptop = app.test_client()
    admin_login(laptop, "chief")
    admin_post(client, "/admin/logout", {}, form_page="/admin/")
    assert laptop.get("/admin/staff").status_code == 200


def test_a_password_change_ends_every_session_of_that_account(app, client, chief):
    admin_login(client, "chief")
    with app.app_context():
        staff = db.session.get(StaffAccount, chief)
        services.update_staff(services.Actor(chief, "chief"), staff, display_name="chief", roles=["admin"],
                              is_active=True, new_password="another-long-password")
        db.session.commit()
    assert client.get("/admin/staff").status_code == 302


def _fail(client, username: str, times: int) -> list[int]:
    return [admin_login(client, username, "wrong-password").status_code for _ in range(times)]


def test_failures_from_one_address_do_not_lock_the_account_for_others(app, client, chief, frozen_rate_limit_clock):
    limit = app.config["APP_SETTINGS"].staff_max_failed_logins
    attacker = app.test_client()
    _fail(attacker, "chief", limit + 3)
    colleague = app.test_client()
    response = colleague.post("/admin/login", environ_base={"REMOTE_ADDR": "10.1.2.3"})  # CSRF: refused, no count
    assert response.status_code == 400
    colleague.get("/admin/login", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    token = csrf_token(colleague, "/admin/login")
    signed_in = colleague.post("/admin/login", data={"username": "chief", "password": STAFF_PASSWORD,
                                                     "csrf_token": token}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert signed_in.status_code == 302


def test_unknown_and_real_accounts_are_answered_alike(app, chief, frozen_rate_limit_clock):
    limit = app.config["APP_SETTINGS"].staff_max_failed_logins
    real, unknown = app.test_client(), app.test_client()
    real_codes = _fail(real, "chief", limit + 1)
    unknown_codes = _fail(unknown, "nobody-by-that-name", limit + 1)
    assert real_codes == unknown_codes
    assert real_codes[-1] == 429
    real_page = admin_login(real, "chief", "wrong-password").get_data(as_text=True)
    unknown_page = admin_login(unknown, "nobody-by-that-name", "wrong-password").get_data(as_text=True)
    assert "锁定" not in real_page
    assert _message(real_page) == _message(unknown_page)


def _message(page: str) -> str:
    return re.sub(r"\d+", "N", re.search(r'role="alert">([^<]+)<', page).group(1).strip())


def test_an_office_behind_one_address_signs_in_all_at_once(app):
    """Counting failures, not sign-ins: a shift of 40 staff behind one NAT address all sign in."""
    names = [f"clerk{number:02d}" for number in range(40)]
    with app.app_context():
        for name in names:
            StaffFactory(username=name, roles=["moderator"])
        db.session.commit()
    for name in names:
        assert admin_login(app.test_client(), name).status_code == 302, name
