"""What a newcomer finds: the home page leads to the API docs and the admin, and `make run` says where they are."""

from __future__ import annotations

import pytest

from core.cli import banner


def test_the_home_page_links_the_api_docs_and_the_admin(client):
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'lang="zh-CN"' in page and 'href="/api/docs"' in page and 'href="/admin/"' in page
    assert 'href="/api/openapi.json"' in page and "接口文档" in page and "管理后台" in page
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("accept", ["*/*", None])
def test_a_client_asking_for_anything_gets_the_page(client, accept):
    response = client.get("/", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200 and response.mimetype == "text/html"


def test_a_client_asking_for_json_gets_the_links_as_json(client):
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == {"links": {"api_docs": "/api/docs", "openapi": "/api/openapi.json",
                                             "admin": "/admin/", "health": "/healthz"}}


def test_the_home_page_is_no_part_of_the_api_document(client):
    assert "/" not in client.get("/api/openapi.json").get_json()["paths"]


def test_the_banner_names_the_docs_the_admin_and_the_first_account():
    text = banner("http://127.0.0.1:5000", staff_accounts=0, dev_login=True)
    assert "http://127.0.0.1:5000/api/docs" in text and "http://127.0.0.1:5000/admin/" in text
    assert "create-staff --username admin --role admin" in text and "/api/v1/auth/dev" in text


def test_the_banner_leaves_out_what_is_done_or_off():
    text = banner("http://127.0.0.1:5000", staff_accounts=1, dev_login=False)
    assert "create-staff" not in text and "/api/v1/auth/dev" not in text and "/admin/" in text
