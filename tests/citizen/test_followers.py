"""Followers of a report (issue #21): reporters of merged duplicates and residents who add their voice (附议) read
the report's public timeline and rate it; the 附议 count shows to staff."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.models import Report, ReportFollower
from core.db import db
from core.models import AuditEntry
from core.services import Actor
from tests.citizen.helpers import QINGDAO, make_photos_public, new_report, sign_in
from tests.citizen.test_reports_api import move
from tests.core.admin_helpers import admin_post, signed_in_staff

MODERATOR = Actor(None, "follow-moderator")


@pytest.fixture
def resident(client):
    return sign_in(client, "oFollowReporter")


@pytest.fixture
def other_resident(client):
    return sign_in(client, "oFollowOtherReporter")


def merge(app, duplicate_id: int, original_id: int) -> None:
    with app.app_context():
        version = db.session.get(Report, duplicate_id).version
        services.mark_duplicate(MODERATOR, duplicate_id, expected_version=version, duplicate_of_id=original_id)
        db.session.commit()


def me_too(client, auth, report_id: int):
    return client.post(f"/api/v1/reports/{report_id}/me-too", headers=auth)


def test_a_merged_reporter_follows_the_original_as_the_public_sees_it(app, client, resident, other_resident):
    original = new_report(client, resident, description="井盖缺失，联系我 13912345678")["id"]
    duplicate = new_report(client, other_resident, description="这里井盖没了")["id"]
    move(app, original, "accepted")
    with app.app_context():
        report = services.get_report(original)
        services.record_case_progress(report, "内部：请养护中心核实", actor_name="desk", visibility="internal")
        db.session.commit()
    merge(app, duplicate, original)

    mine = client.get(f"/api/v1/reports/{duplicate}", headers=other_resident).json
    assert mine["status"] == "duplicate" and mine["relation"] == "reporter"
    assert mine["original"]["id"] == original and mine["original"]["relation"] == "merged"
    assert mine["original"]["status"] == "accepted" and "original" not in mine["original"]
    listed = client.get("/api/v1/reports/mine", headers=other_resident).json["items"]
    assert listed[0]["original"]["status_name"] == "已受理"

    followed = client.get(f"/api/v1/reports/{original}", headers=other_resident)
    assert followed.status_code == 200
    body = followed.json
    assert body["relation"] == "merged" and body["original"] is None
    # The public version: masked text, no photo a moderator did not make public, no internal note.
    assert "13912345678" not in body["description"] and body["media"] == []
    assert [entry["status"] for entry in body["timeline"]] == ["accepted"]
    assert "内部" not in followed.get_data(as_text=True)
    # A resident who follows nothing of it does not see it.
    stranger = sign_in(client, "oFollowStranger")
    assert client.get(f"/api/v1/reports/{original}", headers=stranger).status_code == 404

    move(app, original, "forwarded", "in_progress")
    assert [entry["status"] for entry in client.get(f"/api/v1/reports/{duplicate}", headers=other_resident)
            .json["original"]["timeline"]] == ["accepted", "forwarded", "in_progress"]


def test_a_follower_sees_the_photos_made_public(app, client, resident, other_resident, run_jobs):
    original = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    run_jobs()
    make_photos_public(app, original)
    run_jobs()
    merge(app, duplicate, original)
    with app.app_context():
        item = services.get_report(original).media[0]
        public_id, evidence_id = item.public_media_id, item.media_id
    media = client.get(f"/api/v1/reports/{original}", headers=other_resident).json["media"]
    assert [entry["id"] for entry in media] == [public_id] and public_id != evidence_id
    assert media[0]["urls"]["large"].startswith("http")


def test_followers_rate_once_and_the_figures_count_the_report_once(app, client, resident, other_resident):
    original = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    merge(app, duplicate, original)
    early = client.post(f"/api/v1/reports/{original}/rating", headers=other_resident, json={"rating": 5})
    assert early.status_code == 409 and early.json["error"]["code"] == "not_resolved"
    move(app, original, "accepted", "forwarded", "in_progress", "resolved")

    rated = client.post(f"/api/v1/reports/{original}/rating", headers=other_resident,
                        json={"rating": 5, "comment": "很快"})
    assert rated.status_code == 200 and rated.json["rating"] == 5 and rated.json["relation"] == "merged"
    again = client.post(f"/api/v1/reports/{original}/rating", headers=other_resident, json={"rating": 1})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_rated"
    # The reporter's own rating is theirs; the follower's does not take its place.
    assert client.get(f"/api/v1/reports/{original}", headers=resident).json["rating"] is None
    with app.app_context():
        assert services.report_snapshot(original).rating == 5
    assert client.post(f"/api/v1/reports/{original}/rating", headers=resident, json={"rating": 2}).status_code == 200
    with app.app_context():
        # (2 + 5) / 2 = 3.5, rounded half up: one report, one figure.
        snapshot = services.report_snapshot(original)
        assert snapshot.rating == 4 and snapshot.rated_at is not None


def test_me_too_is_counted_once_and_shows_nearby(app, client, resident, other_resident):
    report_id = new_report(client, resident)["id"]
    pending = new_report(client, resident)["id"]
    move(app, report_id, "accepted")

    first = me_too(client, other_resident, report_id)
    assert first.status_code == 200
    assert first.json["relation"] == "me_too" and first.json["me_too_count"] == 1
    second = me_too(client, other_resident, report_id)
    assert second.status_code == 200 and second.json == first.json
    own = me_too(client, resident, report_id)
    assert own.status_code == 409 and own.json["error"]["code"] == "own_report"
    not_open = me_too(client, other_resident, pending)
    assert not_open.status_code == 404 and not_open.json["error"]["code"] == "not_open"
    assert me_too(client, other_resident, 999_999).status_code == 404

    nearby = client.get(f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84",
                        headers=other_resident).json["items"]
    assert [(item["id"], item["me_too_count"], item["relation"]) for item in nearby] == [(report_id, 1, "me_too")]
    assert client.get(f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84",
                      headers=resident).json["items"][0]["relation"] == "reporter"
    assert client.get(f"/api/v1/reports/{report_id}", headers=resident).json["me_too_count"] == 1
    following = client.get("/api/v1/reports/following", headers=other_resident).json
    assert [item["id"] for item in following["items"]] == [report_id] and following["next_cursor"] is None

    assert client.delete(f"/api/v1/reports/{report_id}/me-too", headers=other_resident).status_code == 204
    assert client.delete(f"/api/v1/reports/{report_id}/me-too", headers=other_resident).status_code == 204
    assert client.get(f"/api/v1/reports/{report_id}", headers=other_resident).status_code == 404
    assert client.get(f"/api/v1/reports/{report_id}", headers=resident).json["me_too_count"] == 0


def test_a_me_too_cannot_be_taken_back_once_resolved_nor_a_merge(app, client, resident, other_resident):
    report_id = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    move(app, report_id, "accepted")
    third = sign_in(client, "oFollowThird")
    assert me_too(client, third, report_id).status_code == 200
    merge(app, duplicate, report_id)
    merged = client.delete(f"/api/v1/reports/{report_id}/me-too", headers=other_resident)
    assert merged.status_code == 409 and merged.json["error"]["code"] == "merged_follow"
    # A merged reporter's 附议 is already theirs: the same answer, not a second count.
    assert me_too(client, other_resident, report_id).json["me_too_count"] == 1
    move(app, report_id, "forwarded", "in_progress", "resolved")
    late = client.delete(f"/api/v1/reports/{report_id}/me-too", headers=third)
    assert late.status_code == 409 and late.json["error"]["code"] == "not_open"
    # Still followed after it is resolved: it may be read and rated.
    assert client.get(f"/api/v1/reports/{report_id}", headers=third).json["status"] == "resolved"


def test_a_me_too_of_a_merged_reporter_becomes_their_merge(app, client, resident, other_resident):
    report_id = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    move(app, report_id, "accepted")
    assert me_too(client, other_resident, report_id).status_code == 200
    merge(app, duplicate, report_id)
    with app.app_context():
        follower = db.session.scalar(sa.select(ReportFollower).where(ReportFollower.report_id == report_id))
        assert (follower.reason, follower.source_report_id) == ("merged", duplicate)
    assert client.get(f"/api/v1/reports/{duplicate}", headers=other_resident).json["original"]["id"] == report_id


def test_me_too_is_rate_limited(app, client, resident, other_resident, override_settings):
    override_settings(rate_limit_me_too=(2, 3600))
    report_id = new_report(client, resident)["id"]
    move(app, report_id, "accepted")
    assert me_too(client, other_resident, report_id).status_code == 200
    assert client.delete(f"/api/v1/reports/{report_id}/me-too", headers=other_resident).status_code == 204
    refused = me_too(client, other_resident, report_id)
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_forgetting_ends_the_follows(app, client, resident, other_resident):
    original = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    merge(app, duplicate, original)
    # The original never became a case: it goes with its reporter, and its follower keeps their own report.
    assert client.delete("/api/v1/me", headers=resident).status_code == 204
    kept = client.get(f"/api/v1/reports/{duplicate}", headers=other_resident).json
    assert kept["status"] == "duplicate" and kept["original"] is None
    accepted = new_report(client, other_resident)["id"]
    move(app, accepted, "accepted")
    third = sign_in(client, "oFollowForgetful")
    assert me_too(client, third, accepted).status_code == 200
    assert client.delete("/api/v1/me", headers=third).status_code == 204
    assert client.get(f"/api/v1/reports/{accepted}", headers=other_resident).json["me_too_count"] == 0


def test_staff_see_the_me_too_count_and_the_merge_is_audited(app, client, resident, other_resident):
    moderator_client = signed_in_staff(app, "follow_mod", "moderator")
    report_id = new_report(client, resident)["id"]
    duplicate = new_report(client, other_resident)["id"]
    move(app, report_id, "accepted")
    for openid in ("oFollowCounter1", "oFollowCounter2"):
        assert me_too(client, sign_in(client, openid), report_id).status_code == 200
    queue = moderator_client.get("/admin/reports?status=accepted").get_data(as_text=True)
    assert "<th scope=\"col\">附议</th>" in queue and "<td>2</td>" in queue
    page = moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    assert "2 位市民附议" in page
    dashboard = moderator_client.get("/admin/insight").get_data(as_text=True)
    assert f">#{report_id}</a>：2 位市民附议" in dashboard

    with app.app_context():
        version = db.session.get(Report, duplicate).version
    merged = admin_post(moderator_client, f"/admin/reports/{duplicate}/duplicate",
                        {"version": str(version), "duplicate_of_id": str(report_id)},
                        form_page=f"/admin/reports/{duplicate}")
    assert merged.status_code == 302
    assert "1 条重复反映已合并至此" in moderator_client.get(f"/admin/reports/{report_id}").get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "report.mark_duplicate",
                                                              AuditEntry.object_id == str(duplicate)))
        assert entry is not None and entry.after["duplicate_of_id"] == report_id
        assert services.me_too_counts([report_id]) == {report_id: 2}


def test_withdrawing_from_a_report_neither_open_nor_followed_is_not_found(app, client, resident, other_resident):
    pending = new_report(client, resident)["id"]
    refused = client.delete(f"/api/v1/reports/{pending}/me-too", headers=other_resident)
    assert refused.status_code == 404 and refused.json["error"]["code"] == "not_open"


def test_merging_a_report_with_followers_passes_them_on(app, client, resident, other_resident):
    first = new_report(client, other_resident)["id"]
    middle = new_report(client, resident)["id"]
    third = sign_in(client, "oFollowChainReporter")
    last = new_report(client, third)["id"]
    merge(app, first, middle)
    merge(app, middle, last)
    # The first reporter follows where their problem is now handled.
    assert client.get(f"/api/v1/reports/{last}", headers=other_resident).json["relation"] == "merged"
    assert client.get(f"/api/v1/reports/{first}", headers=other_resident).json["original"]["id"] == last


def test_the_data_export_holds_what_i_follow_and_my_rating_of_it(app, client, resident, other_resident):
    report = new_report(client, resident, description="路灯不亮")["id"]
    move(app, report, "accepted")
    assert me_too(client, other_resident, report).status_code == 200
    move(app, report, "forwarded", "in_progress", "resolved")
    rated = client.post(f"/api/v1/reports/{report}/rating", json={"rating": 2, "comment": "还是不亮"},
                        headers=other_resident)
    assert rated.status_code == 200

    exported = client.get("/api/v1/me/export", headers=other_resident).json["data"]["citizen"]
    assert exported["reports"] == []
    [follow] = exported["follows"]
    assert (follow["report_id"], follow["reason"], follow["rating"], follow["rating_comment"]) == (
        report, "me_too", 2, "还是不亮")
    # The reporter's own export lists the report, not who follows it.
    assert client.get("/api/v1/me/export", headers=resident).json["data"]["citizen"]["follows"] == []
