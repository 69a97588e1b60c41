"""What the city already holds when the resident opens 我的反映, 公厕查询, 门头招牌 and 有奖随手拍: staff's answers to a
resident's reports, toilets around them, an approved signboard application, a payable reward. Made the way staff
and residents make them (the API, the moderators', the desk's, the reviewers' and the officers' services), each
for a resident of its own whose openid the page test signs in with."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import Flask

from cases import services as case_services
from cases.models import DeskCase
from citizen import services as citizen_services
from core.db import db
from core.geo import from_wgs84, haversine_m
from core.services import Actor
from rewards import services as reward_services
from rewards.models import Payout
from signboard_templates import services as signboard_services
from signboard_templates.settings import SignboardSettings
from tests.cases.conftest import a_department, accepted_report, after_photos
from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.common.factories import FacilityFactory
from tests.fakes.wechatpay import FakeWeChatPay, Fault
from tests.rewards.helpers import OFFICER, make_campaign, moderate, reward_of
from tests.signboard_templates.conftest import application_body

MODERATOR = Actor(None, "moderator-seeding")
DISPATCHER = Actor(None, "dispatcher-seeding")
REVIEWER = Actor(None, "reviewer-seeding")
# 我的反映 shows ten reports a page: eleven make a second page, the closed one, the oldest, on it.
REPORTS_BESIDE_THE_CLOSED_ONE = 10
STAFF_REPLY = "已清运路口东侧的垃圾，并安排保洁员每日巡查。"
INFORMATION_REQUEST = "请补充近景照片，并说明垃圾在路口的哪一侧。"
# Taidong, Shibei District (WGS-84): a shopping street 3 km from where the page tests' resident stands.
TAIDONG = (36.0829, 120.3566)


def no_jobs_waiting() -> None:
    """Jobs run inline at each commit in the embedded default the page tests run in: nothing is left to run."""


def _my_reports(app: Flask, client) -> dict[str, Any]:  # noqa: ANN001
    """A resident's reports: the oldest closed on the desk with a public reply and a photo of the work, one the
    moderator asked more about, and pending ones, the newest of them to withdraw; and a neighbour's report they
    added their voice to (附议)."""
    openid = "mp-seeded-my-reports"
    auth = sign_in(client, openid)
    closed_id = accepted_report(app, client, auth, no_jobs_waiting)
    with app.app_context():
        case_id = db.session.scalar(sa.select(DeskCase.id).where(DeskCase.report_id == closed_id))
        # Taken at the report's place after the dispatch: 处置's proof (cases.services.proof).
        steps = (("register", {}), ("dispatch", {"department_id": a_department("市南区环卫所")}),
                 ("handle", {"note": STAFF_REPLY, "public_reply": True}), ("verify", {}), ("close", {}))
        for action, form in steps:
            proof = {"after_photos": after_photos(closed_id)} if action == "handle" else {}
            version = case_services.get_desk_case(case_id).version
            case_services.act_on_desk_case(DISPATCHER, case_id, action, roles=("admin",), expected_version=version,
                                           **form, **proof)
            db.session.commit()
    asked_id = new_report(client, auth, description="路口有垃圾堆放。")["id"]
    with app.app_context():
        citizen_services.request_more_information(
            MODERATOR, asked_id, message=INFORMATION_REQUEST,
            expected_version=citizen_services.get_report(asked_id).version)
        db.session.commit()
    pending = [new_report(client, auth, description=f"第 {n} 处：人行道砖块松动。")["id"]
               for n in range(1, REPORTS_BESIDE_THE_CLOSED_ONE)]
    neighbours = accepted_report(app, client, sign_in(client, "mp-seeded-neighbour"), no_jobs_waiting,
                                 description="路灯整晚不亮。")
    assert client.post(f"/api/v1/reports/{neighbours}/me-too", headers=auth).status_code == 200
    return {"openid": openid, "closedId": closed_id, "askedId": asked_id, "newestId": pending[-1],
            "followedId": neighbours, "staffReply": STAFF_REPLY, "informationRequest": INFORMATION_REQUEST}


def _toilets(app: Flask, resident_at: tuple[float, float]) -> dict[str, Any]:
    """Two toilets north of the resident: the nearer one closed at this hour, the next open all day; and two in
    Taidong, 3 km away (beyond the 2 km the list looks around the resident), one open all day and one closed, for the
    resident to find by dragging the map there."""
    now_in_beijing = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    later = (now_in_beijing.hour + 3) % 24
    closed_hours = f"{later:02d}:00-{(later + 1) % 24:02d}:00"
    lat, lng = resident_at
    with app.app_context():
        closed = FacilityFactory(name="湛山路北公厕", lat=lat + 0.0004, lng=lng, opening_hours=closed_hours)
        open_all_day = FacilityFactory(name="湛山路公厕", lat=lat + 0.0008364, lng=lng, opening_hours="00:00-24:00",
                                       attributes={"free": True, "accessible": True, "baby_changing": True})
        taidong = FacilityFactory(name="台东三路公厕", lat=TAIDONG[0], lng=TAIDONG[1], opening_hours="00:00-24:00",
                                  address="台东三路 66 号", district="市北区")
        taidong_closed = FacilityFactory(name="台东三路西公厕", lat=TAIDONG[0], lng=TAIDONG[1] - 0.0003,
                                         opening_hours=closed_hours, address="台东三路 60 号", district="市北区")
        facilities = {"closedId": closed.id, "openId": open_all_day.id,
                      "openDistanceM": haversine_m(lat, lng, open_all_day.lat, open_all_day.lng),
                      "taidongId": taidong.id, "taidongClosedId": taidong_closed.id}
        gcj_lat, gcj_lng = from_wgs84(open_all_day.lat, open_all_day.lng, "gcj02")
        taidong_lat, taidong_lng = from_wgs84(*TAIDONG, "gcj02")
        db.session.commit()
    return {**facilities, "openGcj02": {"latitude": gcj_lat, "longitude": gcj_lng},
            "taidongGcj02": {"latitude": taidong_lat, "longitude": taidong_lng}}


def _approved_signboard(app: Flask, client) -> dict[str, Any]:  # noqa: ANN001
    openid = "mp-seeded-merchant"
    auth = sign_in(client, openid)
    answer = client.post("/api/v1/signboard-applications", headers=auth, json=application_body(
        upload_photo(client, auth), shop_name="海岸书店", licence_name="青岛市市南区海岸书店",
        category="education", template_id="education-01", address="青岛市市南区大学路 8 号"))
    assert answer.status_code == 201 and answer.json["status"] == "submitted", answer.json
    with app.app_context():
        settings = app.config["APP_SETTINGS"].area(SignboardSettings)
        approved = signboard_services.decide(REVIEWER, answer.json["id"], "approve", "",
                                             issuer=settings.signboard_certificate_issuer,
                                             valid_days=settings.signboard_certificate_valid_days)
        db.session.commit()
        return {"openid": openid, "approvedId": approved.id, "certificateNumber": approved.certificate_number}


def _rewards(app: Flask, client, wechatpay: FakeWeChatPay) -> dict[str, Any]:  # noqa: ANN001
    """A campaign, and a resident with three rewards: one whose transfer WeChat Pay waits for them to confirm, one
    whose transfer's answer was lost (WeChat Pay made the bill, we hold no package to confirm it with: the sweep
    cancels and sends it again later), and one refused with the reason the mini-program shows."""
    openid = "mp-seeded-rewarded"
    auth = sign_in(client, openid)
    make_campaign(app, default_amount_fen=666)
    refused_report = new_report(client, auth, description="路边有一堆暴露垃圾，无人清理。")["id"]
    moderate(app, no_jobs_waiting, refused_report, "rejected")
    claimable, unconfirmable = (reward_of(app, accepted_report(app, client, auth, no_jobs_waiting)).id
                                for _ in range(2))
    with app.app_context():
        reward_services.approve_rewards(OFFICER, [claimable])
        db.session.commit()  # the payout job runs inline: WeChat Pay now waits for the resident
        wechatpay.fail_next_create(Fault(status=200, create_anyway=True, drop_connection=True))
        reward_services.approve_rewards(OFFICER, [unconfirmable])
        db.session.commit()
        package_info = db.session.scalar(sa.select(Payout.package_info).where(Payout.reward_id == claimable))
    assert package_info, "the transfer was not prepared"
    return {"openid": openid, "claimableId": claimable, "processingId": unconfirmable,
            "refusedId": reward_of(app, refused_report).id, "packageInfo": package_info}


def seed(app: Flask, resident_at: tuple[float, float], wechatpay: FakeWeChatPay) -> dict[str, Any]:
    """What each seeded page test finds, by page (MINIPROGRAM_FIXTURES); ``wechatpay`` is the WeChat Pay ``app``
    pays through."""
    client = app.test_client()
    return {"myReports": _my_reports(app, client), "toilets": _toilets(app, resident_at),
            "signboard": _approved_signboard(app, client), "rewards": _rewards(app, client, wechatpay)}
