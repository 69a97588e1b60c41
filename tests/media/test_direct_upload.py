"""Large files go straight to storage on a signed upload; completing checks size, hash and type."""

from __future__ import annotations

import hashlib

import pytest

from tests.media import samples


def start(client, resident, data: bytes, *, kind: str = "video", content_type: str = "video/mp4", **changes):
    body = {"kind": kind, "content_type": content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), **changes}
    return client.post("/api/v1/media/uploads", headers=resident, json=body)


def test_a_video_uploaded_straight_to_storage_counts_once_completed(client, resident, media_file, send_direct,
                                                                    run_jobs, fetch):
    video = media_file("clip.mp4")
    started = start(client, resident, video)
    assert started.status_code == 201, started.json
    media, upload = started.json["media"], started.json["upload"]
    assert media["status"] == "awaiting_upload" and media["urls"] == {}
    assert upload["method"] == "POST" and upload["file_field"] == "file"
    assert client.get("/api/v1/media/" + str(media["id"]), headers=resident).json["status"] == "awaiting_upload"

    assert send_direct(upload, video) in {200, 201, 204}
    completed = client.post(f"/api/v1/media/{media['id']}/complete", headers=resident)
    assert completed.status_code == 200, completed.json
    assert completed.json["kind"] == "video" and completed.json["width"] == 320
    assert completed.json["status"] in {"processing", "ready"}
    run_jobs()
    final = client.get(f"/api/v1/media/{media['id']}", headers=resident).json
    assert final["status"] == "ready" and set(final["urls"]) == {"large", "thumb"}
    assert fetch(final["urls"]["large"])[0] == 200
    # Completing again, or starting the same bytes again, changes nothing.
    assert client.post(f"/api/v1/media/{media['id']}/complete", headers=resident).json["id"] == media["id"]
    again = start(client, resident, video).json
    assert again["media"]["id"] == media["id"] and again["upload"] is None


def test_completing_before_the_upload_is_a_conflict(client, resident):
    media = start(client, resident, b"x" * 1000).json["media"]
    response = client.post(f"/api/v1/media/{media['id']}/complete", headers=resident)
    assert response.status_code == 409 and response.json["error"]["code"] == "upload_missing"


@pytest.mark.parametrize(("kind", "content_type", "send_other_bytes", "code"), [
    ("video", "video/mp4", True, "hash_mismatch"),
    ("photo", "image/jpeg", False, "kind_mismatch"),
])
def test_a_wrong_upload_is_refused_and_removed(client, resident, media_file, send_direct, stored_keys,
                                               kind, content_type, send_other_bytes, code):
    video = media_file("clip.mp4")
    before = stored_keys()
    started = start(client, resident, video, kind=kind, content_type=content_type).json
    media_id = started["media"]["id"]
    assert send_direct(started["upload"], bytes(len(video)) if send_other_bytes else video) in {200, 201, 204}
    response = client.post(f"/api/v1/media/{media_id}/complete", headers=resident)
    assert response.status_code == 422 and response.json["error"]["code"] == code
    assert client.get(f"/api/v1/media/{media_id}", headers=resident).status_code == 404
    assert stored_keys() == before


def test_unsupported_or_oversized_declarations_are_refused(client, resident, settings):
    assert start(client, resident, b"<svg/>", kind="photo", content_type="image/svg+xml").status_code == 415
    assert start(client, resident, b"x", kind="audio", content_type="video/mp4").status_code == 415
    settings(media_video_max_bytes=100)
    response = start(client, resident, b"x" * 101)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    invalid = start(client, resident, b"x", sha256="z" * 64)
    assert invalid.status_code == 422 and invalid.json["error"]["code"] == "validation_error"


def test_someone_elses_upload_cannot_be_completed(client, resident, sign_in):
    media = start(client, resident, samples.jpeg(100, 100), kind="photo", content_type="image/jpeg").json["media"]
    stranger = sign_in("oStrangerResident000000000002")
    assert client.post(f"/api/v1/media/{media['id']}/complete", headers=stranger).status_code == 404


def test_a_body_of_another_size_is_refused(app, client, resident, stored_keys):
    from core.db import db
    from media.models import Media

    media = start(client, resident, b"x" * 1000).json["media"]
    with app.app_context():
        staging_key = db.session.get(Media, media["id"]).original_key
        # What a store that does not enforce the signed length (moto, a misconfigured gateway) may hold.
        app.extensions["storage"].put(staging_key, b"x" * 999, "video/mp4")
    response = client.post(f"/api/v1/media/{media['id']}/complete", headers=resident)
    assert response.status_code == 422 and response.json["error"]["details"] == {"declared": 1000, "received": 999}
    assert staging_key not in stored_keys()


def test_an_upload_started_again_after_its_bytes_were_sent_leaves_no_copy_behind(client, resident, media_file,
                                                                                 send_direct, stored_keys):
    """The app sent the bytes, was closed before completing, and started the same upload again: each start signed a
    new staging key, and the bytes sent to the first stayed in storage for good, outside the media's keys (no expiry,
    completion or erasure ever deleted them)."""
    video = media_file("clip.mp4")
    before = stored_keys()
    first = start(client, resident, video).json
    assert send_direct(first["upload"], video) in {200, 201, 204}
    again = start(client, resident, video).json
    assert again["media"]["id"] == first["media"]["id"] and again["upload"] is not None
    assert send_direct(again["upload"], video) in {200, 201, 204}
    completed = client.post(f"/api/v1/media/{first['media']['id']}/complete", headers=resident)
    assert completed.status_code == 200, completed.json
    originals = [key for key in stored_keys() - before if key.endswith("/original")]
    assert len(originals) == 1, originals
