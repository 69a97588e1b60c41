"""Uploading through the app: every accepted format, privacy of derivatives and links, every refusal."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import redis

from core.db import db, utcnow
from core.jobs import RqQueue
from media import services
from media.models import Media
from media.processing import THUMB_EDGE
from tests.media import samples
from tests.media.conftest import image_of
from tests.common.media_files import photo_bytes
from tests.common.stack import free_port

PRIVATE_MARKERS = (b"SerialSecret", b"MAKERNOTE-SECRET", b"Huawei", b"ICC-PROFILE", b"Exif\x00\x00",
                   b"36.0671", b"iPhone", b"Apple")


def ready(client, resident, run_jobs, response) -> dict:
    assert response.status_code in {200, 201}, response.json
    run_jobs()
    media = client.get(f"/api/v1/media/{response.json['id']}", headers=resident).json
    assert media["status"] == "ready", media
    return media


def assert_private(data: bytes) -> None:
    for marker in PRIVATE_MARKERS:
        assert marker not in data, marker


def test_a_camera_jpeg_gives_gps_time_oriented_derivatives_without_metadata(client, resident, upload, run_jobs, fetch):
    original = samples.jpeg(1600, 1200, orientation=6)
    response = upload(original)
    assert response.status_code == 201
    body = response.json
    assert body["kind"] == "photo" and body["content_type"] == "image/jpeg" and body["size"] == len(original)
    assert abs(body["gps"]["lat"] - samples.LAT) < 1e-6 and abs(body["gps"]["lng"] - samples.LNG) < 1e-6
    assert dt.datetime.fromisoformat(body["taken_at"]) == dt.datetime(2026, 5, 4, 1, 30, 15, tzinfo=dt.timezone.utc)
    assert (body["width"], body["height"]) == (1200, 1600)  # as displayed: orientation 6 is a quarter turn
    assert body["status"] in {"processing", "ready"}

    media = ready(client, resident, run_jobs, response)
    assert set(media["urls"]) == {"large", "thumb"}
    status, large = fetch(media["urls"]["large"])
    assert status == 200
    _, thumb = fetch(media["urls"]["thumb"])
    large_image, thumb_image = image_of(large), image_of(thumb)
    assert large_image.size == (960, 1280) and max(thumb_image.size) == THUMB_EDGE
    for data, image in ((large, large_image), (thumb, thumb_image)):
        assert not image.getexif() and "xmp" not in image.info and "icc_profile" not in image.info
        assert_private(data)
    # Turned upright: the ground (green) is at the bottom of the displayed picture.
    red, green, _ = large_image.getpixel((480, 1270))
    assert green > red


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp"),
                                                   ("HEIF", "image/heic")])
def test_other_photo_formats(client, resident, upload, run_jobs, fetch, fmt, content_type):
    response = upload(samples.photo(fmt, 800, 600), filename="x.bin", content_type="application/octet-stream")
    assert response.status_code == 201 and response.json["content_type"] == content_type
    assert (response.json["width"], response.json["height"]) == (800, 600)
    media = ready(client, resident, run_jobs, response)
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).format == "JPEG" and image_of(large).size == (800, 600)
    assert_private(large)


def test_a_small_jpeg_keeps_its_pixels_and_loses_its_metadata(client, resident, upload, run_jobs, fetch):
    original = samples.jpeg(640, 480)
    media = ready(client, resident, run_jobs, upload(original))
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).tobytes() == image_of(original).tobytes()
    assert_private(large)


def test_a_small_jpeg_loses_what_follows_its_picture_too(client, resident, upload, run_jobs, fetch):
    """Phones append more after the picture's end (MPF previews, motion photos), with a camera's EXIF of its own."""
    picture = samples.jpeg(640, 480, gps=False)
    media = ready(client, resident, run_jobs, upload(picture + samples.jpeg(320, 240)))
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).tobytes() == image_of(picture).tobytes()
    assert_private(large)


@pytest.mark.parametrize(("name", "content_type", "seconds"), [
    ("voice.m4a", "audio/mp4", 2.0), ("voice.aac", "audio/aac", 2.0), ("voice.mp3", "audio/mpeg", 2.0),
    ("voice.wav", "audio/wav", 1.5)])
def test_voice_notes(client, resident, upload, run_jobs, fetch, media_file, name, content_type, seconds):
    response = upload(media_file(name), filename="voice.jpg", content_type="image/jpeg")
    assert response.status_code == 201, response.json
    assert response.json["kind"] == "audio" and response.json["content_type"] == content_type
    assert abs(response.json["duration_s"] - seconds) < 0.1
    assert response.json["width"] is None and response.json["gps"] is None
    media = ready(client, resident, run_jobs, response)
    status, playable = fetch(media["urls"]["large"])
    assert status == 200 and len(playable) > 1000


@pytest.mark.parametrize(("name", "content_type"), [("clip.mp4", "video/mp4"), ("clip.mov", "video/quicktime")])
def test_videos_get_duration_size_a_poster_and_a_copy_without_location(client, resident, upload, run_jobs, fetch,
                                                                      media_file, name, content_type):
    original = media_file(name)
    response = upload(original, filename="clip.bin")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["content_type"], body["width"], body["height"]) == ("video", content_type, 320, 240)
    assert abs(body["duration_s"] - 2.0) < 0.1
    media = ready(client, resident, run_jobs, response)
    _, playable = fetch(media["urls"]["large"])
    _, poster = fetch(media["urls"]["thumb"])
    assert playable[4:8] == b"ftyp" and image_of(poster).size == (THUMB_EDGE, 240)
    assert_private(playable)
    assert_private(poster)


def test_only_the_owner_sees_a_media(client, resident, sign_in, upload):
    media_id = upload(samples.jpeg(400, 300)).json["id"]
    stranger = sign_in("oStrangerResident000000000001")
    assert client.get(f"/api/v1/media/{media_id}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/media/{media_id}").status_code == 401
    assert client.get(f"/api/v1/media/{media_id + 10_000}", headers=resident).status_code == 404


def test_the_same_bytes_twice_give_the_same_media(client, resident, sign_in, upload, stored_keys):
    data = samples.jpeg(500, 400)
    first = upload(data)
    keys = stored_keys()
    second = upload(data)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json["id"] == first.json["id"]
    assert stored_keys() == keys
    other = upload(data, headers=sign_in("oOtherResident000000000000001"))
    assert other.status_code == 201 and other.json["id"] != first.json["id"]


def _truncated_mp4(media_file) -> bytes:
    data = media_file("clip.mp4")
    return data[: len(data) - 5000]


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda _: samples.svg(), 415, "unsupported_media_type"),
    (lambda _: b"GIF89a" + b"\x00" * 100, 415, "unsupported_media_type"),
    (lambda _: b"%PDF-1.7\n" + b"x" * 100, 415, "unsupported_media_type"),
    (lambda _: b"", 422, "empty_file"),
    (lambda _: samples.jpeg(800, 600)[:-3000], 422, "corrupt_media"),
    (lambda _: samples.jpeg(800, 600)[:400], 422, "corrupt_media"),
    (lambda _: samples.photo("PNG")[:-2000], 422, "corrupt_media"),
    (lambda _: b"\xff\xd8\xff\xe0" + b"\x00" * 200, 422, "corrupt_media"),
    (_truncated_mp4, 422, "corrupt_media"),
    (lambda _: samples.wav()[:-1000], 422, "corrupt_media"),
])
def test_bad_files_are_refused_and_leave_nothing_behind(app, upload, stored_keys, media_file, make, status, code):
    before = stored_keys()
    with app.app_context():
        rows = db.session.query(Media).count()
    response = upload(make(media_file))
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert stored_keys() == before
    with app.app_context():
        assert db.session.query(Media).count() == rows


def test_a_decompression_bomb_is_refused_before_decoding(upload, stored_keys):
    from PIL import Image

    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, "PNG")  # 64 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    before = stored_keys()
    response = upload(bomb.getvalue())
    assert response.status_code == 422 and response.json["error"]["code"] == "too_many_pixels"
    assert stored_keys() == before


def test_a_missing_file_field_is_named(client, resident):
    response = client.post("/api/v1/media", headers=resident, data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 422 and response.json["error"]["code"] == "file_missing"


def test_limits_come_from_configuration(upload, settings, media_file, stored_keys):
    before = stored_keys()
    photo = samples.jpeg(1600, 1200)
    settings(media_photo_max_bytes=len(photo) - 1, media_audio_max_seconds=1)
    too_big = upload(photo)
    assert too_big.status_code == 413 and too_big.json["error"]["code"] == "payload_too_large"
    assert too_big.json["error"]["details"] == {"kind": "photo", "max_bytes": len(photo) - 1}
    too_long = upload(media_file("voice.wav"))
    assert too_long.status_code == 422 and too_long.json["error"]["code"] == "too_long"
    settings(media_photo_max_pixels=100_000)
    too_many = upload(samples.jpeg(400, 300))
    assert too_many.status_code == 422 and too_many.json["error"]["code"] == "too_many_pixels"
    assert stored_keys() == before


class CountingBody(io.RawIOBase):
    """A request body of ``total`` bytes made on demand, counting how much the server read."""

    def __init__(self, prefix: bytes, total: int) -> None:
        self.prefix, self.total, self.position, self.read_bytes = prefix, total, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.total + offset if whence == 2 else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:  # noqa: ANN001
        count = max(0, min(len(buffer), self.total - self.position))
        start = self.position
        buffer[:count] = (self.prefix[start:start + count] if start < len(self.prefix) else b"").ljust(count, b"\x00")
        self.position += count
        self.read_bytes += count
        return count


def _multipart_prefix(head: bytes) -> bytes:
    return (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + head)


def test_an_oversized_body_is_refused_while_streaming(client, resident, settings, stored_keys):
    settings(media_photo_max_bytes=1_000_000)
    before = stored_keys()
    body = CountingBody(_multipart_prefix(samples.jpeg(64, 64)[:64]), 500 * 1024 * 1024)
    response = client.post("/api/v1/media", headers=resident, input_stream=body,
                           content_type="multipart/form-data; boundary=BOUNDARY",
                           environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""})
    assert response.status_code == 413 and response.json["error"]["details"]["kind"] == "photo"
    assert body.read_bytes < 3_000_000  # stopped just past the photo limit, not at 500 MB
    assert stored_keys() == before


def test_a_declared_length_over_every_limit_is_refused_unread(client, resident):
    body = CountingBody(_multipart_prefix(b""), 500 * 1024 * 1024)
    response = client.post("/api/v1/media", headers=resident, input_stream=body,
                           content_type="multipart/form-data; boundary=BOUNDARY")
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_openapi_documents_the_media_endpoints(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/media", "/api/v1/media/{media_id}", "/api/v1/media/uploads",
            "/api/v1/media/{media_id}/complete"} <= set(paths)
    assert "multipart/form-data" in paths["/api/v1/media"]["post"]["requestBody"]["content"]


def test_an_upload_while_the_job_queue_is_down_is_stored_whole(app, upload, monkeypatch):
    monkeypatch.setitem(app.extensions, "job_queue", RqQueue(redis.Redis(port=free_port(), socket_connect_timeout=1)))
    response = upload(photo_bytes(4242))
    assert response.status_code == 201
    with app.app_context():
        media = db.session.get(Media, response.json["id"])
        assert media.status == "processing"
        assert app.extensions["storage"].exists(media.original_key)


def test_an_upload_whose_processing_job_was_lost_is_processed_by_the_sweep(app, upload, run_jobs, jobs_lost):
    with jobs_lost():
        media_id = upload(photo_bytes(4343)).json["id"]
    run_jobs()
    with app.app_context():
        assert db.session.get(Media, media_id).status == "processing"
        # Not yet: a job queued moments ago may simply not have run.
        assert services.requeue_unprocessed() == 0
        assert services.requeue_unprocessed(now=utcnow() + services.PROCESSING_REQUEUE_AFTER) == 1
        db.session.commit()  # as the sweep's job does when it returns
    run_jobs()
    with app.app_context():
        assert db.session.get(Media, media_id).status == "ready"


def test_an_upright_phone_video_gets_an_upright_poster(client, resident, upload, run_jobs, fetch, tmp_path):
    """Phones store an upright video's frames landscape, with a matrix saying to turn them when shown; the served copy
    keeps that matrix and plays upright, but the poster was the stored frame as it lay: on its side."""
    video = samples.turned_upright(samples.encoded(tmp_path / "upright.mp4", "mp4", audio_codec="aac",
                                                   video_codec="libx264"))
    response = upload(video, filename="upright.mp4")
    assert response.status_code == 201, response.json
    media = ready(client, resident, run_jobs, response)
    poster = image_of(fetch(media["urls"]["thumb"])[1]).convert("RGB")
    assert poster.size == (240, THUMB_EDGE)
    # The picture's sky (blue, its top half) is on the right once turned clockwise, its grass (green) on the left.
    sky, grass = poster.getpixel((200, 20)), poster.getpixel((40, 20))
    assert sky[2] > sky[1] and grass[1] > grass[2], (sky, grass)


def test_an_upright_phone_video_reports_its_displayed_size(client, resident, upload, run_jobs, tmp_path):
    """Stored 320×240 with a quarter turn in its display matrix, it plays 240 wide and 320 high, as its poster shows."""
    video = samples.turned_upright(samples.encoded(tmp_path / "upright.mp4", "mp4", video_codec="libx264"))
    response = upload(video, filename="upright.mp4")
    assert (response.json["width"], response.json["height"]) == (240, 320)
    media = ready(client, resident, run_jobs, response)
    assert (media["width"], media["height"]) == (240, 320)
