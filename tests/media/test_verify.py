"""`flask media verify`: the media rows and the stored objects agree, or each disagreement is reported — on the local
disk (embedded pass) and on S3 (services pass) — and `--repair` mends only what is safe to mend."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from core.config import current_settings
from core.db import db, utcnow
from core.storage import LocalDiskStorage, ObjectStorage, S3Storage
from media import services
from media.models import Media
from media.settings import MediaSettings
from tests.common.media_files import photo_bytes
from tests.media.test_direct_upload import start

RETENTION = dt.timedelta(hours=MediaSettings.media_orphan_retention_hours)
# An object no row refers to, as a write that never committed leaves it.
STRAY = "media/7/999999-0123456789abcdef/original"


@pytest.fixture
def storage(app: Flask, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ObjectStorage:
    """A store of the test's own (the shared one holds every other test's objects, whose rows were rolled back)."""
    shared = app.extensions["storage"]
    if isinstance(shared, S3Storage):
        own: ObjectStorage = S3Storage(shared.client, f"verify-{uuid.uuid4().hex[:12]}")
        shared.client.create_bucket(Bucket=own.bucket)
    else:
        own = LocalDiskStorage(tmp_path / "store", shared.signer)
    monkeypatch.setitem(app.extensions, "storage", own)
    return own


@pytest.fixture
def photos(app: Flask, client, resident, storage, run_jobs) -> Callable[[int], list[Media]]:
    """``photos(n)``: n photos uploaded through the API and rendered, committed as a request commits them."""
    def make(count: int) -> list[Media]:
        ids = []
        for seed in range(count):
            answer = client.post("/api/v1/media", headers=resident, content_type="multipart/form-data",
                                 data={"file": (io.BytesIO(photo_bytes(seed)), "photo.jpg")})
            assert answer.status_code == 201, answer.json
            ids.append(answer.json["id"])
        run_jobs()
        rows = [db.session.get(Media, media_id, populate_existing=True) for media_id in ids]
        assert all(row.status == "ready" and row.large_key and row.thumb_key for row in rows)
        return rows

    return make


def verify(*, later: dt.timedelta = dt.timedelta(0), **options: object) -> tuple[services.Verification, list]:
    problems: list[services.Problem] = []
    run = services.verify_media(current_settings(MediaSettings), report=problems.append, now=utcnow() + later,
                                **options)
    return run, problems


def test_media_and_objects_that_agree_pass(app_ctx, photos, storage):
    rows = photos(3)
    run, problems = verify(checksums=True, batch_size=2)
    assert problems == [] and run.unrepaired == 0
    assert run.media == 3 and run.objects == 9 and run.hashed == 3
    assert run.bytes == sum(stored.size for stored in storage.objects())
    assert run.bytes > sum(row.size for row in rows)


def test_a_missing_original_and_missing_derivatives_are_reported(app_ctx, photos, storage):
    lost_original, lost_thumb = photos(2)
    storage.delete(lost_original.original_key)
    storage.delete(lost_thumb.thumb_key)
    run, problems = verify(batch_size=1)
    assert sorted((p.kind, p.media_id, p.role, p.key) for p in problems) == sorted([
        ("missing", lost_original.id, "original", lost_original.original_key),
        ("missing", lost_thumb.id, "thumb", lost_thumb.thumb_key)])
    assert run.problems["missing"] == 2 and run.unrepaired == 2


def test_repair_renders_missing_derivatives_again_but_never_touches_a_row_without_its_original(
        app_ctx, photos, storage, run_jobs):
    rendered, orphaned_row = photos(2)
    storage.delete(rendered.large_key)
    storage.delete(rendered.thumb_key)
    storage.delete(orphaned_row.original_key)
    run, problems = verify(repair=True)
    requeued = {(p.media_id, p.role) for p in problems if p.repair == "requeued"}
    assert requeued == {(rendered.id, "large"), (rendered.id, "thumb")}
    assert [(p.media_id, p.role, p.repair) for p in problems if p.media_id == orphaned_row.id] == [
        (orphaned_row.id, "original", None)]
    assert run.repaired == {"requeued": 2} and run.unrepaired == 1
    run_jobs()
    again = db.session.get(Media, rendered.id, populate_existing=True)
    assert again.status == "ready" and storage.exists(again.large_key) and storage.exists(again.thumb_key)
    assert db.session.get(Media, orphaned_row.id) is not None  # a reported row is never deleted
    run, problems = verify()
    assert [(p.media_id, p.role) for p in problems] == [(orphaned_row.id, "original")]


def test_unreferenced_objects_are_reported_once_past_their_retention_and_repair_deletes_them(
        app_ctx, photos, storage):
    (kept,) = photos(1)
    storage.put(STRAY, b"a write that never committed", "image/jpeg")
    storage.put("exports/left-behind.csv", b"a,b\n", "text/csv")  # no media key at all
    run, problems = verify()
    assert problems == [] and run.recent_unreferenced == 2 and run.unrepaired == 0

    run, problems = verify(later=RETENTION + dt.timedelta(hours=1), batch_size=2)
    assert sorted((p.kind, p.key, p.found) for p in problems) == [
        ("unreferenced", "exports/left-behind.csv", 4), ("unreferenced", STRAY, 28)]
    assert storage.exists(STRAY)  # reporting deletes nothing

    run, problems = verify(later=RETENTION + dt.timedelta(hours=1), repair=True)
    assert {p.key: p.repair for p in problems} == {STRAY: "deleted", "exports/left-behind.csv": "deleted"}
    assert run.unrepaired == 0
    assert not storage.exists(STRAY) and not storage.exists("exports/left-behind.csv")
    assert all(storage.exists(key) for key in (kept.original_key, kept.large_key, kept.thumb_key))


def test_a_direct_upload_in_flight_is_neither_a_problem_nor_repaired_away(app_ctx, client, resident,
                                                                          storage, send_direct):
    photo = photo_bytes(11)
    started = start(client, resident, photo, kind="photo", content_type="image/jpeg").json
    assert send_direct(started["upload"], photo) in {200, 201, 204}
    staging_key = db.session.get(Media, started["media"]["id"]).original_key
    assert storage.exists(staging_key)
    run, problems = verify(later=RETENTION * 2, repair=True)
    assert problems == [] and run.recent_unreferenced == 0 and storage.exists(staging_key)
    assert client.post(f"/api/v1/media/{started['media']['id']}/complete", headers=resident).status_code == 200


def test_sizes_always_and_checksums_when_asked(app_ctx, photos, storage):
    resized, altered = photos(2)
    storage.put(resized.original_key, b"truncated", "image/jpeg")
    body = bytearray(storage.get(altered.original_key))
    body[-3] ^= 0xFF  # one bit rot, same size
    storage.put(altered.original_key, bytes(body), "image/jpeg")

    run, problems = verify()
    assert [(p.kind, p.media_id, p.expected, p.found) for p in problems] == [
        ("size_mismatch", resized.id, resized.size, 9)]
    run, problems = verify(checksums=True, repair=True)
    assert sorted((p.kind, p.media_id, p.repair) for p in problems) == [
        ("checksum_mismatch", altered.id, None), ("size_mismatch", resized.id, None)]
    assert run.unrepaired == 2 and storage.get(resized.original_key) == b"truncated"


def test_the_command_prints_a_summary_or_json_and_fails_while_problems_remain(app: Flask, photos, storage):
    with app.app_context():
        (photo,) = photos(1)
        thumb = photo.thumb_key
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["media", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "checked 1 media rows and 3 objects" in clean.output and "OK:" in clean.output

    storage.delete(thumb)
    found = runner.invoke(args=["media", "verify", "--json", "--checksums"])
    assert found.exit_code == 1, found.output
    document = json.loads(found.output)
    assert document["problems"] == [{"kind": "missing", "key": thumb, "media_id": photo.id, "role": "thumb"}]
    assert document["summary"]["problems"]["missing"] == 1 and document["summary"]["hashed"] == 1

    repaired = runner.invoke(args=["media", "verify", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"missing: {thumb} (media {photo.id} thumb) — requeued" in repaired.output
    assert "repaired: 1 requeued" in repaired.output


def test_a_public_copy_is_its_own_original_and_is_never_rendered_from_itself(app_ctx, photos, storage):
    """A moderator's blurred copy keeps its large rendition as its original: checked once, by its row's size and
    SHA-256, and a lost thumbnail is reported but not re-rendered (the copy has nothing behind it to render from)."""
    (photo,) = photos(1)
    copy = db.session.get(Media, services.create_public_copy(photo.id, [[0.1, 0.1, 0.3, 0.3]],
                                                             attached_to="report:1"))
    db.session.commit()
    assert copy.original_key == copy.large_key
    run, problems = verify(checksums=True)
    assert problems == [] and run.media == 2 and run.objects == 5 and run.hashed == 2

    storage.delete(copy.thumb_key)
    run, problems = verify(repair=True)
    assert [(p.kind, p.media_id, p.role, p.repair) for p in problems] == [("missing", copy.id, "thumb", None)]
    assert db.session.get(Media, copy.id, populate_existing=True).status == "ready"
