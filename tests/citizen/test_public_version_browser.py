"""A moderator publishes a photo with a box drawn over a plate, in headless Chromium; the public feed then shows
the blurred copy and the masked text."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import expect

from citizen import services
from core import services as core_services
from core.db import db
from media.models import Media
from tests.cases.conftest import MODERATOR
from tests.citizen.helpers import half_detailed_photo, new_report, sign_in, upload_photo
from tests.core.test_admin_browser import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def accepted_report(live_app):
    with live_app.app_context():
        core_services.create_staff(core_services.SYSTEM_ACTOR, username="browser_publisher", display_name="审核员",
                                   password="correct-horse-battery", roles=["moderator"])
        db.session.commit()
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserPublicResident01")
    report = new_report(client, resident, description="鲁B12345 占道停车，车主电话 13912345678。",
                        media_ids=[upload_photo(client, resident, data=half_detailed_photo())])
    with live_app.app_context():
        services.accept_report(MODERATOR, report["id"], expected_version=services.get_report(report["id"]).version)
        db.session.commit()
    return report["id"]


def test_a_moderator_publishes_a_photo_blurred_where_a_box_was_drawn(page, live_app, live_server, accepted_report):
    report_id = accepted_report
    policy_violations = []
    page.on("console", lambda message: policy_violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    log_in(page, live_server, "browser_publisher")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    form = page.get_by_role("form", name="照片 1 公开设置")
    expect(form.locator(".redaction-canvas[data-ready=true]")).to_have_count(1)
    photo = form.get_by_role("img", name="照片 1（绘制遮挡框）")
    photo.scroll_into_view_if_needed()
    bounds = photo.bounding_box()  # in the viewport, where the mouse is
    assert bounds["width"] == 320

    # A box over the top-left part of the picture: 100 × 80 displayed pixels from (10, 10).
    page.mouse.move(bounds["x"] + 10, bounds["y"] + 10)
    page.mouse.down()
    page.mouse.move(bounds["x"] + 60, bounds["y"] + 50, steps=4)
    page.mouse.move(bounds["x"] + 110, bounds["y"] + 90, steps=4)
    page.mouse.up()
    expect(form.locator(".redaction-canvas")).to_have_attribute("data-box-count", "1")
    form.get_by_label("公开该照片").check()
    form.get_by_role("button", name="保存公开设置").click()
    expect(page.get_by_text("已公开该照片（遮挡处理后的副本）。")).to_be_visible()
    expect(page.get_by_role("img", name="照片 1 公开版本")).to_be_visible()
    # The saved box is shown again over the photo.
    expect(page.locator(".redaction-canvas").first).to_have_attribute("data-box-count", "1")
    assert policy_violations == []

    published = page.request.get(f"{live_server}/open311/v2/requests/{report_id}.json").json()[0]
    assert published["description"] == "［车牌号］ 占道停车，车主电话 ［手机号］。"
    public = Image.open(io.BytesIO(page.request.get(published["media_url"]).body())).convert("L")
    with live_app.app_context():
        item = services.get_report(report_id).media[0]
        assert item.blur_boxes == [[0.03125, 0.04167, 0.3125, 0.33333]]
        large_key = db.session.get(Media, item.media_id).large_key
        original = Image.open(io.BytesIO(live_app.extensions["storage"].get(large_key))).convert("L")
    assert public.size == original.size
    width, height = original.size
    inside = (int(0.06 * width), int(0.08 * height), int(0.32 * width), int(0.35 * height))
    outside = (int(0.6 * width), 0, width, height)  # the flat half, far from the box
    assert ImageStat.Stat(ImageChops.difference(public.crop(inside), original.crop(inside))).mean[0] > 3
    assert ImageStat.Stat(ImageChops.difference(public.crop(outside), original.crop(outside))).mean[0] < 3
