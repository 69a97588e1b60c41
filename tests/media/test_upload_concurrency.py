"""Many residents uploading phone photos at once, on the servers that run the app: gunicorn, and the threaded server
of `make run` (the embedded default: SQLite, jobs inline at commit)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from core.db import db
from media.models import Media
from tests.media.test_upload_served import PHONE_PHOTO, multipart_parts, wait_until_processed
from tests.common.media_files import phone_photo_bytes

UPLOADERS = 20


def sign_in(base_url: str, openid: str) -> dict[str, str]:
    answer = requests.post(f"{base_url}/api/v1/auth/dev", json={"openid": openid}, timeout=60)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def residents(base_url: str, name: str) -> list[dict[str, str]]:
    return [sign_in(base_url, f"o{name}{index:0{26 - len(name)}d}") for index in range(UPLOADERS)]


def upload_at_once(base_url: str, residents: list[dict[str, str]]) -> list[requests.Response]:
    """The residents each sending the phone photo at the same time; their answers."""
    start = threading.Barrier(len(residents))

    def upload(headers: dict[str, str]) -> requests.Response:
        start.wait()
        return requests.post(f"{base_url}/api/v1/media", headers=headers, timeout=600,
                             files={"file": ("photo.jpg", PHONE_PHOTO, "image/jpeg")})

    with ThreadPoolExecutor(len(residents)) as pool:
        return list(pool.map(upload, residents))


def test_twenty_phone_photos_at_once_through_the_embedded_server(live_server, live_app):
    answers = upload_at_once(live_server, residents(live_server, "ThreadedUpload"))
    assert [answer.status_code for answer in answers] == [201] * UPLOADERS, [
        a.text for a in answers if a.status_code != 201]
    assert len({answer.json()["id"] for answer in answers}) == UPLOADERS
    if live_app.extensions["redis"] is None:  # processed inline before each answer: none of the jobs failed either
        with live_app.app_context():
            ids = [a.json()["id"] for a in answers]
            statuses = db.session.scalars(sa.select(Media.status).where(Media.id.in_(ids)))
            assert list(statuses) == ["ready"] * UPLOADERS


def test_twenty_phone_photos_at_once_through_gunicorn(gunicorn_app):
    uploaders = residents(gunicorn_app.url, "ServedAtOnce")
    answers = upload_at_once(gunicorn_app.url, uploaders)
    assert [answer.status_code for answer in answers] == [201] * UPLOADERS, [
        a.text for a in answers if a.status_code != 201]
    assert len({answer.json()["id"] for answer in answers}) == UPLOADERS
    for headers, answer in zip(uploaders, answers, strict=True):
        assert wait_until_processed(gunicorn_app, headers, answer.json()["id"])["status"] == "ready"


def test_an_upload_still_arriving_keeps_no_one_else_waiting(gunicorn_app):
    """A phone on a slow network takes many seconds to send a photo; meanwhile others' uploads go through (on
    SQLite a transaction left open while the body arrived held the only write lock: others failed after 30 s)."""
    head, tail, content_type = multipart_parts("photo.jpg", "image/jpeg")
    release = threading.Event()
    slow_answer: list[requests.Response] = []

    def slow_body() -> Iterator[bytes]:
        yield head + PHONE_PHOTO[:len(PHONE_PHOTO) // 2]
        release.wait(120)
        yield PHONE_PHOTO[len(PHONE_PHOTO) // 2:] + tail

    slow_headers = {**sign_in(gunicorn_app.url, "oServedSlowPhone0000000001"), "Content-Type": content_type}
    slow = threading.Thread(target=lambda: slow_answer.append(requests.post(
        f"{gunicorn_app.url}/api/v1/media", data=slow_body(), headers=slow_headers, timeout=600)))
    slow.start()
    try:
        other = requests.post(f"{gunicorn_app.url}/api/v1/media", timeout=600,
                              headers=sign_in(gunicorn_app.url, "oServedFastPhone0000000001"),
                              files={"file": ("photo.jpg", phone_photo_bytes(7, megapixels=2), "image/jpeg")})
    finally:
        release.set()
        slow.join()
    assert other.status_code == 201, other.text
    assert slow_answer[0].status_code == 201, slow_answer[0].text
    assert slow_answer[0].json()["size"] == len(PHONE_PHOTO)
