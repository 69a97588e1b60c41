"""Security headers on every response; a Content-Security-Policy without inline script for pages."""

from __future__ import annotations

import re

import pytest
from jinja2 import Environment

from core.config import PROJECT_ROOT

from tests.citizen.helpers import new_report, sign_in
from tests.conftest import PRODUCTION
from tests.core.admin_helpers import signed_in_staff

COMMON = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.fixture
def admin_client(app):
    return signed_in_staff(app, "headers_admin", "admin")


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/categories", "/api/v1/nope", "/api/openapi.json",
                                  "/admin/login", "/admin/nope", "/static/admin.css", "/api/docs",
                                  "/signboard-certificates/QDZP-NONE"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    response.close()
    for name, value in COMMON.items():
        assert response.headers[name] == value, (path, name)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert "Permissions-Policy" in response.headers


def test_pages_allow_no_inline_script_or_style(admin_client):
    for path in ("/admin/", "/admin/staff", "/admin/reports", "/admin/categories"):
        response = admin_client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/html"
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]


def test_json_and_files_allow_nothing_at_all(client, run_jobs):
    resident = sign_in(client, "oHeadersResident")
    report = new_report(client, resident)
    run_jobs()
    photo_url = client.get(f"/api/v1/reports/{report['id']}", headers=resident).json["media"][0]["urls"]["thumb"]
    # On S3 the bucket serves the files; on local disk the app does, under the same policy as JSON.
    paths = ["/api/v1/categories"] + ([photo_url] if photo_url.startswith("/files/") else [])
    for path in paths:
        with client.get(path) as response:
            assert response.status_code == 200
            assert directives(response.headers["Content-Security-Policy"])["default-src"] == ["'none'"]


def test_only_the_api_docs_get_inline_script_for_swagger_ui(client):
    policy = directives(client.get("/api/docs").headers["Content-Security-Policy"])
    assert "'unsafe-inline'" in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_production_adds_strict_transport_security(make_app):
    client = make_app(**PRODUCTION).test_client()
    assert client.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=31536000")


# Saved and mailed as one file, so styled from within; the report is served under DOCUMENT_POLICY (below).
# The signboard certificate is only ever printed to PDF from a file, never served as a page.
STANDALONE_DOCUMENTS = {"insight/monthly.html", "signboard_templates/certificate_print.html"}
_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def test_no_template_has_inline_script_style_or_handlers(app):
    """What the CSP would block in a browser, refused here at the source: every template of every package."""
    loader = app.jinja_env.loader
    assert loader is not None
    # Ours, not the libraries' (flask-smorest's Swagger UI page has its own policy, above).
    sources = {name: loader.get_source(Environment(), name) for name in app.jinja_env.list_templates()}
    ours = {name: source for name, (source, filename, _) in sources.items()
            if filename and filename.startswith(str(PROJECT_ROOT)) and ".venv" not in filename}
    assert len(ours) > 10
    for name, source in ours.items():
        if name in STANDALONE_DOCUMENTS:
            assert "<script" not in source.lower(), name
            continue
        assert not _INLINE.search(source), name


def test_the_standalone_monthly_report_may_style_itself_but_run_nothing(admin_client):
    response = admin_client.get("/admin/insight/monthly?month=2026-10")
    assert response.status_code == 200
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["style-src"] == ["'unsafe-inline'"] and policy["default-src"] == ["'none'"]
    assert "script-src" not in policy
