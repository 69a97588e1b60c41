"""What direct uploads and received files leave behind: a used or expired signed upload stores nothing for good, and
the sweep removes staging objects and the temporary folders of a worker killed while receiving."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from pathlib import Path

import requests

from core.config import current_config, current_settings
from core.db import db, utcnow
from core.storage import LocalDiskStorage
from media import services
from media.models import Media
from media.settings import MediaSettings
from tests.media.test_direct_upload import start


def _staging_key(app, media_id: int) -> str:
    with app.app_context():
        return db.session.get(Media, media_id).original_key


def _sweep(app, now: dt.datetime | None = None) -> int:
    with app.app_context():
        return services.remove_upload_leftovers(current_settings(MediaSettings),
                                                services.upload_temp_dir(current_config().media_root), now=now)


def _is_local(app) -> bool:
    return isinstance(app.extensions["storage"], LocalDiskStorage)


def test_a_link_used_again_after_completion_stores_nothing_for_good(app, client, resident, media_file, send_direct,
                                                                    stored_keys):
    """The signed upload still worked for its 15 minutes after /complete, and re-created the staging object, which
    nothing ever deleted. The local disk now refuses the link; S3 cannot revoke a presigned POST, so the sweep deletes
    what it stored."""
    video = media_file("clip.mp4")
    started = start(client, resident, video).json
    media_id, upload = started["media"]["id"], started["upload"]
    staging_key = _staging_key(app, media_id)
    assert send_direct(upload, video) in {200, 201, 204}
    assert client.post(f"/api/v1/media/{media_id}/complete", headers=resident).status_code == 200
    assert staging_key not in stored_keys()

    status = send_direct(upload, video)
    if _is_local(app):
        assert status == 403 and staging_key not in stored_keys()
    swept = app.test_cli_runner().invoke(args=["media", "sweep"])  # as cron runs it
    assert swept.exit_code == 0 and "upload leftovers" in swept.output, swept.output
    assert staging_key not in stored_keys()
    assert client.get(f"/api/v1/media/{media_id}", headers=resident).json["status"] in {"processing", "ready"}


def test_a_link_used_again_after_a_rejected_upload_stores_nothing_for_good(app, client, resident, media_file,
                                                                           send_direct, stored_keys):
    video = media_file("clip.mp4")
    started = start(client, resident, video).json
    media_id, upload = started["media"]["id"], started["upload"]
    staging_key = _staging_key(app, media_id)
    assert send_direct(upload, bytes(len(video))) in {200, 201, 204}
    assert client.post(f"/api/v1/media/{media_id}/complete", headers=resident).status_code == 422

    status = send_direct(upload, video)
    if _is_local(app):
        assert status == 403 and staging_key not in stored_keys()
    _sweep(app)
    assert staging_key not in stored_keys()


def test_an_upload_never_completed_is_removed_once_its_time_is_over(app, client, resident, media_file, send_direct,
                                                                    stored_keys):
    video = media_file("clip.mp4")
    started = start(client, resident, video).json
    media_id = started["media"]["id"]
    staging_key = _staging_key(app, media_id)
    assert send_direct(started["upload"], video) in {200, 201, 204}
    with app.app_context():
        expires_at = db.session.get(Media, media_id).upload_expires_at

    # Still awaited: the bytes may have been sent just before the link expired, and /complete is on its way.
    _sweep(app, now=expires_at + services.DIRECT_UPLOAD_COMPLETION_GRACE - dt.timedelta(seconds=1))
    assert staging_key in stored_keys()
    _sweep(app, now=expires_at + services.DIRECT_UPLOAD_COMPLETION_GRACE + dt.timedelta(seconds=1))
    assert staging_key not in stored_keys()
    assert client.get(f"/api/v1/media/{media_id}", headers=resident).status_code == 404
    again = start(client, resident, video)
    assert again.status_code == 201 and again.json["upload"] is not None


def test_the_sweep_keeps_what_an_upload_in_progress_has_sent(app, client, resident, media_file, send_direct,
                                                             stored_keys):
    video = media_file("clip.mp4")
    started = start(client, resident, video).json
    staging_key = _staging_key(app, started["media"]["id"])
    assert send_direct(started["upload"], video) in {200, 201, 204}
    _sweep(app)
    assert staging_key in stored_keys()
    completed = client.post(f"/api/v1/media/{started['media']['id']}/complete", headers=resident)
    assert completed.status_code == 200, completed.json


def test_the_sweep_removes_only_old_upload_folders(app, tmp_path):
    with app.app_context():
        directory = services.upload_temp_dir(current_config().media_root)
    old, fresh, other = directory / "upload-killed", directory / "upload-receiving", directory / "someone-elses"
    for folder in (old, fresh, other):
        folder.mkdir()
        (folder / "part-0").write_bytes(b"x" * 10)
    long_ago = time.time() - services.UPLOAD_TEMP_MAX_AGE.total_seconds() - 60
    for path in (old, old / "part-0", other, other / "part-0"):
        os.utime(path, (long_ago, long_ago))
    # A folder made long ago whose file is still being written is in use.
    os.utime(fresh, (long_ago, long_ago))
    try:
        _sweep(app)
        assert not old.exists() and fresh.exists() and other.exists()
    finally:
        for folder in (fresh, other):
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


def _worker_receiving(gunicorn_workers: list[int], directory: Path) -> int | None:
    """The worker with a file open in ``directory``."""
    for pid in gunicorn_workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if Path(os.readlink(fd)).is_relative_to(directory):
                    return pid
            except OSError:
                continue
    return None


def test_the_folder_of_a_worker_killed_while_receiving_is_swept(gunicorn_app):
    """A worker SIGKILLed while a file streamed in left its upload-* folder (and the part in it) for good."""
    from tests.media.test_serving import _gunicorn_workers

    with gunicorn_app.app.app_context():
        directory = services.upload_temp_dir(current_config().media_root)
    headers = gunicorn_app.sign_in("oKilledWhileReceiving000001")
    boundary = "leftoverboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    killed = threading.Event()

    def body():
        yield head + b"\x00\x00\x00\x18ftypmp42" + bytes(1024 * 1024)
        killed.wait(60)  # the rest never comes: the worker is gone

    def send() -> None:
        try:  # chunked, as a generator body is sent
            requests.post(f"{gunicorn_app.url}/api/v1/media", data=body(), timeout=60,
                          headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        except requests.RequestException:
            pass

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 60
        worker = None
        while worker is None and time.monotonic() < deadline:
            worker = _worker_receiving(_gunicorn_workers(gunicorn_app.url), directory)
            time.sleep(0.1)
        assert worker is not None, "no worker received the upload"
        os.kill(worker, signal.SIGKILL)
    finally:
        killed.set()
        sender.join(60)
    left = [path for path in directory.iterdir() if path.name.startswith("upload-")]
    assert left and all(any(path.iterdir()) for path in left)

    _sweep(gunicorn_app.app, now=utcnow() + services.UPLOAD_TEMP_MAX_AGE - dt.timedelta(minutes=1))
    assert all(path.exists() for path in left)
    _sweep(gunicorn_app.app, now=utcnow() + services.UPLOAD_TEMP_MAX_AGE + dt.timedelta(minutes=1))
    assert not any(path.exists() for path in left)
