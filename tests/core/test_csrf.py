"""Every state-changing admin form, found in the URL map, refuses a missing or a foreign CSRF token."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from core.models import AuditEntry, StaffAccount
from tests.core.admin_helpers import admin_login, csrf_token
from tests.common.factories import StaffFactory

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def state_changing_admin_routes(app) -> list[tuple[str, str]]:
    """(method, URL) of every admin route that changes state, its path arguments filled with 1."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        for method in sorted((rule.methods or set()) - SAFE_METHODS):
            path = rule.rule
            for argument in rule.arguments:
                path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1") \
                           .replace(f"<path:{argument}>", "1")
            routes.append((method, path))
    return routes


@pytest.fixture
def signed_in(app):
    with app.app_context():
        StaffFactory(username="csrf_admin", roles=["admin"])
        StaffFactory(username="csrf_other", roles=["admin"])
    client, foreign = app.test_client(), app.test_client()
    admin_login(client, "csrf_admin")
    admin_login(foreign, "csrf_other")
    return client, csrf_token(foreign, "/admin/")


def test_the_url_map_has_the_forms_we_know_of(app):
    routes = state_changing_admin_routes(app)
    for known in (("POST", "/admin/login"), ("POST", "/admin/logout"), ("POST", "/admin/staff/new"),
                  ("POST", "/admin/reports/1/accept"), ("POST", "/admin/categories"),
                  ("POST", "/admin/signboards/1/decision")):
        assert known in routes


@pytest.mark.parametrize("token", ["missing", "foreign", "garbage"])
def test_every_state_changing_admin_form_refuses_a_bad_token(app, signed_in, token):
    client, foreign_token = signed_in
    with app.app_context():
        audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        staff_before = db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount))
    form = {"username": "csrf_new", "password": "long-enough-password", "roles": "admin", "name": "改", "id": "B0101",
            "decision": "approve", "version": "1", "reason": "x", "title": "t", "text": "t"}
    if token == "foreign":
        form["csrf_token"] = foreign_token
    elif token == "garbage":
        form["csrf_token"] = "not-a-token"
    for method, path in state_changing_admin_routes(app):
        response = client.open(path, method=method, data=form)
        assert response.status_code == 400, (method, path, response.status_code)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount)) == staff_before
    # Still signed in: the refused logout did not log anyone out.
    assert client.get("/admin/").status_code == 200


def test_the_right_token_is_accepted(signed_in):
    client, _ = signed_in
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and client.get("/admin/").status_code == 302
