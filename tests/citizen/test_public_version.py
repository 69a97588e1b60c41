"""The public version of a report beside its evidence: masked text, photos only as moderators publish them
(blurred in their boxes), and nothing of the resident, in the Open311 feed and the nearby list."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageChops, ImageStat

from cases import services as case_services
from citizen import services
from citizen.models import ReportMedia
from core.db import db
from core.services import Actor
from core.storage import ObjectNotFound
from media.models import Media
from tests.cases.conftest import accept
from tests.cases.test_open311_server import check
from tests.citizen.helpers import QINGDAO, half_detailed_photo, make_photos_public, new_report, sign_in, upload_photo
from tests.core.admin_helpers import admin_post, signed_in_staff
from tests.common.statements import recorded_statements

PRIVATE_TEXT = "门口垃圾堆了一周，车牌鲁B·D12345的车也挡着，联系我13912345678，身份证370202199001011234。"
PUBLIC_TEXT = "门口垃圾堆了一周，车牌［车牌号］的车也挡着，联系我［手机号］，身份证［身份证号］。"
NEARBY = f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84"


@pytest.fixture
def resident(client):
    return sign_in(client, "oPublicVersionResident01")


@pytest.fixture
def neighbour(client):
    return sign_in(client, "oPublicVersionNeighbour1")


@pytest.fixture
def moderator(app):
    return signed_in_staff(app, "public-version-moderator", "moderator")


def accepted(app, client, resident, run_jobs, description: str = PRIVATE_TEXT) -> dict:
    report = new_report(client, resident, description=description,
                        media_ids=[upload_photo(client, resident, data=half_detailed_photo())])
    run_jobs()
    accept(app, report["id"])
    run_jobs()
    return report


def photo_of(app, report_id: int) -> ReportMedia:
    with app.app_context():
        item = services.get_report(report_id).media[0]
        db.session.expunge(item)
        return item


def publish(moderator, report_id: int, media_id: int, *, boxes: list[list[float]], public: bool = True,
            display: tuple[float, float] = (320, 240)):
    form = {"boxes": json.dumps(boxes), "display_width": str(display[0]), "display_height": str(display[1])}
    if public:
        form["is_public"] = "on"
    return admin_post(moderator, f"/admin/reports/{report_id}/photos/{media_id}/publication", form,
                      form_page=f"/admin/reports/{report_id}")


def test_public_views_get_the_masked_text_and_the_resident_and_staff_the_original(app, client, resident, neighbour,
                                                                                  run_jobs, moderator):
    report = accepted(app, client, resident, run_jobs)
    feed = client.get("/open311/v2/requests.json")
    check(feed.json, "requests.json")
    [published] = [item for item in feed.json if item["service_request_id"] == str(report["id"])]
    assert published["description"] == PUBLIC_TEXT
    for path in ("/open311/v2/requests.json", "/open311/v2/requests.xml", f"/open311/v2/requests/{report['id']}.json",
                 f"/open311/v2/requests/{report['id']}.xml"):
        body = client.get(path).get_data(as_text=True)
        assert "13912345678" not in body and "鲁B·D12345" not in body and "370202199001011234" not in body, path
    [nearby] = client.get(NEARBY, headers=neighbour).json["items"]
    assert nearby["description"] == PUBLIC_TEXT
    # The resident reads their own words; moderators see the evidence as written.
    assert client.get(f"/api/v1/reports/{report['id']}", headers=resident).json["description"] == PRIVATE_TEXT
    assert PRIVATE_TEXT in moderator.get(f"/admin/reports/{report['id']}").get_data(as_text=True)


def test_erasing_the_account_masks_the_text_again_and_takes_the_public_copies(app, client, resident, run_jobs):
    report = accepted(app, client, resident, run_jobs)
    make_photos_public(app, report["id"], [[0.1, 0.1, 0.2, 0.2]])
    run_jobs()
    copy_id = photo_of(app, report["id"]).public_media_id
    assert copy_id is not None
    assert client.delete("/api/v1/me", headers=resident).status_code == 204
    with app.app_context():
        assert db.session.get(Media, copy_id) is None
    published = client.get(f"/open311/v2/requests/{report['id']}.json").json[0]
    assert published["media_url"] is None and "13912345678" not in published["description"]


def test_a_photo_is_public_only_once_a_moderator_marks_it_and_then_only_blurred(app, client, resident, neighbour,
                                                                                 run_jobs, moderator, fetch):
    report = accepted(app, client, resident, run_jobs)
    item = photo_of(app, report["id"])
    assert client.get(f"/open311/v2/requests/{report['id']}.json").json[0]["media_url"] is None
    [nearby] = client.get(NEARBY, headers=neighbour).json["items"]
    assert nearby["thumbnail_url"] is None and nearby["photos"] == []

    # Drawn on the photo shown 320 × 240: the top-left quarter of the picture.
    assert publish(moderator, report["id"], item.media_id, boxes=[[0, 0, 160, 120]]).status_code == 302
    run_jobs()
    item = photo_of(app, report["id"])
    assert item.is_public and item.blur_boxes == [[0.0, 0.0, 0.5, 0.5]] and item.public_media_id is not None
    published = client.get(f"/open311/v2/requests/{report['id']}.json").json
    check(published, "requests.json")
    media_url = published[0]["media_url"]
    assert media_url.startswith(("http://", "https://"))
    [nearby] = client.get(NEARBY, headers=neighbour).json["items"]
    assert nearby["photos"][0]["large"].split("?")[0] == media_url.split("?")[0]
    assert fetch(nearby["thumbnail_url"])[0] == 200

    with app.app_context():
        source = Media.__table__
        large_key = db.session.execute(db.select(source.c.large_key).where(source.c.id == item.media_id)).scalar_one()
        original_large = Image.open(io.BytesIO(app.extensions["storage"].get(large_key))).convert("L")
    status, body = fetch(media_url)
    assert status == 200
    public = Image.open(io.BytesIO(body)).convert("L")
    assert public.size == original_large.size
    width, height = public.size
    # The box is on the detailed half; the far end of the flat half must be as it was.
    blurred_quarter, untouched_quarter = (0, 0, width // 2, height // 2), (width * 3 // 4, 0, width, height)
    assert ImageStat.Stat(ImageChops.difference(public.crop(blurred_quarter),
                                                original_large.crop(blurred_quarter))).mean[0] > 3
    assert ImageStat.Stat(ImageChops.difference(public.crop(untouched_quarter),
                                                original_large.crop(untouched_quarter))).mean[0] < 3

    # Taken back: gone from public views, and its copy with it.
    assert publish(moderator, report["id"], item.media_id, boxes=[], public=False).status_code == 302
    run_jobs()
    assert client.get(f"/open311/v2/requests/{report['id']}.json").json[0]["media_url"] is None
    with app.app_context():
        assert db.session.get(Media, item.public_media_id) is None
        assert photo_of(app, report["id"]).public_media_id is None
    assert client.get(NEARBY, headers=neighbour).json["items"][0]["photos"] == []


def test_new_boxes_replace_the_copy(app, client, resident, run_jobs, moderator):
    report = accepted(app, client, resident, run_jobs)
    item = photo_of(app, report["id"])
    publish(moderator, report["id"], item.media_id, boxes=[[10, 10, 40, 40]])
    run_jobs()
    with app.app_context():
        first_key = db.session.get(Media, photo_of(app, report["id"]).public_media_id).large_key
    publish(moderator, report["id"], item.media_id, boxes=[[160, 120, 60, 60]])
    run_jobs()
    with app.app_context():
        second_key = db.session.get(Media, photo_of(app, report["id"]).public_media_id).large_key
        assert second_key != first_key
        with pytest.raises(ObjectNotFound):
            app.extensions["storage"].get(first_key)
        assert services.render_public_photo(report["id"], item.media_id) is None, "a second run makes no second copy"
    assert photo_of(app, report["id"]).blur_boxes == [[0.5, 0.5, 0.1875, 0.25]]


@pytest.mark.parametrize("form", [
    {"boxes": "not json", "display_width": "320", "display_height": "240"},
    {"boxes": "[[1, 2, 3]]", "display_width": "320", "display_height": "240"},
    {"boxes": json.dumps([[0, 0, 1, 1]] * 21), "display_width": "320", "display_height": "240"},
    {"boxes": "[[0, 0, 10, 10]]", "display_width": "0", "display_height": "240"},
    {"boxes": "[[0, 0, 10, 10]]", "display_width": "inf", "display_height": "240"},
    {"boxes": "[[0, 0, 10, 10]]", "display_width": "", "display_height": ""},
])
def test_bad_boxes_are_refused_in_chinese_and_change_nothing(app, client, resident, run_jobs, moderator, form):
    report = accepted(app, client, resident, run_jobs)
    item = photo_of(app, report["id"])
    response = admin_post(moderator, f"/admin/reports/{report['id']}/photos/{item.media_id}/publication",
                          {**form, "is_public": "on"}, form_page=f"/admin/reports/{report['id']}")
    assert response.status_code == 302
    assert "遮挡框" in moderator.get(response.location).get_data(as_text=True)
    after = photo_of(app, report["id"])
    assert (after.is_public, after.blur_boxes, after.public_media_id) == (False, [], None)


def test_a_photo_of_another_report_is_not_found(app, client, resident, run_jobs, moderator):
    first, second = accepted(app, client, resident, run_jobs), accepted(app, client, resident, run_jobs)
    other_photo = photo_of(app, second["id"]).media_id
    response = publish(moderator, first["id"], other_photo, boxes=[])
    assert "该反映没有这张照片" in moderator.get(response.location).get_data(as_text=True)
    assert not photo_of(app, second["id"]).is_public


def test_the_feed_is_paginated(app, client, resident, run_jobs):
    ids = [accepted(app, client, resident, run_jobs, description=f"第{n}条反映。")["id"] for n in range(3)]
    first = client.get("/open311/v2/requests.json?page_size=2").json
    second = client.get("/open311/v2/requests.json?page_size=2&page=2").json
    check(first, "requests.json")
    assert [item["service_request_id"] for item in first + second][:3] == [str(n) for n in reversed(ids)]
    assert len(first) == 2
    assert client.get("/open311/v2/requests.json?page_size=2&page=30").json == []
    for query in ("page_size=101", "page_size=0", "page=0", "page=x", "page_size=%EF%BC%92",
                  "page_size=10&page=101", "service_request_id=" + ",".join(str(n) for n in range(1, 102))):
        refused = client.get(f"/open311/v2/requests.json?{query}")
        assert refused.status_code == 400 and refused.json[0]["code"] == 400, query


def test_the_feed_and_the_nearby_list_are_rate_limited_per_address(app, client, neighbour, override_settings):
    override_settings(rate_limit_open311=(2, 60), rate_limit_nearby=(2, 60))
    for _ in range(2):
        assert client.get("/open311/v2/requests.json").status_code == 200
        assert client.get(NEARBY, headers=neighbour).status_code == 200
    refused = client.get("/open311/v2/requests.xml")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "text/xml"
    assert client.get("/open311/v2/requests.json").json[0]["code"] == 429
    limited = client.get(NEARBY, headers=neighbour)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    other_address = client.get("/open311/v2/requests.json", environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert other_address.status_code == 200


def test_nearby_takes_a_limit(app, client, resident, neighbour, run_jobs):
    for n in range(3):
        accepted(app, client, resident, run_jobs, description=f"附近第{n}条。")
    assert len(client.get(f"{NEARBY}&limit=2", headers=neighbour).json["items"]) == 2
    assert client.get(f"{NEARBY}&limit=51", headers=neighbour).status_code == 422


def test_the_residents_export_holds_what_they_read_not_officers_internal_notes(app, client, resident, run_jobs):
    report = accepted(app, client, resident, run_jobs)
    with app.app_context():
        case = case_services.open_desk_case(report["id"])
        db.session.commit()
        case_services.act_on_desk_case(Actor(None, "调度员"), case.id, "register", roles=("dispatcher",),
                                       expected_version=case.version, note="内部：联系李工 13700001111")
        db.session.commit()
    exported = json.dumps(client.get("/api/v1/me/export", headers=resident).json, ensure_ascii=False)
    assert "李工" not in exported and "13700001111" not in exported
    assert "城市管理监督指挥中心已立案。" in exported


def test_a_page_of_the_feed_costs_the_same_statements_however_many_it_holds(app, client, resident, run_jobs):
    for n in range(3):
        report = accepted(app, client, resident, run_jobs, description=f"第{n}条。")
        make_photos_public(app, report["id"])
    run_jobs()
    per_page = {}
    with recorded_statements(app) as statements:
        for size in (1, 3):
            statements.clear()
            feed = client.get(f"/open311/v2/requests.json?page_size={size}").json
            assert len(feed) == size and all(item["media_url"] for item in feed)
            per_page[size] = len(statements)
    assert per_page[3] == per_page[1]


def test_a_photo_still_being_processed_cannot_be_made_public(app, client, resident, run_jobs, moderator):
    report = accepted(app, client, resident, run_jobs)
    item = photo_of(app, report["id"])
    with app.app_context():
        db.session.get(Media, item.media_id).status = "processing"
        db.session.commit()
    response = publish(moderator, report["id"], item.media_id, boxes=[])
    assert "尚未处理完成" in moderator.get(response.location).get_data(as_text=True)
    assert not photo_of(app, report["id"]).is_public
