"""Answering a request for information (要求补充信息) through the API: the reply, back in the moderators' queue."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from citizen import services
from core.db import db
from core.models import AuditEntry
from core.services import Actor
from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.media import samples

MODERATOR = Actor(None, "moderator-asking")


@pytest.fixture
def resident(client):
    return sign_in(client, "oReplyingResident0000001")


def ask(app, report_id: int, message: str = "请补充近景照片，并说明垃圾在路口的哪一侧。") -> None:
    with app.app_context():
        services.request_more_information(MODERATOR, report_id, message=message,
                                          expected_version=services.get_report(report_id).version)
        db.session.commit()


def reply(client, auth: dict[str, str], report_id: int, **body):
    return client.post(f"/api/v1/reports/{report_id}/reply", json=body, headers=auth)


def upload_voice(client, auth: dict[str, str], seconds: float = 3) -> int:
    response = client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(samples.wav(seconds=seconds)), "voice.wav")})
    assert response.status_code == 201, response.json
    return response.json["id"]


def asked_report(app, client, resident, run_jobs) -> int:
    report_id = new_report(client, resident)["id"]
    run_jobs()
    ask(app, report_id)
    return report_id


def test_the_report_says_when_it_awaits_my_answer_and_only_until_i_give_it(app, client, resident, run_jobs):
    # The mini-program offers the answer form from this field, not from the wording of the timeline.
    report_id = new_report(client, resident)["id"]
    run_jobs()
    assert client.get(f"/api/v1/reports/{report_id}", headers=resident).json["awaiting_information"] is False
    ask(app, report_id)
    mine = client.get("/api/v1/reports/mine", headers=resident).json["items"]
    assert [item["awaiting_information"] for item in mine if item["id"] == report_id] == [True]
    answered = reply(client, resident, report_id, text="在路口东南角。")
    assert answered.status_code == 200 and answered.json["awaiting_information"] is False


def test_a_reply_with_a_photo_and_a_voice_message_returns_the_report_to_review_flagged(app, client, resident,
                                                                                      run_jobs):
    report_id = asked_report(app, client, resident, run_jobs)
    photo, voice = upload_photo(client, resident), upload_voice(client, resident)
    run_jobs()

    response = reply(client, resident, report_id, text="  垃圾在路口东南角的绿化带旁，已补拍近景。 ",
                     media_ids=[photo, voice])

    assert response.status_code == 200, response.json
    assert response.json["status"] == "pending_review"
    answer = response.json["timeline"][-1]
    assert answer["by"] == "resident" and answer["note"] == "垃圾在路口东南角的绿化带旁，已补拍近景。"
    assert sorted(item["kind"] for item in answer["media"]) == ["audio", "photo"]
    assert len(answer["photos"]) == 1 and answer["photos"][0]["large"].startswith("http")
    asked = response.json["timeline"][-2]
    assert asked["by"] == "staff" and asked["note"].startswith("需要您补充信息：")
    run_jobs()  # the checks again, on the new photo
    with app.app_context():
        supplied = services.moderation_queue(services.QueueFilter(flag=services.INFO_SUPPLIED), after=None)
        assert [report.id for report in supplied] == [report_id]
        report = services.get_report(report_id)
        assert services.INFO_REQUESTED not in report.flags
        assert {item.media_id: item.purpose for item in report.media if item.purpose != "evidence"} == {
            photo: "reply", voice: "reply"}
        audited = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "report.reply",
                                                                AuditEntry.object_id == str(report_id)))
        assert audited.after["media_ids"] == [photo, voice]

    again = reply(client, resident, report_id, text="再补充一句。")
    assert again.status_code == 409 and again.json["error"]["code"] == "no_information_requested"


def test_asking_again_after_a_reply_takes_the_supplied_flag_off_until_the_next_answer(app, client, resident,
                                                                                     run_jobs):
    report_id = asked_report(app, client, resident, run_jobs)
    assert reply(client, resident, report_id, text="在路口东南角。").status_code == 200
    ask(app, report_id, "请再补充一张远景照片。")
    with app.app_context():
        assert set(services.get_report(report_id).flags) >= {services.INFO_REQUESTED}
        assert services.INFO_SUPPLIED not in services.get_report(report_id).flags
    assert reply(client, resident, report_id, text="远景见照片。",
                 media_ids=[upload_photo(client, resident)]).status_code == 200
    timeline = client.get(f"/api/v1/reports/{report_id}", headers=resident).json["timeline"]
    assert [entry["note"] for entry in timeline if entry["by"] == "resident"][-2:] == ["在路口东南角。", "远景见照片。"]


def test_a_reply_is_refused_with_the_right_status(app, client, resident, run_jobs):
    report_id = asked_report(app, client, resident, run_jobs)
    not_asked = new_report(client, resident, description="另一处问题：路灯不亮。")["id"]
    other = sign_in(client, "oSomeoneElseEntirely0001")
    their_photo = upload_photo(client, other)
    used_photo = new_report(client, resident, description="第三处：井盖松动。")["media"][0]["id"]

    refusals = {
        "someone else's report": (reply(client, other, report_id, text="不是我的反映。"), 404, "not_found"),
        "not asked": (reply(client, resident, not_asked, text="没人问我。"), 409, "no_information_requested"),
        "blank text": (reply(client, resident, report_id, text=" \n\u3000 "), 422, "text_required"),
        "no text": (reply(client, resident, report_id, media_ids=[]), 422, "validation_error"),
        "someone else's photo": (reply(client, resident, report_id, text="见照片。", media_ids=[their_photo]),
                                 422, "invalid_media"),
        "a photo used already": (reply(client, resident, report_id, text="见照片。", media_ids=[used_photo]),
                                 422, "media_in_use"),
        "two voice messages": (reply(client, resident, report_id, text="听语音。",
                                     media_ids=[upload_voice(client, resident), upload_voice(client, resident, 2)]),
                               422, "invalid_media"),
    }
    for case, (response, status, code) in refusals.items():
        assert (case, response.status_code, response.json["error"]["code"]) == (case, status, code)
    with app.app_context():
        assert services.INFO_REQUESTED in services.get_report(report_id).flags
        assert [event.actor_kind for event in services.get_report(report_id).events] == ["resident", "staff"]
