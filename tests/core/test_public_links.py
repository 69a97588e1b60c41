"""Absolute links to this app are built from PUBLIC_BASE_URL, never from the Host header a client sends, which would
put the client's own domain into links others follow and caches keep (security review, issue 19, finding 8)."""

from __future__ import annotations

import pytest

from signboard_templates.schemas import certificate_url
from tests.citizen.helpers import QINGDAO, report_body, sign_in, submit, upload_photo

FORGED = {"Host": "attacker.example"}


@pytest.fixture(params=[None, "https://api.qingdao.example"], ids=["unset", "set"])
def public_base_url(request, override_settings):
    override_settings(public_base_url=request.param)
    return request.param


def _app_links(values: list[str]) -> list[str]:
    """The links among ``values`` that lead into this app (not to object storage)."""
    return [value for value in values
            if "/files/" in value or "/open311/" in value or "/signboard-certificates/" in value]


def _check(links: list[str], public_base_url: str | None) -> None:
    assert links
    assert not any("attacker.example" in link for link in links)
    for link in links:
        assert link.startswith(public_base_url) if public_base_url else link.startswith("/")


def test_open311_discovery_names_its_endpoint_from_the_public_origin(client, public_base_url):
    discovery = client.get("/open311/v2/discovery.json", headers=FORGED).json
    _check([endpoint["url"] for endpoint in discovery["endpoints"]], public_base_url)


def test_media_export_and_report_links_ignore_a_forged_host(client, public_base_url):
    resident = sign_in(client, "oForgedHost")
    media_id = upload_photo(client, resident)
    report = submit(client, resident, report_body([media_id])).json
    media = client.get(f"/api/v1/media/{media_id}", headers={**resident, **FORGED}).json
    links = list(media["urls"].values())
    shown = client.get(f"/api/v1/reports/{report['id']}", headers={**resident, **FORGED}).json
    links += [url for item in shown["media"] for url in item["urls"].values()]
    nearby = client.get(f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84",
                        headers={**resident, **FORGED}).json["items"]
    links += [item["thumbnail_url"] for item in nearby if item["thumbnail_url"]]
    exported = client.get("/api/v1/me/export", headers={**resident, **FORGED}).json
    links += [url for item in exported["data"]["media"] for url in item["urls"].values()]
    if client.application.config["APP_SETTINGS"].media_backend == "local":
        _check(_app_links(links), public_base_url)
    assert not any("attacker.example" in link for link in links)


@pytest.mark.embedded_only
def test_a_direct_upload_link_ignores_a_forged_host(client, public_base_url):
    resident = sign_in(client, "oForgedHostDirect")
    started = client.post("/api/v1/media/uploads", headers={**resident, **FORGED}, json={
        "kind": "video", "content_type": "video/mp4", "size": 10, "sha256": "0" * 64}).json
    _check([started["upload"]["url"]], public_base_url)


def test_a_certificate_link_ignores_a_forged_host(app, public_base_url):
    with app.test_request_context("/api/v1/signboard-applications/1", headers=FORGED):
        _check([certificate_url("QDZP2026000001AAAA")], public_base_url)
