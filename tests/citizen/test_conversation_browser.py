"""A moderator asks a resident for more, and sees the answer in the queue (已补充) and on the report page, in a real
headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.citizen.test_conversation import upload_voice
from tests.core.test_admin_browser import log_in, make_staff

pytestmark = pytest.mark.browser


def test_a_moderator_asks_for_more_and_sees_the_residents_answer(page, live_app, live_server):
    make_staff(live_app, "browser_asking_mod", ["moderator"])
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserAnsweringResident")
    report_id = new_report(client, resident, description="浏览器测试：路边垃圾待补充")["id"]

    log_in(page, live_server, "browser_asking_mod")
    page.goto(f"{live_server}/admin/reports/{report_id}")
    page.get_by_label("需要市民补充的内容").fill("请补充近景照片，并说明在路口哪一侧。")
    page.get_by_role("button", name="要求补充信息").click()
    expect(page.get_by_text("需要您补充信息：请补充近景照片，并说明在路口哪一侧。")).to_be_visible()

    answer = client.post(f"/api/v1/reports/{report_id}/reply", headers=resident, json={
        "text": "在路口东南角的绿化带旁，近景见照片，语音里说明了位置。",
        "media_ids": [upload_photo(client, resident), upload_voice(client, resident)]})
    assert answer.status_code == 200, answer.json

    page.goto(f"{live_server}/admin/reports")
    row = page.get_by_role("row", name=re.compile(f"#{report_id} "))
    expect(row.get_by_text("已补充", exact=True)).to_be_visible()
    expect(row.get_by_text("已要求补充")).to_have_count(0)
    page.get_by_label("标记").select_option(label="已补充")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_role("link", name=f"#{report_id}", exact=True)).to_be_visible()

    page.get_by_role("link", name=f"#{report_id}", exact=True).click()
    message = page.get_by_role("article", name="市民补充信息 1")
    expect(message.get_by_text("在路口东南角的绿化带旁，近景见照片，语音里说明了位置。")).to_be_visible()
    expect(message.get_by_role("img", name="市民补充照片 1")).to_be_visible()
    voice = message.locator("audio")
    expect(voice).to_have_attribute("aria-label", "市民补充语音")
    assert page.evaluate("(audio) => audio.canPlayType('audio/wav') !== '' && audio.src.length > 0",
                         voice.element_handle())
