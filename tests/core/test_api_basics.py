"""Every failure is one JSON shape; requests carry ids; health and readiness tell the truth."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from core.config import PROJECT_ROOT
from tests.conftest import dispose, own_database


def test_unknown_api_path_gets_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert set(response.json["error"]) == {"code", "message", "details"}


def test_wrong_method_gets_json_405_listing_allowed_methods(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "GET" in response.json["error"]["details"]["allowed_methods"]


def test_malformed_json_body_gets_json_400(client):
    response = client.post("/api/v1/auth/wechat", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"


def test_validation_error_lists_the_offending_fields(client):
    response = client.post("/api/v1/auth/wechat", json={"code": ""})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "code" in response.json["error"]["details"]["fields"]["json"]


def test_missing_field_is_named(client):
    response = client.post("/api/v1/auth/wechat", json={})
    assert response.status_code == 422
    assert "code" in response.json["error"]["details"]["fields"]["json"]


def test_response_carries_a_generated_request_id(client):
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert len(first) == 32 and first != second


def test_a_well_formed_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-Id": "lb-trace-12345678"}).headers["X-Request-Id"]
    assert kept == "lb-trace-12345678"
    replaced = client.get("/healthz", headers={"X-Request-Id": "bad id<script>"}).headers["X-Request-Id"]
    assert "<" not in replaced and len(replaced) == 32


def test_openapi_document_lists_the_login_endpoint(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/wechat" in spec["paths"]


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    with client.get("/api/swagger-ui/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200


def test_healthz_is_alive(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_reports_every_configured_backend(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = {"database", "storage"} | ({"redis"} if app.extensions["redis"] is not None else set())
    assert set(response.json["checks"]) == expected


def test_readyz_is_503_and_names_what_is_down(make_app):
    broken = make_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"]["database"] == "down"
    assert error["details"]["checks"]["redis"] == "down"
    assert error["details"]["checks"]["storage"] == "ok"


@pytest.mark.parametrize("behind", ["empty", "one_migration_behind"])
def test_readyz_is_503_while_the_database_lacks_the_latest_migration(make_app, tmp_path, request, behind):
    """Code deployed before `flask db upgrade`: the database answered SELECT 1, so readyz said it was ok while the
    requests needing the new schema failed."""
    with own_database(tmp_path, request, "readyz") as database_url:
        outdated = make_app(database_url=database_url)
        try:
            if behind == "one_migration_behind":
                with outdated.app_context():
                    upgrade(revision=_previous_revision())
            response = outdated.test_client().get("/readyz")
        finally:
            dispose(outdated)
    assert response.status_code == 503
    assert response.json["error"]["details"]["checks"]["database"] == "not_migrated"


def _previous_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    return script.get_revision(script.get_current_head()).down_revision


@pytest.mark.parametrize("escaped", ["a\\u0000b", "a\\ud800b"])
def test_text_no_database_can_store_is_a_validation_error_not_a_500(client, escaped):
    """PostgreSQL refuses NUL in text and no database takes a lone surrogate: refused as input, on both backends."""
    login = client.post("/api/v1/auth/dev", data=f'{{"openid": "{escaped}"}}', content_type="application/json")
    assert login.status_code == 422 and login.json["error"]["code"] == "validation_error"
    assert "json" in login.json["error"]["details"]["fields"]
    auth = {"Authorization": f"Bearer {client.post('/api/v1/auth/dev', json={'openid': 'oPlainText'}).json['token']}"}
    body = ('{"category_code": "S0102", "description": "%s", "address": "", "media_ids": [1], '
            '"location": {"lat": 36.0671, "lng": 120.3826, "coord_type": "wgs84"}}' % escaped)
    report = client.post("/api/v1/reports", data=body, content_type="application/json",
                         headers={**auth, "Idempotency-Key": "nul-or-surrogate-1"})
    assert report.status_code == 422 and "json" in report.json["error"]["details"]["fields"]


def test_a_nul_character_in_the_query_is_a_validation_error(client):
    query = client.get("/api/v1/signboard-templates", query_string={"category": "a\x00b"})
    assert query.status_code == 422 and "query" in query.json["error"]["details"]["fields"]
    second_value = client.get("/api/v1/signboard-templates?category=food&category=a%00b")
    assert second_value.status_code == 422


def test_deeply_nested_json_is_refused_without_recursion(client):
    response = client.post("/api/v1/auth/dev", data="[" * 900 + "]" * 900, content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "json_too_deep"
