"""A direct upload announced several times at once (a client retrying) is one media (on a database that commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.citizen.helpers import sign_in
from tests.conftest import app_on_own_database

pytestmark = pytest.mark.live_database
RETRIES = 8


@pytest.fixture(scope="module")
def uploading_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("uploading"), fake_wechat, request, "direct_uploads") as app:
        yield app


def test_the_same_upload_started_at_once_is_one_media_with_a_link_for_each(uploading_app):
    auth = sign_in(uploading_app.test_client(), "oRetryingUploader")
    start = threading.Barrier(RETRIES)
    body = {"kind": "video", "content_type": "video/mp4", "size": 1000, "sha256": "ab" * 32}

    def announce(_: int):
        client = uploading_app.test_client()
        start.wait()
        return client.post("/api/v1/media/uploads", headers=auth, json=body)

    with ThreadPoolExecutor(max_workers=RETRIES) as pool:
        responses = list(pool.map(announce, range(RETRIES)))
    assert [response.status_code for response in responses] == [201] * RETRIES
    assert len({response.json["media"]["id"] for response in responses}) == 1
    assert all(response.json["upload"]["url"] for response in responses)
