"""What other packages use: owned media, attaching, signed links, info; and the clean-up of unattached media."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.db import db, utcnow
from core.errors import Conflict, NotFound
from media import services
from media.models import Media
from tests.media import samples


@pytest.fixture
def two_photos(upload, run_jobs) -> list[int]:
    ids = [upload(samples.jpeg(400 + n, 300)).json["id"] for n in range(2)]
    run_jobs()
    return ids


def test_owned_media_are_the_residents_own_ones(app, two_photos, sign_in, upload):
    other = upload(samples.jpeg(320, 240), headers=sign_in("oSomeoneElse00000000000000001")).json["id"]
    with app.app_context():
        owner = services.media_info(two_photos[0]).owner_resident_id
        found = services.get_owned_media(owner, [two_photos[1], other, 99_999, two_photos[0], two_photos[1]])
        assert [info.id for info in found] == [two_photos[1], two_photos[0]]
        assert found[0].kind == "photo" and found[0].status == "ready" and found[0].content_type == "image/jpeg"
        assert found[0].gps is not None and abs(found[0].gps[0] - samples.LAT) < 1e-6
        assert found[0].taken_at == dt.datetime(2026, 5, 4, 1, 30, 15, tzinfo=dt.timezone.utc)
        assert services.get_owned_media(owner, []) == []


def test_urls_are_signed_and_the_original_only_when_asked(app, two_photos, fetch):
    with app.app_context():
        urls = services.media_urls(two_photos[0])
        staff_urls = services.media_urls(two_photos[0], include_original=True)
        with pytest.raises(NotFound):
            services.media_info(99_999)
    assert set(urls) == {"large", "thumb"} and set(staff_urls) == {"large", "thumb", "original"}
    url = staff_urls["original"]
    status, original = fetch(url if url.startswith("http") else "http://localhost" + url)
    assert status == 200 and b"SerialSecret" in original  # the evidence copy is kept whole


def test_perceptual_hash_finds_the_same_scene_in_other_bytes(app, upload, run_jobs):
    first = upload(samples.jpeg(1600, 1200, quality=90)).json["id"]
    second = upload(samples.jpeg(1200, 900, quality=70)).json["id"]
    run_jobs()
    with app.app_context():
        hashes = [services.media_info(media_id).perceptual_hash for media_id in (first, second)]
    assert hashes[0] and hashes[1]
    from media.processing import hash_distance

    assert hash_distance(*hashes) <= 6


def test_media_attach_to_one_thing_only(app, two_photos):
    with app.app_context():
        services.attach_media(two_photos, attached_to="report:17")
        services.attach_media([two_photos[0]], attached_to="report:17")
        with pytest.raises(Conflict) as refused:
            services.attach_media(two_photos, attached_to="report:18")
        assert refused.value.code == "media_in_use"
        infos = services.get_owned_media(db.session.get(Media, two_photos[0]).owner_resident_id, two_photos)
        assert services.media_in_use(infos, attaching_to="report:17") == []
        assert services.media_in_use(infos) == two_photos
        db.session.rollback()


def _age(app, media_ids: list[int], hours: int) -> None:
    with app.app_context():
        db.session.execute(sa.update(Media).where(Media.id.in_(media_ids))
                           .values(created_at=utcnow() - dt.timedelta(hours=hours)))
        db.session.commit()


def test_clean_up_deletes_only_old_unattached_media_and_their_files(app, two_photos, upload, stored_keys):
    fresh = upload(samples.jpeg(200, 150)).json["id"]
    with app.app_context():
        services.attach_media([two_photos[0]], attached_to="report:17")
        db.session.commit()
        keys_of_dropped = {key for key in (db.session.get(Media, two_photos[1]).original_key,
                                           db.session.get(Media, two_photos[1]).large_key) if key}
    _age(app, two_photos, hours=25)
    assert keys_of_dropped <= stored_keys()

    result = app.test_cli_runner().invoke(args=["media", "delete-unattached"])
    assert result.exit_code == 0 and "deleted 1 " in result.output
    with app.app_context():
        assert db.session.get(Media, two_photos[1]) is None
        assert db.session.get(Media, two_photos[0]).attached_to == "report:17"
        assert db.session.get(Media, fresh) is not None
    assert not keys_of_dropped & stored_keys()
