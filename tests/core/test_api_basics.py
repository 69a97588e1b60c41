"""Every failure is one JSON shape; requests carry ids; health and readiness tell the truth."""

from __future__ import annotations



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
    assert client.get("/healthz", headers={"X-Request-Id": "lb-trace-12345678"}).headers["X-Request-Id"] == "lb-trace-12345678"
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
