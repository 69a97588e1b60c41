"""POST /api/v1/case-updates: signed, fresh, once; moving the report along and showing the resident."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import sqlalchemy as sa

from cases import services, signing
from cases.models import CaseUpdate
from citizen.models import Report
from core.db import db, utcnow
from tests.cases.conftest import (UPDATES_SECRET, accepted_report, current_case_settings, delivery_of, report_status,
                                  signed_update)
from tests.common.media_files import photo_bytes


def test_updates_move_the_report_and_the_resident_sees_notes_and_photo(app, client, resident, run_jobs,
                                                                      use_case_system, case_system, case_server):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_system.photos["fixed.jpg"] = photo_bytes(77)
    first = signed_update(client, {"update_id": "u-1", "report_id": report_id, "status": "in_progress",
                                   "note": "已派遣环卫二队清理，联系人王队长 13812345678。"})
    assert first.status_code == 200 and first.json == {"applied": True, "report_id": report_id, "status": "in_progress",
                                                   "superseded": False}
    second = signed_update(client, {"update_id": "u-2", "case_id": f"W{report_id}", "status": "resolved",
                                    "note": "垃圾已清运完毕。", "public": True,
                                    "photo_urls": [f"{case_server.base_url}/photos/fixed.jpg"]})
    assert second.json["status"] == "resolved"
    run_jobs()
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert [entry["status"] for entry in timeline][-2:] == ["in_progress", "resolved"]
    # The first note was the case system's internal one: the resident reads the status's own words instead.
    assert timeline[-2]["note"] == "责任单位正在处置。" and timeline[-1]["note"] == "垃圾已清运完毕。"
    assert len(timeline[-1]["photos"]) == 1 and timeline[-1]["photos"][0]["large"]
    media = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["media"]
    assert [item["purpose"] for item in media] == ["evidence", "resolution"]


def test_closing_from_forwarded_passes_through_resolved(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    response = signed_update(client, {"update_id": "c-1", "report_id": report_id, "status": "closed", "note": "已结案"})
    assert response.json["status"] == "closed"
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert [entry["status"] for entry in timeline][-2:] == ["resolved", "closed"]


def test_sent_back_reopens_a_resolved_report(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    signed_update(client, {"update_id": "s-1", "report_id": report_id, "status": "resolved"})
    response = signed_update(client, {"update_id": "s-2", "report_id": report_id, "status": "sent_back",
                                      "note": "核查发现仍有垃圾，重新派遣。"})
    assert response.json["status"] == "in_progress"


def _nothing_changed(app, report_id: int) -> None:
    assert report_status(app, report_id) == "forwarded"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseUpdate)) == 0


def test_a_forged_update_is_refused_and_changes_nothing(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    body = {"update_id": "f-1", "report_id": report_id, "status": "closed"}
    forged = signed_update(client, body, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json["error"]["code"] == "bad_signature"
    unsigned = client.post("/api/v1/case-updates", json=body)
    assert unsigned.status_code == 401 and unsigned.json["error"]["code"] == "signature_missing"
    _nothing_changed(app, report_id)


def test_a_timestamp_of_digits_that_are_no_number_is_refused_not_a_500(client, use_case_system):
    use_case_system("webhook")
    # "²" is a digit to str.isdigit() but no number to int().
    response = client.post("/api/v1/case-updates", json={"update_id": "d-1", "report_id": 1, "status": "closed"},
                           headers={signing.TIMESTAMP_HEADER: "\xb2", signing.SIGNATURE_HEADER: "sha256=00"})
    assert response.status_code == 401 and response.json["error"]["code"] == "signature_missing"


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_timestamp_too_long_for_any_clock_is_stale_not_a_500(client, use_case_system, digits):
    """A 400-digit timestamp was an OverflowError (no float holds it), a 5000-digit one a ValueError (beyond
    int()'s 4300 digits)."""
    use_case_system("webhook")
    timestamp, body = "9" * digits, json.dumps({"update_id": "l-1", "report_id": 1, "status": "closed"}).encode()
    headers = {signing.TIMESTAMP_HEADER: timestamp,
               signing.SIGNATURE_HEADER: signing.signature(UPDATES_SECRET, timestamp, body)}
    response = client.post("/api/v1/case-updates", data=body, headers=headers, content_type="application/json")
    assert response.status_code == 401 and response.json["error"]["code"] == "stale_timestamp"


def test_a_tampered_body_is_refused(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    signed = json.dumps({"update_id": "t-1", "report_id": report_id, "status": "in_progress"}).encode()
    headers = signing.signed_headers(UPDATES_SECRET, int(time.time()), signed)
    tampered = signed.replace(b"in_progress", b"closed")
    response = client.post("/api/v1/case-updates", data=tampered, headers=headers, content_type="application/json")
    assert response.status_code == 401
    _nothing_changed(app, report_id)


def test_a_stale_update_is_refused(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    stale = signed_update(client, {"update_id": "o-1", "report_id": report_id, "status": "closed"},
                          timestamp=int(time.time()) - 301)
    assert stale.status_code == 401 and stale.json["error"]["code"] == "stale_timestamp"
    future = signed_update(client, {"update_id": "o-2", "report_id": report_id, "status": "closed"},
                           timestamp=int(time.time()) + 301)
    assert future.status_code == 401
    _nothing_changed(app, report_id)


def test_a_replayed_update_is_a_no_op(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    body = json.dumps({"update_id": "r-1", "report_id": report_id, "status": "in_progress", "note": "处置中"}).encode()
    assert signed_update(client, {}, raw=body).json["applied"] is True
    events_before = len(client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"])
    replay = signed_update(client, {}, raw=body)
    assert replay.status_code == 200 and replay.json["applied"] is False
    assert len(client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]) == events_before
    reused = signed_update(client, {"update_id": "r-1", "report_id": report_id, "status": "closed"})
    assert reused.status_code == 409 and reused.json["error"]["code"] == "update_id_reused"
    assert report_status(app, report_id) == "in_progress"


def test_unknown_cases_and_illegal_moves_are_refused(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    assert signed_update(client, {"update_id": "x-1", "case_id": "nope", "status": "closed"}).status_code == 404
    teleported = {"update_id": "x-2", "report_id": report_id, "status": "teleported"}
    assert signed_update(client, teleported).status_code == 422
    signed_update(client, {"update_id": "x-3", "report_id": report_id, "status": "closed"})
    refused = signed_update(client, {"update_id": "x-4", "report_id": report_id, "status": "in_progress"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "illegal_transition"


def test_photos_from_hosts_not_allowed_are_not_fetched(app, client, resident, run_jobs, use_case_system):
    use_case_system("webhook", case_media_hosts=("photos.example.cn",))
    report_id = accepted_report(app, client, resident, run_jobs)
    response = signed_update(client, {"update_id": "p-1", "report_id": report_id, "status": "resolved",
                                      "photo_urls": ["http://127.0.0.1:9/evil.jpg"]})
    assert response.status_code == 200
    run_jobs()
    media = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["media"]
    assert [item["purpose"] for item in media] == ["evidence"]


def test_a_photo_from_a_host_not_allowed_does_not_keep_the_allowed_ones_off_the_timeline(
        app, client, resident, run_jobs, use_case_system, case_system, case_server):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_system.photos["fixed.jpg"] = photo_bytes(78)
    response = signed_update(client, {"update_id": "p-2", "report_id": report_id, "status": "resolved",
                                      "photo_urls": ["http://photos.evil.example/a.jpg",
                                                     f"{case_server.base_url}/photos/fixed.jpg"]})
    assert response.status_code == 200
    run_jobs()
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert len(timeline[-1]["photos"]) == 1 and timeline[-1]["photos"][0]["large"]


def test_polling_open311_brings_status_back(app, client, resident, run_jobs, use_case_system, case_system):
    use_case_system("open311")
    report_id = accepted_report(app, client, resident, run_jobs)
    external_id = delivery_of(app, report_id).external_id
    case_system.set_status(external_id, "open", "已派遣处置", "2026-11-29T09:00:00+08:00")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        assert services.poll_case_system(current_case_settings()) == 0  # the same state again is a repeat
        db.session.commit()
    assert report_status(app, report_id) == "in_progress"
    case_system.set_status(external_id, "closed", "已办结", "2026-11-29T11:00:00+08:00")
    with app.app_context():
        services.poll_case_system(current_case_settings())
        db.session.commit()
    assert report_status(app, report_id) == "closed"


@pytest.mark.parametrize("pushed_at", ["2026-11-29T10:00:00+08:00", None])
def test_a_poll_older_than_a_pushed_update_is_recorded_and_undoes_nothing(app, client, resident, run_jobs,
                                                                         use_case_system, case_system, pushed_at):
    # Regression: with push and poll both in use, a pushed 已处置 went back to 处置中 at the next poll, whose
    # Open311 answer still showed the request open as of before. An update without its time is as of receipt.
    use_case_system("open311")
    report_id = accepted_report(app, client, resident, run_jobs)
    external_id = delivery_of(app, report_id).external_id
    body = {"update_id": "push-1", "report_id": report_id, "status": "resolved", "note": "已清运。", "public": True}
    pushed = signed_update(client, {**body, "occurred_at": pushed_at} if pushed_at else body)
    assert pushed.json == {"applied": True, "report_id": report_id, "status": "resolved", "superseded": False}
    case_system.set_status(external_id, "open", "已派遣处置", "2026-11-29T09:00:00+08:00")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 0
        db.session.commit()
        polled = db.session.scalar(sa.select(CaseUpdate).where(CaseUpdate.source == "poll"))
        assert (polled.status, polled.report_event_id) == ("in_progress", None)  # recorded, not applied
        assert polled.occurred_at == dt.datetime(2026, 11, 29, 1, 0, tzinfo=dt.timezone.utc)
    assert report_status(app, report_id) == "resolved"
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert [entry["status"] for entry in timeline][-1] == "resolved"


def test_an_older_push_after_a_newer_poll_undoes_nothing_and_says_so(app, client, resident, run_jobs,
                                                                     use_case_system, case_system):
    use_case_system("open311")
    report_id = accepted_report(app, client, resident, run_jobs)
    case_system.set_status(delivery_of(app, report_id).external_id, "open", "已派遣处置", "2026-11-29T09:00:00+08:00")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        db.session.commit()
    resolved = signed_update(client, {"update_id": "push-2", "report_id": report_id, "status": "resolved",
                                      "occurred_at": "2026-11-29T10:00:00+08:00"})
    assert resolved.json["status"] == "resolved"
    late = signed_update(client, {"update_id": "push-1", "report_id": report_id, "status": "in_progress",
                                  "occurred_at": "2026-11-29T09:30:00+08:00"})
    assert late.status_code == 200
    assert late.json == {"applied": False, "report_id": report_id, "status": "resolved", "superseded": True}
    assert report_status(app, report_id) == "resolved"
    # sent_back, newer than what the report shows, still moves it back: it is a newer step, not an old one.
    sent_back = signed_update(client, {"update_id": "push-3", "report_id": report_id, "status": "sent_back",
                                       "occurred_at": "2026-11-29T11:00:00+08:00"})
    assert sent_back.json["status"] == "in_progress"


def test_an_update_s_time_must_say_its_offset(client, resident, app, run_jobs, use_case_system):
    use_case_system("webhook")
    report_id = accepted_report(app, client, resident, run_jobs)
    response = signed_update(client, {"update_id": "naive-1", "report_id": report_id, "status": "resolved",
                                      "occurred_at": "2026-11-29T10:00:00"})
    assert response.status_code == 422 and "occurred_at" in response.json["error"]["details"]["fields"]["json"]


def test_polling_reaches_a_case_behind_a_thousand_newer_open_reports(app, client, resident, run_jobs, use_case_system,
                                                                     case_system):
    # Regression: the poll took the open reports from a newest-first list cut at 1,000, so once more than 1,000 newer
    # reports were open (a few days of a city's reports), the older forwarded cases were never polled again.
    use_case_system("open311")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        owner = db.session.get(Report, report_id).resident_id
        db.session.execute(sa.insert(Report), [
            {"resident_id": owner, "category_id": "S0104", "description": "较新的反映",
             "public_description": "较新的反映", "lat": 36.0671, "lng": 120.3826,
             "address": "青岛市市南区", "district": "市南区", "status": "in_progress", "idempotency_key": f"newer-{n}",
             "request_fingerprint": "fp", "flags": [], "checks": {},
             "created_at": utcnow() + dt.timedelta(seconds=n + 1)}
            for n in range(1000)])
        db.session.commit()
    case_system.set_status(delivery_of(app, report_id).external_id, "closed", "已办结", "2026-11-29T11:00:00+08:00")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        db.session.commit()
    assert report_status(app, report_id) == "closed"


def test_polling_the_updates_extension(app, client, resident, run_jobs, use_case_system, case_system):
    use_case_system("open311", open311_updates_extension=True)
    report_id = accepted_report(app, client, resident, run_jobs)
    external_id = delivery_of(app, report_id).external_id
    case_system.updates.append({"update_id": "ext-1", "service_request_id": external_id, "status": "closed",
                                "updated_datetime": "2026-11-29T11:00:00+08:00", "description": "已办结"})
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        db.session.commit()
    assert report_status(app, report_id) == "closed"

