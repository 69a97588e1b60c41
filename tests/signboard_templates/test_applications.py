"""Pre-approval through the API: checks at once, resubmission, review in the admin, certificate, audit."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa

from core.db import db
from core.geo import wgs84_to_gcj02
from core.models import AuditEntry
from media import services as media_services
from signboard_templates.services import applications
from tests.citizen.helpers import upload_photo
from tests.media import samples
from tests.common.factories import STAFF_PASSWORD, StaffFactory
from tests.signboard_templates.conftest import application_body


def resident(client, openid: str) -> tuple[dict, int]:  # noqa: ANN001
    body = client.post("/api/v1/auth/dev", json={"openid": openid}).json
    return {"Authorization": f"Bearer {body['token']}"}, body["resident"]["id"]


@pytest.fixture
def merchant(client):  # noqa: ANN001, ANN201
    headers, _ = resident(client, "oSignboardMerchant00000000001")
    return headers, upload_photo(client, headers)


def staff_client(app, roles: list[str]):  # noqa: ANN001, ANN201
    with app.app_context():
        staff = StaffFactory(roles=roles)
        username = staff.username
    browser = app.test_client()
    browser.post("/admin/login", data={"username": username, "password": STAFF_PASSWORD,
                                       "csrf_token": _csrf_token(browser, "/admin/login")})
    return browser, _csrf_token(browser, "/admin/")


def _csrf_token(browser, path: str) -> str:  # noqa: ANN001
    return re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).get_data(as_text=True))[1]


def decide(browser, token: str, application_id: int, decision: str, comment: str = ""):  # noqa: ANN001, ANN201
    return browser.post(f"/admin/signboards/{application_id}/decision",
                        data={"decision": decision, "comment": comment, "csrf_token": token})


def test_a_good_application_goes_straight_to_the_reviewers(app, client, merchant):
    headers, photo = merchant
    response = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "submitted" and body["submitted_at"]
    assert len(body["checks"]) == 15 and all(check["passed"] for check in body["checks"])
    assert body["preview_url"].startswith("/api/v1/signboard-templates/catering-01/preview.png?")
    assert client.get(body["preview_url"]).status_code == 200
    with app.app_context():
        assert media_services.media_info(photo).attached_to == f"signboard_application:{body['id']}"
    mine = client.get("/api/v1/signboard-applications/mine", headers=headers).json
    assert [a["id"] for a in mine] == [body["id"]]


def test_violations_come_back_at_once_and_the_merchant_fixes_them(client, merchant):
    headers, photo = merchant
    bad = application_body(photo, sign_height_m=1.4, mount_position="rooftop")
    dry = client.post("/api/v1/signboard-applications/check", json=bad, headers=headers).json
    assert dry["can_submit"] is False
    created = client.post("/api/v1/signboard-applications", json=bad, headers=headers).json
    assert created["status"] == "draft"
    failed = {c["code"]: c["message"] for c in created["checks"] if not c["passed"]}
    assert {"R04", "R08", "T01"} <= set(failed) and "屋顶" in failed["R04"]
    fixed = client.put(f"/api/v1/signboard-applications/{created['id']}", json=application_body(photo),
                       headers=headers).json
    assert fixed["status"] == "submitted" and fixed["revision"] == 2
    assert [e["action"] for e in fixed["events"]] == ["created", "resubmitted"]
    again = client.put(f"/api/v1/signboard-applications/{created['id']}", json=application_body(photo),
                       headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "not_editable"


def test_an_advisory_finding_does_not_hold_the_application_back(client, merchant):
    headers, photo = merchant
    body = client.post("/api/v1/signboard-applications", json=application_body(photo, shop_name="海鲜大王"),
                       headers=headers).json
    assert body["status"] == "submitted"
    assert [c["code"] for c in body["checks"] if not c["passed"]] == ["R14"]


def test_the_licence_name_is_compared_as_the_shop_name_is_normalised(client, merchant):
    # U+F9DC is a compatibility form of 隆 (U+9686): the same character on screen, the same after NFC.
    headers, photo = merchant
    body = client.post("/api/v1/signboard-applications/check", headers=headers, json=application_body(
        photo, shop_name="兴\uF9DC海鲜", licence_name="青岛市市南区兴\uF9DC海鲜餐饮店")).json
    assert all(check["passed"] for check in body["checks"]), [c for c in body["checks"] if not c["passed"]]


@pytest.mark.parametrize("changes, field", [
    ({"credit_code": "91370200163562681H"}, "credit_code"),
    ({"shop_name": ""}, "shop_name"),
    ({"shop_name": "一二三四五六七八九十一二三四五六七八九十一"}, "shop_name"),
    ({"shop_name": "🍺啤酒屋"}, "shop_name"),
    ({"mount_position": "sky"}, "mount_position"),
    ({"floor": 0}, "floor"),
])
def test_invalid_input_is_422_naming_the_field(client, merchant, changes, field):
    headers, photo = merchant
    response = client.post("/api/v1/signboard-applications", json=application_body(photo, **changes), headers=headers)
    assert response.status_code == 422 and field in response.json["error"]["details"]["fields"]["json"]


def test_an_emoji_in_the_shop_name_is_refused_by_name_before_anything_is_saved(app, client, merchant):
    headers, photo = merchant
    for url in ("/api/v1/signboard-applications/check", "/api/v1/signboard-applications"):
        response = client.post(url, json=application_body(photo, shop_name="🍺啤酒屋"), headers=headers)
        assert response.status_code == 422
        assert "“🍺”（U+1F37A）" in response.json["error"]["details"]["fields"]["json"]["shop_name"][0]
    assert client.get("/api/v1/signboard-applications/mine", headers=headers).json == []


@pytest.mark.parametrize("sizes", [{"sign_width_m": 30, "sign_height_m": 0.5},
                                   {"sign_width_m": 0.2, "sign_height_m": 10}])
def test_a_sign_the_preview_cannot_draw_is_refused_everywhere_it_is_proposed(client, merchant, sizes):
    # Wider or taller than the preview draws: an approved application's preview link would answer 422.
    headers, photo = merchant
    for method, url in (("post", "/api/v1/signboard-applications/check"), ("post", "/api/v1/signboard-applications")):
        response = getattr(client, method)(url, json=application_body(photo, **sizes), headers=headers)
        assert response.status_code == 422
        assert "sign_height_m" in response.json["error"]["details"]["fields"]["json"]
    created = client.post("/api/v1/signboard-applications", json=application_body(photo, sign_height_m=1.4),
                          headers=headers).json
    edited = client.put(f"/api/v1/signboard-applications/{created['id']}", json=application_body(photo, **sizes),
                        headers=headers)
    assert edited.status_code == 422 and "sign_height_m" in edited.json["error"]["details"]["fields"]["json"]
    preview = client.get("/api/v1/signboard-templates/catering-01/preview.png",
                         query_string={"shop_name": "老王海鲜", "width_m": sizes["sign_width_m"],
                                       "height_m": sizes["sign_height_m"]})
    assert preview.status_code == 422


def test_a_template_from_another_category_or_someone_elses_photo_is_refused(client, merchant):
    headers, photo = merchant
    wrong = client.post("/api/v1/signboard-applications", json=application_body(photo, template_id="retail-01"),
                        headers=headers)
    assert wrong.status_code == 422 and "template_id" in wrong.json["error"]["details"]["fields"]
    someone_else, _ = resident(client, "oSomeoneElse0000000000000001")
    theirs = client.post("/api/v1/signboard-applications",
                         json=application_body(upload_photo(client, someone_else)), headers=headers)
    assert theirs.status_code == 422 and theirs.json["error"]["code"] == "invalid_facade_photo"
    voice = client.post("/api/v1/media", headers=headers, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(samples.wav()), "voice.wav")}).json["id"]
    not_a_photo = client.post("/api/v1/signboard-applications", json=application_body(voice), headers=headers)
    assert not_a_photo.status_code == 422 and not_a_photo.json["error"]["code"] == "invalid_facade_photo"
    no_such_id = client.post("/api/v1/signboard-applications", json=application_body(2**40), headers=headers)
    assert no_such_id.status_code == 422 and no_such_id.json["error"]["code"] == "invalid_facade_photo"


def test_one_shop_one_sign(client, merchant):
    headers, photo = merchant
    client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers)
    second = client.post("/api/v1/signboard-applications", json=application_body(upload_photo(client, headers)),
                         headers=headers).json
    assert second["status"] == "draft"
    assert [c["code"] for c in second["checks"] if not c["passed"]] == ["R01"]


def test_a_facade_photo_stays_with_its_application(client, merchant):
    headers, photo = merchant
    client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers)
    other = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers)
    assert other.status_code == 422 and other.json["error"]["code"] == "media_in_use"
    assert "facade_photo_media_id" in other.json["error"]["details"]["fields"]


def test_applications_are_private_and_need_a_token(client, merchant):
    headers, photo = merchant
    created = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers).json
    other, _ = resident(client, "oNosyNeighbour00000000000001")
    assert client.get(f"/api/v1/signboard-applications/{created['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/signboard-applications/mine").status_code == 401


def test_the_certificate_number_carries_the_year_of_approval_in_beijing_time(app, client, merchant, monkeypatch):
    headers, photo = merchant
    created = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers).json
    reviewer, token = staff_client(app, ["signboard_reviewer"])
    # 02:00 on New Year's Day 2027 in Qingdao is still 2026 in UTC.
    monkeypatch.setattr(applications, "utcnow", lambda: dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.timezone.utc))
    assert decide(reviewer, token, created["id"], "approve").status_code == 302
    approved = client.get(f"/api/v1/signboard-applications/{created['id']}", headers=headers).json
    assert approved["certificate_number"].startswith("QDZP2027")


def test_the_review_page_gives_the_shop_s_place_in_gcj02_as_well_as_wgs84(app, client, merchant):
    headers, photo = merchant
    body = application_body(photo)
    created = client.post("/api/v1/signboard-applications", json=body, headers=headers).json
    reviewer, _ = staff_client(app, ["signboard_reviewer"])
    page = reviewer.get(f"/admin/signboards/{created['id']}").get_data(as_text=True)
    lat, lng = body["latitude"], body["longitude"]
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    assert f"WGS-84 {lat:.6f}, {lng:.6f}（GCJ-02 {gcj_lat:.6f}, {gcj_lng:.6f}）" in page


def test_a_place_from_wx_choose_location_is_read_as_gcj02_and_answered_in_both_datums(client, merchant):
    # Regression: applications took WGS-84 only, although wx.chooseLocation gives GCJ-02; without coord_type a
    # point is GCJ-02, as on every other endpoint.
    headers, photo = merchant
    shop = (36.0671, 120.3826)  # WGS-84
    gcj_lat, gcj_lng = wgs84_to_gcj02(*shop)
    body = application_body(photo, latitude=gcj_lat, longitude=gcj_lng)
    del body["coord_type"]
    created = client.post("/api/v1/signboard-applications", json=body, headers=headers).json
    assert (created["latitude"], created["longitude"]) == pytest.approx(shop, abs=1e-7)
    assert created["coord_type"] == "wgs84"
    assert created["location"]["gcj02"] == pytest.approx({"lat": gcj_lat, "lng": gcj_lng}, abs=1e-7)


@pytest.mark.parametrize("field", ["licence_name", "address"])
def test_a_blank_text_is_refused(client, merchant, field):
    headers, photo = merchant
    response = client.post("/api/v1/signboard-applications", json=application_body(photo, **{field: " \u3000 \t "}),
                           headers=headers)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]["json"]


def test_review_request_changes_then_approve_issues_a_verifiable_certificate(app, client, merchant):
    headers, photo = merchant
    created = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers).json
    reviewer, token = staff_client(app, ["signboard_reviewer"])
    queue = reviewer.get("/admin/signboards/").get_data(as_text=True)
    assert "老王海鲜" in queue
    page = reviewer.get(f"/admin/signboards/{created['id']}").get_data(as_text=True)
    assert "门面照片" in page and "R01 一店一招" in page and created["preview_url"].replace("&", "&amp;") in page

    refused = decide(reviewer, token, created["id"], "request_changes")
    assert refused.status_code == 422 and "请填写审核意见" in refused.get_data(as_text=True)
    assert decide(reviewer, token, created["id"], "request_changes", "请把招牌高度改为 0.8 米。").status_code == 302
    seen = client.get(f"/api/v1/signboard-applications/{created['id']}", headers=headers).json
    assert seen["status"] == "changes_requested" and seen["reviewer_comment"] == "请把招牌高度改为 0.8 米。"

    client.put(f"/api/v1/signboard-applications/{created['id']}", json=application_body(photo, sign_height_m=0.8),
               headers=headers)
    assert decide(reviewer, token, created["id"], "approve").status_code == 302
    approved = client.get(f"/api/v1/signboard-applications/{created['id']}", headers=headers).json
    number = approved["certificate_number"]
    assert approved["status"] == "approved" and re.fullmatch(r"QDZP\d{4}\d{6}[A-Z]{4}", number)
    design = approved["approved_design"]
    assert design["height_m"] == 0.8 and design["template_id"] == "catering-01"
    assert approved["certificate_url"].endswith(f"/signboard-certificates/{number}")

    certificate = client.get(f"/signboard-certificates/{number}")
    assert certificate.status_code == 200 and "门头招牌设置核准证明" in certificate.get_data(as_text=True)
    assert client.get("/signboard-certificates/QDZP2026000001AAAA").status_code == 404
    verified = reviewer.get(f"/admin/signboards/certificates?number={number.lower()}")
    assert verified.status_code == 200 and "有效" in verified.get_data(as_text=True)
    assert decide(reviewer, token, created["id"], "reject", "晚了").status_code == 409

    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.object_type == "signboard_application", AuditEntry.object_id == str(created["id"]))).all()
    assert sorted(actions) == ["signboard.approve", "signboard.request_changes"]


def test_only_signboard_reviewers_see_the_review_pages(app, client):
    moderator, _ = staff_client(app, ["moderator"])
    assert moderator.get("/admin/signboards/").status_code == 403
    anonymous = app.test_client().get("/admin/signboards/")
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]


def test_a_decision_without_the_csrf_token_is_refused(app, client, merchant):
    headers, photo = merchant
    created = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=headers).json
    reviewer, _ = staff_client(app, ["signboard_reviewer"])
    assert decide(reviewer, "forged", created["id"], "approve").status_code == 400
