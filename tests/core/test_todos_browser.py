"""The home page's to-do counts in headless Chromium: a count per role, each a link to the queue it counts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from cases import services as case_services
from citizen import services as citizen_services
from tests.citizen.helpers import new_report, sign_in
from tests.core.test_admin_browser import log_in, make_staff
from tests.rewards.helpers import moderate

pytestmark = pytest.mark.browser


def to_dos(page):
    return page.get_by_role("list", name="待办事项")


def test_a_moderator_goes_from_the_count_of_reports_waiting_to_the_queue(page, live_app, live_server):
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserTodoResident00001")
    report_id = new_report(client, resident, description="浏览器待办：路灯不亮")["id"]
    with live_app.app_context():
        waiting = citizen_services.pending_review_count()
    make_staff(live_app, "browser_todo_moderator", ["moderator"])
    log_in(page, live_server, "browser_todo_moderator")
    expect(to_dos(page).get_by_role("link")).to_have_count(1)
    to_dos(page).get_by_role("link", name=f"待审核反映 {waiting}", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/reports\?status=pending_review$"))
    expect(page.get_by_role("link", name=f"#{report_id}", exact=True)).to_be_visible()


def test_a_dispatcher_sees_cases_to_register_and_to_dispatch_not_reports_to_moderate(page, live_app, live_server,
                                                                                     monkeypatch):
    monkeypatch.setitem(live_app.config, "APP_SETTINGS", live_app.config["APP_SETTINGS"].replace(case_system="desk"))
    client = live_app.test_client()
    resident = sign_in(client, "oBrowserTodoResident00002")
    report_id = new_report(client, resident, description="浏览器待办：井盖破损")["id"]
    moderate(live_app, lambda: None, report_id, "accepted")
    with live_app.app_context():
        counts = case_services.desk_counts(case_services.DeskViewer(None, ("dispatcher",)))
    make_staff(live_app, "browser_todo_dispatcher", ["dispatcher"])
    log_in(page, live_server, "browser_todo_dispatcher")
    expect(to_dos(page).get_by_role("link", name=re.compile("^待审核反映"))).to_have_count(0)
    expect(to_dos(page).get_by_role("link", name=f"待派遣案件 {counts['registered']}", exact=True)).to_be_visible()
    expect(to_dos(page).get_by_role("link", name=re.compile(r"^转办失败 \d+$"))).to_be_visible()
    to_dos(page).get_by_role("link", name=f"待立案案件 {counts['received']}", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/desk\?step=received$"))
    expect(page.get_by_role("row", name=re.compile(f"#{report_id} 浏览器待办"))).to_be_visible()
