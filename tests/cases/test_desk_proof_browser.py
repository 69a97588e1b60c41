"""The case page in headless Chromium for 核查: the report's map, the resident's voice and video players, the photos
labelled 处置前 / 处置后 with when and how far from the report they were taken; and 处置 uploading an after-photo,
placed by the browser's position when it has no GPS, refused when taken too far away; the after-photos' places on
the case's map beside the report's."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from cases.models import DeskCase
from citizen import services as citizen_services
from core.db import db
from core.geo import haversine_m
from core.services import Actor
from cases import services as case_services
from tests.cases.conftest import after_photos, site_photo_bytes
from tests.cases.test_desk_browser import DEPARTMENT, EVERY_DESK_ROLE, department_named, desk_staff
from tests.citizen.helpers import QINGDAO, new_report, sign_in, upload_photo
from tests.core.test_admin_browser import log_in
from tests.media import samples

pytestmark = pytest.mark.browser

# About 14 m and 2 km (due north) from the report's place, QINGDAO.
NEAR = (36.0672, 120.3827)
FAR = (36.0851, 120.3826)
# About 90 m due east of it.
EAST = (36.0671, 120.3836)


def desk_case_with_media(live_app, monkeypatch, tmp_path, *, username: str, openid: str) -> int:
    """A staff member ``username`` (every desk role, a handler of DEPARTMENT) and an accepted report on the desk
    with the resident's photo (GPS and time from the camera), voice note and video; the case's id."""
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    client = live_app.test_client()
    resident = sign_in(client, openid)
    photo = upload_photo(client, resident, data=site_photo_bytes(NEAR))
    uploads = {}
    for name, body in (("voice.wav", samples.wav(seconds=2)),
                       ("clip.mp4", samples.encoded(tmp_path / "clip.mp4", "mp4", audio_codec="aac",
                                                    video_codec="libx264"))):
        response = client.post("/api/v1/media", headers=resident, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(body), name)})
        assert response.status_code == 201, response.json
        uploads[name] = response.json["id"]
    report_id = new_report(client, resident, media_ids=[photo, *uploads.values()],
                           description="浏览器核查：人行道垃圾")["id"]
    desk_staff(live_app, username, EVERY_DESK_ROLE, departments=(DEPARTMENT,))
    with live_app.app_context():
        citizen_services.accept_report(Actor(None, "moderator"), report_id,
                                       expected_version=citizen_services.get_report(report_id).version)
        db.session.commit()
        return db.session.scalar(sa.select(DeskCase.id).where(DeskCase.report_id == report_id))


@pytest.fixture
def positioned_page(browser):
    """A browser page whose geolocation (allowed) puts it at the report's place."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", permissions=["geolocation"],
                                  geolocation={"latitude": NEAR[0], "longitude": NEAR[1], "accuracy": 20})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_the_case_page_shows_the_map_the_players_and_the_photo_to_be_checked(page, live_app, live_server,
                                                                             monkeypatch, tmp_path):
    case_id = desk_case_with_media(live_app, monkeypatch, tmp_path, username="browser_proof_viewer",
                                   openid="oBrowserProofViewer000001")
    log_in(page, live_server, "browser_proof_viewer")
    page.goto(f"{live_server}/admin/desk/{case_id}")

    expect(page.locator("#report-map[data-ready=true]")).to_have_count(1)
    expect(page.locator("#report-map.leaflet-container")).to_be_visible()
    for label, kind in (("市民语音 1", "audio"), ("市民视频 1", "video")):
        player = page.locator(f"{kind}[aria-label='{label}']")
        expect(player).to_have_attribute("controls", "")
        source = player.evaluate("(element) => element.src")
        fetched = page.request.get(source)
        assert fetched.status == 200 and fetched.headers["content-type"].startswith(f"{kind}/")
        assert len(fetched.body()) > 1000
        # Chromium read the stream's header through the signed link: it can play it.
        page.wait_for_function("(player) => player.readyState >= 1 && player.duration > 1",
                               arg=player.element_handle())

    before = page.get_by_role("region", name="处置前照片")
    expect(before.get_by_role("img", name="处置前照片 1")).to_be_visible()
    distance = round(haversine_m(*QINGDAO, *NEAR))
    expect(before.locator("figcaption")).to_contain_text(re.compile(
        rf"处置前 拍摄于 \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d · 距反映位置 {distance} 米（照片定位）"))
    expect(page.get_by_role("region", name="处置后照片").get_by_text("尚未处置。")).to_be_visible()


def test_the_handler_uploads_an_after_photo_placed_by_the_browser(positioned_page, live_app, live_server, monkeypatch,
                                                                   tmp_path):
    page = positioned_page
    case_id = desk_case_with_media(live_app, monkeypatch, tmp_path, username="browser_proof_handler",
                                   openid="oBrowserProofHandler00001")
    log_in(page, live_server, "browser_proof_handler")
    page.goto(f"{live_server}/admin/desk/{case_id}")
    page.get_by_role("button", name="立案").click()
    page.get_by_label("处置部门").select_option(label=f"{DEPARTMENT}（市政）")
    page.get_by_role("button", name="派遣").click()
    expect(page.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()

    handle = page.get_by_role("form", name="处置")
    # Taken two kilometres away: refused, naming the distance; the case stays dispatched.
    far = tmp_path / "far.jpg"
    far.write_bytes(site_photo_bytes(FAR))
    handle.get_by_label("处置照片").set_input_files(str(far))
    handle.get_by_label(re.compile("处置说明")).fill("已清运。")
    handle.get_by_role("button", name="处置", exact=True).click()
    distance = haversine_m(*QINGDAO, *FAR)
    expect(page.get_by_text(f"距反映位置 {distance:.0f} 米，超出 500 米的取证范围。")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("已派遣"))).to_be_visible()

    # A photo the browser stripped of its GPS, sent from the site: placed by the browser's position.
    handle = page.get_by_role("form", name="处置")
    expect(handle.get_by_role("status")).to_contain_text("已获取当前位置（误差约 20 米）")
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(site_photo_bytes(None))
    handle.get_by_label("处置照片").set_input_files(str(stripped))
    handle.get_by_label(re.compile("处置说明")).fill("已清运垃圾。")
    handle.get_by_role("button", name="处置", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("已处置"))).to_be_visible()

    after = page.get_by_role("region", name="处置后照片")
    expect(after.get_by_role("img", name="处置后照片 1")).to_be_visible()
    expect(after.locator("figcaption")).to_contain_text(
        f"距反映位置 {round(haversine_m(*QINGDAO, *NEAR))} 米（上传时定位）")
    expect(page.get_by_role("region", name="处置前照片").get_by_role("img", name="处置前照片 1")).to_be_visible()


def test_the_case_map_marks_where_the_after_photos_were_taken_beside_the_report(page, live_app, live_server,
                                                                                 monkeypatch):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserProofMapper000001")
    report_id = new_report(client, resident, description="浏览器核查：处置后位置")["id"]
    desk_staff(live_app, "browser_proof_mapper", EVERY_DESK_ROLE, departments=(DEPARTMENT,))
    officer = Actor(None, "地图测试")
    with live_app.app_context():
        citizen_services.accept_report(officer, report_id,
                                       expected_version=citizen_services.get_report(report_id).version)
        db.session.commit()  # the case is opened once the acceptance commits
        case = db.session.scalar(sa.select(DeskCase).where(DeskCase.report_id == report_id))
        # Each step's form is made when its turn comes: the photos must be taken after the dispatch.
        for action, form in (("register", dict), ("dispatch", lambda: {"department_id": department_named(DEPARTMENT)}),
                             # One photo placed by its EXIF, east; one by the browser's position, north.
                             ("handle", lambda: {"note": "已清运。", "after_photos": after_photos(
                                 report_id, site_photo_bytes(EAST), site_photo_bytes(None), upload_position=NEAR)})):
            case_services.act_on_desk_case(officer, case.id, action, roles=("admin",), expected_version=case.version,
                                           **form())
        db.session.commit()
        case_id = case.id

    log_in(page, live_server, "browser_proof_mapper")
    page.goto(f"{live_server}/admin/desk/{case_id}")
    expect(page.locator("#report-map[data-ready=true]")).to_have_count(1)
    expect(page.get_by_role("img", name="反映位置与处置后照片拍摄位置地图")).to_be_visible()
    report_marker = page.locator("#report-map path.report-marker")
    after_markers = page.locator("#report-map path.place-marker")
    expect(report_marker).to_have_count(1)
    expect(after_markers).to_have_count(2)
    expect(page.locator("#report-map .place-label")).to_have_text(["处置后 1", "处置后 2"])
    # Drawn apart from the report's pin, as the photos were taken: the first east of it, the second north.
    report_at, east_at, north_at = (marker.bounding_box() for marker in (report_marker, after_markers.nth(0),
                                                                          after_markers.nth(1)))
    centre = {name: (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
              for name, box in (("report", report_at), ("east", east_at), ("north", north_at))}
    assert centre["east"][0] - centre["report"][0] > 40 and abs(centre["east"][1] - centre["report"][1]) < 5
    assert centre["north"][1] < centre["report"][1] - 4
    # The report's marker stays red, the after-photos' blue-ringed.
    assert report_marker.get_attribute("stroke") != after_markers.nth(0).get_attribute("stroke")
    expect(page.get_by_text("处置后照片拍摄位置", exact=False).first).to_be_visible()
