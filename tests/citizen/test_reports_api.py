"""Residents report street problems: categories, submission, idempotency, their own reports."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.services import lifecycle
from citizen.models import Report
from core.db import db
from core.geo import EARTH_RADIUS_M, haversine_m, wgs84_to_gcj02
from core.services import Actor
from tests.citizen.helpers import (BEIJING, QINGDAO, make_photos_public, new_report, report_body, sign_in, submit,
                                   upload_photo)
from tests.common.statements import recorded_statements

MODERATOR = Actor(staff_id=None, name="test-moderator")


def move(app, report_id: int, *statuses: str) -> None:
    """Walk a report along the lifecycle, as moderators and the case system would."""
    with app.app_context():
        report = services.get_report(report_id)
        for status in statuses:
            services.transition(report, status, actor_kind="staff", actor_name="tester")
        db.session.commit()


@pytest.fixture
def resident(client):
    return sign_in(client, "oResidentA")


@pytest.fixture
def other_resident(client):
    return sign_in(client, "oResidentB")


def test_categories_follow_the_national_classification(client):
    classes = client.get("/api/v1/categories").json["classes"]
    components = [c for c in classes if c["kind"] == "component"]
    events = [c for c in classes if c["kind"] == "event"]
    assert [c["class_code"] for c in components] == ["01", "02", "03", "04", "05", "06"]
    assert [c["class_code"] for c in events] == ["01", "02", "03", "04", "05"]
    every = [category for group in classes for category in group["categories"]]
    assert len({category["id"] for category in every}) == len(every)
    assert all(len(category["code"]) == 4 and category["code"].isdigit() and category["hint"] for category in every)
    assert all(any(c["code"].endswith("99") for c in group["categories"]) for group in classes)
    toilets = next(c for c in every if c["id"] == "B0301")
    assert toilets["name"] == "公共厕所" and toilets["kind"] == "component"


def test_a_resident_submits_a_report(client, resident):
    photo = upload_photo(client, resident)
    response = submit(client, resident, report_body([photo]))
    assert response.status_code == 201
    report = response.json
    assert report["status"] == "pending_review"
    assert report["category"]["id"] == "S0102"
    assert report["district"] == "市南区"
    assert [m["id"] for m in report["media"]] == [photo]
    assert report["timeline"][0]["status"] == "pending_review" and report["timeline"][0]["note"]


def test_photo_links_are_whole_urls_the_mini_program_can_load(app, client, resident, other_resident, run_jobs):
    """As the media API gives them: local-disk links are app paths, and the mini-program needs them whole."""
    report = new_report(client, resident)
    run_jobs()  # the thumbnail is rendered by the photo's processing (on rq with the services)
    move(app, report["id"], "accepted")
    make_photos_public(app, report["id"])
    run_jobs()
    shown = client.get(f"/api/v1/reports/{report['id']}", headers=resident).json
    links = [*shown["media"][0]["urls"].values()]
    nearby = client.get(f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84",
                        headers=other_resident).json["items"]
    links += [item["thumbnail_url"] for item in nearby] + [item["photos"][0]["large"] for item in nearby]
    assert links and all(link.startswith(("http://", "https://")) for link in links), links


def test_gcj02_locations_are_stored_as_wgs84_and_shown_in_both(client, resident):
    gcj = wgs84_to_gcj02(*QINGDAO)
    report = new_report(client, resident, location=gcj, coord_type="gcj02")
    assert report["location"]["wgs84"]["lat"] == pytest.approx(QINGDAO[0], abs=1e-6)
    assert report["location"]["wgs84"]["lng"] == pytest.approx(QINGDAO[1], abs=1e-6)
    assert report["location"]["gcj02"]["lat"] == pytest.approx(gcj[0], abs=1e-6)


def test_the_same_idempotency_key_returns_the_same_report(client, resident):
    body = report_body([upload_photo(client, resident)])
    first = submit(client, resident, body, key="retry-key-0001")
    again = submit(client, resident, body, key="retry-key-0001")
    assert first.status_code == again.status_code == 201
    assert again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/api/v1/reports/mine", headers=resident).json["items"]) == 1


def test_the_same_key_with_a_different_body_is_a_conflict(client, resident):
    body = report_body([upload_photo(client, resident)])
    submit(client, resident, body, key="retry-key-0002")
    changed = submit(client, resident, {**body, "description": "另一个问题"}, key="retry-key-0002")
    assert changed.status_code == 409 and changed.json["error"]["code"] == "idempotency_key_reused"


def test_a_missing_idempotency_key_is_named(client, resident):
    response = client.post("/api/v1/reports", json=report_body([1]), headers=resident)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["error"]["details"]["fields"]["headers"]


def test_a_point_outside_the_city_is_refused(client, resident):
    response = submit(client, resident, report_body([upload_photo(client, resident)], location=BEIJING))
    assert response.status_code == 422 and response.json["error"]["code"] == "outside_service_area"


@pytest.mark.parametrize(("change", "field"), [
    ({"location": {"lat": 200, "lng": 120.38, "coord_type": "wgs84"}}, "location"),
    ({"location": {"lat": 36.06, "lng": 120.38, "coord_type": "bd09"}}, "location"),
    ({"description": "长" * 501}, "description"),
    ({"description": ""}, "description"),
    ({"description": " \u3000\n\t "}, "description"),  # regression: spaces alone were a report
    ({"media_ids": []}, "media_ids"),
    ({"media_ids": ["1"]}, "media_ids"),
])
def test_malformed_fields_are_named(client, resident, change, field):
    response = submit(client, resident, {**report_body([1]), **change})
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]["json"]


def test_a_deleted_report_s_id_is_never_given_again(app, client, resident):
    # Regression: on SQLite the next report took the id of the newest one after its deletion, so the audit
    # entries, deliveries and rewards naming the deleted report pointed at the new one.
    deleted = new_report(client, resident)["id"]
    with app.app_context():
        db.session.delete(db.session.get(Report, deleted))
        db.session.commit()
    assert new_report(client, resident)["id"] > deleted


def test_an_unknown_or_disabled_category_is_refused(app, client, resident):
    photo = upload_photo(client, resident)
    unknown = submit(client, resident, report_body([photo], category="S9999"))
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "invalid_category"
    with app.app_context():
        services.update_category(MODERATOR, "S0102", name="暴露垃圾", hint="h", is_active=False)
        db.session.commit()
    disabled = submit(client, resident, report_body([photo], category="S0102"))
    assert disabled.status_code == 422 and disabled.json["error"]["code"] == "invalid_category"


def test_someone_elses_media_is_refused_naming_the_ids(client, resident, other_resident):
    mine, theirs = upload_photo(client, resident), upload_photo(client, other_resident)
    response = submit(client, resident, report_body([mine, theirs, 987654]))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_media"
    assert response.json["error"]["details"]["media_ids"] == [theirs, 987654]


@pytest.mark.parametrize("impossible_id", [2**31, 2**40, 10**30])
def test_a_media_id_no_database_holds_is_named_like_any_unknown_one(client, resident, impossible_id):
    mine = upload_photo(client, resident)
    response = submit(client, resident, report_body([mine, impossible_id]))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_media"
    assert response.json["error"]["details"]["media_ids"] == [impossible_id]


def test_a_photo_already_on_another_report_is_refused(client, resident):
    """Media belong to one report: retention deleting the photo with a finished report must not take a live
    case's evidence with it."""
    shared = upload_photo(client, resident)
    first = new_report(client, resident, media_ids=[shared])
    response = submit(client, resident, report_body([shared, upload_photo(client, resident)]))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "media_in_use"
    assert response.json["error"]["details"]["media_ids"] == [shared]
    assert [report["id"] for report in client.get("/api/v1/reports/mine", headers=resident).json["items"]] == [
        first["id"]]


def test_ten_photos_are_too_many(client, resident):
    photos = [upload_photo(client, resident) for _ in range(10)]
    response = submit(client, resident, report_body(photos))
    assert response.status_code == 422 and response.json["error"]["details"]["kinds"]["photo"]


def test_my_reports_page_newest_first_with_a_cursor(client, resident):
    ids = [new_report(client, resident)["id"] for _ in range(3)]
    first = client.get("/api/v1/reports/mine?limit=2", headers=resident).json
    assert [r["id"] for r in first["items"]] == [ids[2], ids[1]]
    second = client.get(f"/api/v1/reports/mine?limit=2&cursor={first['next_cursor']}", headers=resident).json
    assert [r["id"] for r in second["items"]] == [ids[0]] and second["next_cursor"] is None


def test_my_reports_page_costs_the_same_statements_for_one_report_or_many(app, client, resident):
    """Found by bench/load.py: 62 statements for a page of 20 (media and timeline loaded report by report)."""
    for _ in range(4):
        new_report(client, resident, media_ids=[upload_photo(client, resident), upload_photo(client, resident)])
    per_page = {}
    with recorded_statements(app) as statements:
        for limit in (1, 4):
            statements.clear()
            assert len(client.get(f"/api/v1/reports/mine?limit={limit}", headers=resident).json["items"]) == limit
            per_page[limit] = len(statements)
    assert per_page[4] == per_page[1]


def test_a_report_is_visible_to_its_owner_only(client, resident, other_resident):
    report = new_report(client, resident)
    assert client.get(f"/api/v1/reports/{report['id']}", headers=resident).status_code == 200
    stranger = client.get(f"/api/v1/reports/{report['id']}", headers=other_resident)
    assert stranger.status_code == 404
    assert client.post(f"/api/v1/reports/{report['id']}/withdraw", headers=other_resident).status_code == 404


def test_withdrawing_is_possible_only_before_review(app, client, resident):
    waiting, reviewed = new_report(client, resident), new_report(client, resident)
    withdrawn = client.post(f"/api/v1/reports/{waiting['id']}/withdraw", headers=resident)
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    move(app, reviewed["id"], "accepted")
    refused = client.post(f"/api/v1/reports/{reviewed['id']}/withdraw", headers=resident)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "illegal_transition"


def changed_by_someone_else_once_read(monkeypatch) -> None:
    """A moderator's (or a concurrent request's) change commits between the resident's read and write."""
    read_report = services.get_resident_report

    def read_then_changed(resident_id: int, report_id: int):
        loaded = read_report(resident_id, report_id)
        db.session.execute(sa.update(Report).where(Report.id == report_id).values(version=Report.version + 1)
                           .execution_options(synchronize_session=False))
        return loaded

    monkeypatch.setattr(lifecycle, "get_resident_report", read_then_changed)


def test_withdrawing_or_rating_a_report_changed_meanwhile_is_a_conflict_not_a_500(app, client, resident, monkeypatch):
    waiting, resolved = new_report(client, resident), new_report(client, resident)
    move(app, resolved["id"], "accepted", "forwarded", "in_progress", "resolved")
    changed_by_someone_else_once_read(monkeypatch)
    withdrawn = client.post(f"/api/v1/reports/{waiting['id']}/withdraw", headers=resident)
    assert withdrawn.status_code == 409 and withdrawn.json["error"]["code"] == "report_changed"
    rated = client.post(f"/api/v1/reports/{resolved['id']}/rating", json={"rating": 5}, headers=resident)
    assert rated.status_code == 409 and rated.json["error"]["code"] == "report_changed"


def test_rating_once_after_resolution(app, client, resident):
    report = new_report(client, resident)
    too_early = client.post(f"/api/v1/reports/{report['id']}/rating", json={"rating": 5}, headers=resident)
    assert too_early.status_code == 409 and too_early.json["error"]["code"] == "not_resolved"
    move(app, report["id"], "accepted", "forwarded", "in_progress", "resolved")
    rated = client.post(f"/api/v1/reports/{report['id']}/rating", json={"rating": 4, "comment": "很快"},
                        headers=resident)
    assert rated.status_code == 200 and rated.json["rating"] == 4
    again = client.post(f"/api/v1/reports/{report['id']}/rating", json={"rating": 1}, headers=resident)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_rated"
    assert [step["status"] for step in rated.json["timeline"]] == [
        "pending_review", "accepted", "forwarded", "in_progress", "resolved"]


def test_a_withdrawn_report_cannot_be_rated(client, resident):
    report = new_report(client, resident)
    client.post(f"/api/v1/reports/{report['id']}/withdraw", headers=resident)
    response = client.post(f"/api/v1/reports/{report['id']}/rating", json={"rating": 5}, headers=resident)
    assert response.status_code == 409


def test_an_out_of_range_rating_is_refused(client, resident):
    report = new_report(client, resident)
    response = client.post(f"/api/v1/reports/{report['id']}/rating", json={"rating": 6}, headers=resident)
    assert response.status_code == 422


def test_nearby_lists_known_open_problems_without_the_reporter(app, client, resident, other_resident):
    known = new_report(client, resident)
    new_report(client, resident)  # still in review: not shown
    move(app, known["id"], "accepted")
    gcj = wgs84_to_gcj02(QINGDAO[0] + 0.001, QINGDAO[1])
    response = client.get(f"/api/v1/reports/nearby?lat={gcj[0]}&lng={gcj[1]}&coord_type=gcj02", headers=other_resident)
    items = response.json["items"]
    assert len(items) == 1
    assert items[0]["status"] == "accepted" and 100 <= items[0]["distance_m"] <= 120
    assert set(items[0]) == {"id", "me_too_count", "relation", "category", "status", "status_name", "description",
                             "location", "distance_m", "thumbnail_url", "photos", "reported_on"}
    assert items[0]["id"] == known["id"] and items[0]["me_too_count"] == 0 and items[0]["relation"] is None
    # No moderator made its photo public: none is shown.
    assert items[0]["thumbnail_url"] is None and items[0]["photos"] == []
    assert "oResidentA" not in response.get_data(as_text=True)


@pytest.mark.parametrize("bearing", ["south", "west"])
def test_nearby_finds_a_problem_just_inside_its_radius(app, client, resident, other_resident, override_settings,
                                                      bearing):
    # The radius is measured as haversine_m does (the mean Earth radius): a box sized with a rounder figure of
    # metres per degree (111,320) was 0.1 % too small, and left out what lay in its last half metre.
    override_settings(nearby_radius_m=500)
    known = new_report(client, resident)
    move(app, known["id"], "accepted")
    angle = 499.6 / EARTH_RADIUS_M
    if bearing == "south":
        lat, lng = QINGDAO[0] - math.degrees(angle), QINGDAO[1]
    else:
        lat = QINGDAO[0]
        lng = QINGDAO[1] - math.degrees(2 * math.asin(math.sin(angle / 2) / math.cos(math.radians(lat))))
    assert haversine_m(lat, lng, *QINGDAO) == pytest.approx(499.6)
    response = client.get(f"/api/v1/reports/nearby?lat={lat}&lng={lng}&coord_type=wgs84", headers=other_resident)
    assert [item["distance_m"] for item in response.json["items"]] == [500]


def test_nearby_tells_the_day_reported_in_beijing_time(app, client, resident, other_resident):
    known = new_report(client, resident)
    move(app, known["id"], "accepted")
    with app.app_context():
        # 04:00 on 29 November in Qingdao is still the 28th in UTC.
        services.get_report(known["id"]).created_at = dt.datetime(2026, 11, 28, 20, 0, tzinfo=dt.timezone.utc)
        db.session.commit()
    response = client.get(f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84",
                          headers=other_resident)
    assert [item["reported_on"] for item in response.json["items"]] == ["2026-11-29"]


def test_too_many_reports_in_an_hour_get_429_with_retry_after(client, resident, override_settings):
    override_settings(reports_per_resident_per_hour=2)
    new_report(client, resident)
    new_report(client, resident)
    response = submit(client, resident, report_body([upload_photo(client, resident)]))
    assert response.status_code == 429 and response.json["error"]["code"] == "rate_limited"
    assert 3500 <= int(response.headers["Retry-After"]) <= 3600


def test_reports_need_a_resident_token(client):
    assert client.post("/api/v1/reports", json={}).status_code == 401
    assert client.get("/api/v1/reports/mine").status_code == 401


@pytest.mark.parametrize("cursor", ["abc", "", "1" * 11, "-1", "0x10", "١٢", str(2**31), "12 "])
def test_a_cursor_that_is_no_report_id_is_a_422_naming_the_cursor(client, resident, cursor):
    """Both validators of the cursor ran: after the pattern refused "abc", the range check's int() raised."""
    response = client.get("/api/v1/reports/mine", query_string={"cursor": cursor}, headers=resident)
    assert response.status_code == 422 and "cursor" in response.json["error"]["details"]["fields"]["query"]
