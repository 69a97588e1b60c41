"""Driving the admin pages through the test client, as a browser would (CSRF token included)."""

from __future__ import annotations

import re

from tests.common.factories import STAFF_PASSWORD, StaffFactory

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = _CSRF_FIELD.search(page)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def admin_post(client, path: str, data: dict, *, form_page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, form_page or path)})


def admin_login(client, username: str, password: str = STAFF_PASSWORD):
    return admin_post(client, "/admin/login", {"username": username, "password": password})


def signed_in_staff(app, username: str, *roles: str):
    """A test client signed in as a new staff member with these roles."""
    with app.app_context():
        StaffFactory(username=username, roles=list(roles))
    client = app.test_client()
    admin_login(client, username)
    return client
