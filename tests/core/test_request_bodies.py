"""Request bodies are read only by the views that take them, under a limit per kind of body, and JSON nests
only so deep (security review, issue 19, finding 1)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from tests.citizen.helpers import sign_in
from tests.common.media_files import photo_bytes


class CountedBody(io.RawIOBase):
    """A request body of ``size`` bytes made of ``unit`` repeated, counting how much of it was read."""

    def __init__(self, size: int, unit: bytes = b"[") -> None:
        self.size = size
        self.unit = unit
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:  # noqa: ANN001
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = (self.unit * (count // len(self.unit) + 1))[:count]
        self.position += count
        self.read_bytes += count
        return count


def _post_counted(client, path: str, body: CountedBody, content_type: str = "application/json", **kwargs):
    return client.post(path, input_stream=body, content_length=body.size, content_type=content_type, **kwargs)


@pytest.mark.parametrize("path", ["/no/such/path", "/api/v1/no-such-thing", "/healthz"])
def test_a_body_sent_where_no_view_takes_one_is_never_read(client, path):
    body = CountedBody(50 * 1024 * 1024)
    response = _post_counted(client, path, body)
    assert response.status_code in (404, 405)
    assert set(response.json["error"]) == {"code", "message", "details"}
    assert body.read_bytes == 0


def test_deeply_nested_json_sent_anywhere_is_not_a_500(client):
    nested = "[" * 100_000 + "]" * 100_000
    assert client.post("/no/such/path", data=nested, content_type="application/json").status_code == 404
    assert client.get("/healthz", data=nested, content_type="application/json").status_code == 200


@pytest.mark.parametrize("depth", [40, 100_000])
def test_json_nested_deeper_than_any_of_our_documents_is_refused_in_the_error_shape(client, depth):
    nested = '{"openid": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/api/v1/auth/dev", data=nested, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "json_too_deep"
    assert response.json["error"]["details"]["max_depth"] == 32


def test_json_nested_as_deep_as_allowed_is_parsed(client):
    nested = '{"openid": ' + "[" * 31 + "]" * 31 + "}"
    response = client.post("/api/v1/auth/dev", data=nested, content_type="application/json")
    assert response.status_code == 422 and "openid" in response.json["error"]["details"]["fields"]["json"]


def test_a_json_body_over_the_limit_is_413_without_being_read(app, client):
    limit = app.config["APP_SETTINGS"].request_body_max_bytes
    body = CountedBody(limit + 1, b" ")
    response = _post_counted(client, "/api/v1/auth/dev", body)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert body.read_bytes == 0


def test_a_json_body_without_a_length_is_cut_off_at_the_limit(app, client):
    limit = app.config["APP_SETTINGS"].request_body_max_bytes
    body = CountedBody(limit * 4, b" ")
    # As gunicorn hands on a chunked body: no length, the stream ends where the body does.
    response = client.post("/api/v1/auth/dev", input_stream=body, content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert body.read_bytes <= limit + 64 * 1024


def test_a_json_body_under_the_limit_is_taken(app, client):
    limit = app.config["APP_SETTINGS"].request_body_max_bytes
    padded = '{"openid": "oPaddedBody"' + " " * (limit - 100) + "}"
    assert client.post("/api/v1/auth/dev", data=padded, content_type="application/json").status_code == 200


def test_a_form_body_over_the_limit_is_413(app, client):
    limit = app.config["APP_SETTINGS"].request_body_max_bytes
    response = client.post("/open311/v2/requests.json", data={"api_key": "k", "description": "x" * limit})
    assert response.status_code == 413


def test_a_photo_larger_than_the_json_limit_still_uploads(client, override_settings):
    override_settings(request_body_max_bytes=8 * 1024)
    photo = photo_bytes(7)
    assert len(photo) > 8 * 1024
    auth = sign_in(client, "oLargePhoto")
    response = client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(photo), "photo.jpg")})
    assert response.status_code == 201, response.json


@pytest.mark.embedded_only
def test_a_direct_upload_to_local_disk_larger_than_the_json_limit_is_received(client, override_settings):
    override_settings(request_body_max_bytes=8 * 1024)
    video = os.urandom(24 * 1024)
    auth = sign_in(client, "oLargeDirectUpload")
    started = client.post("/api/v1/media/uploads", headers=auth, json={
        "kind": "video", "content_type": "video/mp4", "size": len(video), "sha256": hashlib.sha256(video).hexdigest()})
    assert started.status_code == 201, started.json
    upload = started.json["upload"]
    sent = client.post(upload["url"], content_type="multipart/form-data",
                       data={**upload["fields"], upload["file_field"]: (io.BytesIO(video), "video.mp4")})
    assert sent.status_code == 204
