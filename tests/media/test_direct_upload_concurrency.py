"""Media worked on by two requests or jobs at once (on a database that commits): a direct upload announced or
completed twice, a resident forgotten or a report filed while a photo is rendered."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from core.config import current_settings
from core.db import db, utcnow
from core.storage import LocalDiskStorage
from media import processing, services
from media.services import uploads
from media.models import Media
from media.settings import MediaSettings
from tests.citizen.helpers import report_body, sign_in, submit
from tests.conftest import LosingQueue, app_on_own_database
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted
from tests.media import samples
from tests.common.media_files import photo_bytes

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


def test_a_direct_upload_completed_twice_at_once_is_checked_and_kept_once(uploading_app, tmp_path, monkeypatch):
    """A double tap on "done": both requests read the media still awaiting its bytes, and each copied the staging
    object to a final key of its own and committed it; the one committed first was left in storage for good (a
    resident's video no erasure finds), and a request copying after the other had deleted the staging object was a
    500. Now the second waits for the first and answers the media it completed."""
    client = uploading_app.test_client()
    auth = sign_in(client, "oDoubleTapCompleter")
    video = samples.encoded(tmp_path / "clip.mp4", "mp4", audio_codec="aac", video_codec="libx264")
    started = client.post("/api/v1/media/uploads", headers=auth, json={
        "kind": "video", "content_type": "video/mp4", "size": len(video),
        "sha256": hashlib.sha256(video).hexdigest()}).json
    upload, media_id = started["upload"], started["media"]["id"]
    if upload["url"].startswith("http://localhost/"):
        data = {**upload["fields"], upload["file_field"]: (io.BytesIO(video), "clip.mp4")}
        sent = client.post(upload["url"], data=data, content_type="multipart/form-data").status_code
    else:
        sent = requests.post(upload["url"], data=upload["fields"], files={upload["file_field"]: ("clip.mp4", video)},
                             timeout=10).status_code
    assert sent in {200, 201, 204}

    probing, go_on = threading.Event(), threading.Event()
    probe = uploads._probe

    def held_probe(incoming, settings):  # the first request is held half-way, its copy made
        if not probing.is_set():
            probing.set()
            assert go_on.wait(timeout=60)
        return probe(incoming, settings)

    monkeypatch.setattr(uploads, "_probe", held_probe)

    def complete():
        return uploading_app.test_client().post(f"/api/v1/media/{media_id}/complete", headers=auth)

    with ThreadPoolExecutor(max_workers=2) as pool, other_connection(uploading_app) as observer:
        first = pool.submit(complete)
        assert probing.wait(timeout=60)
        second = pool.submit(complete)
        # The second either runs through (nothing stops it) or waits for the first's lock (PostgreSQL).
        # (SQLite: it waits at its first statement, its transaction beginning IMMEDIATE behind the first's.)
        while not second.done() and not (second.running() and _waits_for_a_lock(observer)):
            time.sleep(0.01)
        go_on.set()
        answers = [first.result(timeout=60), second.result(timeout=60)]
    assert [answer.status_code for answer in answers] == [200, 200], [answer.json for answer in answers]
    assert {answer.json["id"] for answer in answers} == {media_id}
    storage = uploading_app.extensions["storage"]
    with uploading_app.app_context():
        kept = db.session.get(Media, media_id).original_key
    originals = {key for key in _stored_keys(storage) if key.endswith("/original")}
    assert originals == {kept}


def _held_render(app, monkeypatch, media_id: int):
    """The media's processing job, started in a thread and held in the middle of rendering until ``release`` is set;
    returns (rendering, release, the job's future, the pool)."""
    rendering, release = threading.Event(), threading.Event()
    render_photo = processing.render_photo

    def held(*args, **kwargs):
        rendering.set()
        assert release.wait(60)
        return render_photo(*args, **kwargs)

    monkeypatch.setattr(processing, "render_photo", held)

    def job() -> None:
        with app.app_context():
            services.render_media(media_id, current_settings(MediaSettings))
            db.session.commit()

    pool = ThreadPoolExecutor(max_workers=2)
    return rendering, release, pool.submit(job), pool


def _processing_photo(app, client, auth, monkeypatch) -> int:
    monkeypatch.setitem(app.extensions, "job_queue", LosingQueue())  # its job is run by the test, held
    uploaded = client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(photo_bytes(11)), "photo.jpg")})
    assert uploaded.status_code == 201 and uploaded.json["status"] == "processing", uploaded.json
    return uploaded.json["id"]


def test_a_report_filed_while_its_photo_is_rendered_is_not_held_up_by_the_rendering(uploading_app, monkeypatch):
    """The job held the media's row for the whole rendering (seconds for a video): a report attaching the photo
    meanwhile waited for it, and with it the resident's other submissions."""
    client = uploading_app.test_client()
    auth = sign_in(client, "oQuickReporter")
    media_id = _processing_photo(uploading_app, client, auth, monkeypatch)
    rendering, release, rendered, pool = _held_render(uploading_app, monkeypatch, media_id)
    try:
        assert rendering.wait(30)
        filed = pool.submit(submit, uploading_app.test_client(), auth, report_body([media_id]))
        response = filed.result(timeout=20)
    finally:
        release.set()
        pool.shutdown()
    rendered.result()
    assert response.status_code == 201, response.json
    with uploading_app.app_context():
        media = db.session.get(Media, media_id)
        assert (media.status, media.attached_to) == ("ready", f"report:{response.json['id']}")


def test_a_resident_forgotten_while_a_photo_is_rendered_leaves_no_rendering_behind(uploading_app, monkeypatch):
    """Erasure deleted the original and the row while the job was rendering the photo: the large and thumbnail copies
    the job stored afterwards stayed in storage for good, outside any row. Now the job, finding the media gone once
    it has rendered, deletes what it stored."""
    client = uploading_app.test_client()
    signed = client.post("/api/v1/auth/dev", json={"openid": "oForgottenWhileRendering"}).json
    auth, resident_id = {"Authorization": f"Bearer {signed['token']}"}, signed["resident"]["id"]
    media_id = _processing_photo(uploading_app, client, auth, monkeypatch)
    storage = uploading_app.extensions["storage"]
    mine = lambda: {key for key in _stored_keys(storage) if key.startswith(f"media/{resident_id}/")}  # noqa: E731
    assert len(mine()) == 1

    def forget() -> None:
        with uploading_app.app_context():
            services.forget_resident(resident_id)
            db.session.commit()

    rendering, release, rendered, pool = _held_render(uploading_app, monkeypatch, media_id)
    try:
        assert rendering.wait(30)
        pool.submit(forget).result(timeout=20)
    finally:
        release.set()
        pool.shutdown()
    rendered.result()
    assert mine() == set()


@pytest.mark.services_only
def test_a_photo_attached_while_the_clean_up_runs_is_kept(uploading_app, monkeypatch):
    """The clean-up of unattached media read a photo as unattached while a report was attaching it, deleted its
    files, then (waiting for the report's write) its row: the report kept an id of nothing, its evidence gone. Now
    the clean-up reads the media locked: it waits for the attachment, then finds the photo attached and leaves it."""
    client = uploading_app.test_client()
    auth = sign_in(client, "oAttachingWhileCleaning")
    uploaded = client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(photo_bytes(8)), "photo.jpg")})
    assert uploaded.status_code == 201, uploaded.json
    media_id = uploaded.json["id"]
    with uploading_app.app_context():
        keys = {db.session.get(Media, media_id).original_key}
        later = utcnow() + dt.timedelta(hours=current_settings(MediaSettings).media_unattached_ttl_hours + 1)

    def clean_up() -> int:
        with uploading_app.app_context():
            return services.delete_unattached_media(current_settings(MediaSettings), now=later)

    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(uploading_app) as observer:
        with uncommitted(uploading_app, lambda: services.attach_media([media_id], attached_to="report:1")):
            cleaned = pool.submit(clean_up)
            assert lock_waiters_appear(observer)
        cleaned.result(timeout=60)
    with uploading_app.app_context():
        assert services.media_info(media_id).attached_to == "report:1"
    assert keys <= _stored_keys(uploading_app.extensions["storage"])


def _waits_for_a_lock(observer: sa.Connection) -> bool:
    if observer.dialect.name != "postgresql":
        return True
    waiting = observer.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND datname = current_database()"))
    # PostgreSQL shows pg_stat_activity once per transaction: each look needs one of its own.
    observer.rollback()
    return waiting > 0


def _stored_keys(storage) -> set[str]:  # noqa: ANN001
    if isinstance(storage, LocalDiskStorage):
        return {str(p.relative_to(storage.root)) for p in Path(storage.root).rglob("*") if p.is_file()}
    pages = storage.client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}
