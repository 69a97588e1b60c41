"""Uploads the size phones make, sent as wx.uploadFile sends them (multipart), through gunicorn and the test client."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import requests
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from core.db import db
from media import services
from media.models import Media
from media.settings import MediaSettings
from tests.common.media_files import phone_photo_bytes, phone_video_file
from tests.common.stack import wait_until

# Several MB of entropy-coded JPEG: CR and LF bytes all through it, as in every real photo.
PHONE_PHOTO = phone_photo_bytes(18)


def stored_original(app, media_id: int) -> bytes:
    with app.app_context():
        return app.extensions["storage"].get(db.session.get(Media, media_id).original_key)


def test_the_phone_photo_is_what_a_phone_sends():
    assert len(PHONE_PHOTO) > 4_000_000
    assert PHONE_PHOTO.count(b"\r") > 1000 and PHONE_PHOTO.count(b"\n") > 1000


def test_a_phone_photo_is_stored_whole_through_gunicorn(gunicorn_app):
    headers = gunicorn_app.sign_in("oServedUploadPhoto0000000001")
    answer = requests.post(f"{gunicorn_app.url}/api/v1/media", headers=headers, timeout=120,
                           files={"file": ("wxfile://tmp_3f2a.jpg", PHONE_PHOTO, "image/jpeg")})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["kind"], body["size"], body["width"], body["height"]) == ("photo", len(PHONE_PHOTO), 4000, 3000)
    assert stored_original(gunicorn_app.app, body["id"]) == PHONE_PHOTO


def through_test_client(client, headers: dict[str, str], data: bytes, filename: str = "photo.jpg"):
    # Encoded here in memory: the test client would spool a body over 500 KB to a temporary file it never closes.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename)})
    return client.post("/api/v1/media", headers=headers, data=body,
                       content_type=f'multipart/form-data; boundary="{boundary}"')


def test_a_phone_photo_is_stored_whole_through_the_test_client(client, resident, app):
    response = through_test_client(client, resident, PHONE_PHOTO)
    assert response.status_code == 201, response.json
    assert response.json["size"] == len(PHONE_PHOTO)
    assert stored_original(app, response.json["id"]) == PHONE_PHOTO


def test_a_20_mb_photo_is_accepted_through_gunicorn_and_the_test_client(gunicorn_app, client, resident):
    photo = phone_photo_bytes(20, megapixels=18, noise=0.95, quality=95)
    media_settings = gunicorn_app.app.config["APP_SETTINGS"].area(MediaSettings)
    assert 20_000_000 < len(photo) <= services.max_bytes("photo", media_settings)
    answer = requests.post(f"{gunicorn_app.url}/api/v1/media",
                           headers=gunicorn_app.sign_in("oServedUploadBig00000000001"),
                           files={"file": ("photo.jpg", photo, "image/jpeg")}, timeout=300)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["size"], answer.json()["sha256"]) == (len(photo), hashlib.sha256(photo).hexdigest())
    response = through_test_client(client, resident, photo)
    assert response.status_code == 201, response.json
    assert response.json["sha256"] == hashlib.sha256(photo).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def listening_processes(port: int) -> list[int]:
    """The processes holding the socket that listens on ``port`` (gunicorn's master and its workers)."""
    inodes = {fields[9] for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
              if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port}
    holders = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd)[len("socket:["):-1] in inodes for fd in fd_dir.iterdir()):
                holders.append(int(fd_dir.parent.name))
        except OSError:  # gone meanwhile, or another user's
            continue
    return holders


def gunicorn_workers(url: str) -> list[int]:
    """The worker processes of the gunicorn serving ``url``: the holders of its socket whose parent holds it too."""
    holders = listening_processes(int(url.rsplit(":", 1)[1]))
    return [pid for pid in holders if parent_of(pid) in holders]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak resident since the last reset) of a process."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {name: int(value.split()[0]) for name, _, value in (line.partition(":") for line in lines)
            if name in {"VmRSS", "VmHWM"}}


def reset_peak_memory(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # proc(5): VmHWM starts again from VmRSS


def multipart_parts(filename: str, content_type: str) -> tuple[bytes, bytes, str]:
    """What wx.uploadFile sends before and after the bytes of a file, and the request's Content-Type."""
    boundary = "----WxUploadBoundary7MA4YWxkTrZu0gW"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def warm_up_every_worker(served, workers: list[int], tmp_path: Path) -> None:
    """Have each gunicorn worker store and process a small video, loading what that takes (PyAV, boto3's transfer
    threads) before memory is measured. Uploads whose body waits hold a worker each, so the last goes to the one
    left; then the waiting bodies are sent."""
    release = threading.Event()
    answers: list[int] = []

    def held_upload(path: Path) -> None:
        head, tail, content_type = multipart_parts("small.mp4", "video/mp4")

        def body() -> Iterator[bytes]:
            yield head
            release.wait(60)
            yield path.read_bytes() + tail

        headers = {**served.sign_in(f"oServedWarmUp{path.stem}"), "Content-Type": content_type}
        answers.append(requests.post(f"{served.url}/api/v1/media", data=body(), timeout=120,
                                     headers=headers).status_code)

    videos = [phone_video_file(tmp_path / f"warm{index:015d}.mp4", 1_000_000, seed=100 + index)
              for index in range(len(workers))]
    held = [threading.Thread(target=held_upload, args=(video,)) for video in videos[1:]]
    for thread in held:
        thread.start()
    try:
        with videos[0].open("rb") as f:
            last = requests.post(f"{served.url}/api/v1/media", headers=served.sign_in("oServedWarmUpLast"),
                                 files={"file": ("small.mp4", f, "video/mp4")}, timeout=120)
        assert last.status_code == 201, last.text
    finally:
        release.set()
        for thread in held:
            thread.join()
    assert answers == [201] * len(held)


def wait_until_processed(served, headers: dict[str, str], media_id: int) -> dict:
    answers: list[dict] = []

    def processed() -> bool:
        answers.append(requests.get(f"{served.url}/api/v1/media/{media_id}", headers=headers, timeout=30).json())
        return answers[-1]["status"] != "processing"

    wait_until(processed, seconds=600, what=f"processing of media {media_id}")
    return answers[-1]


def test_a_100_mb_video_streams_through_a_worker_in_little_memory(gunicorn_app, tmp_path):
    video = phone_video_file(tmp_path / "video.mp4", 100_000_000, seed=3)
    head, tail, content_type = multipart_parts("wxfile://tmp_video.mp4", "video/mp4")
    body = tmp_path / "body"
    with body.open("wb") as out, video.open("rb") as source:
        out.write(head)
        shutil.copyfileobj(source, out)
        out.write(tail)
    workers = gunicorn_workers(gunicorn_app.url)
    warm_up_every_worker(gunicorn_app, workers, tmp_path)
    idle = {}
    for pid in workers:
        reset_peak_memory(pid)
        idle[pid] = memory_kib(pid)["VmRSS"]
    headers = gunicorn_app.sign_in("oServedUploadVideo0000000001")
    with body.open("rb") as stream:  # sent from the file: requests reads it as it goes
        answer = requests.post(f"{gunicorn_app.url}/api/v1/media", data=stream, timeout=600,
                               headers={**headers, "Content-Type": content_type})
    assert answer.status_code == 201, answer.text
    growth_kib = {pid: memory_kib(pid)["VmHWM"] - idle[pid] for pid in workers}
    assert (answer.json()["kind"], answer.json()["size"]) == ("video", 100_000_000)
    assert answer.json()["sha256"] == file_sha256(video)
    # Through the worker's peak, as the embedded default runs the processing there too (the services pass on rq).
    print(f"idle RSS {idle} KiB; peak above it {growth_kib} KiB")
    assert max(growth_kib.values()) < 50 * 1024
    assert wait_until_processed(gunicorn_app, headers, answer.json()["id"])["status"] == "ready"
