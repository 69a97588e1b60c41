"""Stored XSS: a report description, a shop name, a category name and a staff name holding HTML and
script render as inert text in the admin pages, in headless Chromium; no page breaks its own CSP."""

from __future__ import annotations

import pytest

from citizen import services as citizen_services
from core import services as core_services
from core.db import db
from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.core.test_admin_browser import log_in, make_staff
from tests.signboard_templates.conftest import application_body

pytestmark = pytest.mark.browser

DESCRIPTION = '<script>window.__xss="description"</script><img src=x onerror="window.__xss=\'img\'">路灯坏了'
SHOP_NAME = '"><svg onload=xss=1>'
CATEGORY_NAME = '<b onmouseover=a()>井盖</b><script>window.__xss="cat"</script>'
STAFF_NAME = '<img src=x onerror="window.__xss=\'staff\'">'
INJECTED = "script:not([src]), img[src='x'], svg[onload], b[onmouseover]"


def plant(live_app) -> tuple[int, int]:
    api = live_app.test_client()
    resident = sign_in(api, "oXssResident0000000000000001")
    report = new_report(api, resident, description=DESCRIPTION, category="B0101")
    photo = upload_photo(api, resident)
    application = api.post("/api/v1/signboard-applications", headers=resident,
                           json=application_body(photo, shop_name=SHOP_NAME)).json
    with live_app.app_context():
        actor = core_services.SYSTEM_ACTOR
        citizen_services.update_category(actor, "B0101", name=CATEGORY_NAME, hint="提示", is_active=True)
        core_services.create_staff(actor, username="xss_staff", display_name=STAFF_NAME,
                                   password="correct-horse-battery", roles=["moderator"])
        db.session.commit()
    return report["id"], application["id"]


def test_hostile_text_is_shown_as_text_and_no_script_runs(page, live_app, live_server):
    report_id, application_id = plant(live_app)
    make_staff(live_app, "xss_admin", ["admin"])
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("dialog", lambda dialog: violations.append(f"dialog: {dialog.message}"))
    log_in(page, live_server, "xss_admin")
    pages = {
        f"/admin/reports/{report_id}": ["路灯坏了", "<script>", "井盖"],
        "/admin/reports?status=": ["井盖"],
        "/admin/categories": [],
        "/admin/staff?q=xss_staff": [STAFF_NAME],
        f"/admin/signboards/{application_id}": [SHOP_NAME],
        "/admin/signboards/?status=": [SHOP_NAME],
        "/admin/audit": [],
    }
    for path, shown in pages.items():
        response = page.goto(f"{live_server}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.evaluate("typeof window.xss") == "undefined", path
        assert page.locator(INJECTED).count() == 0, path
        text = page.locator("main").inner_text()
        for fragment in shown:
            assert fragment in text, (path, fragment)
    # In a form field, the name is the field's value, exactly as typed.
    page.goto(f"{live_server}/admin/categories")
    values = page.locator("input[name=name]").evaluate_all("inputs => inputs.map(input => input.value)")
    assert CATEGORY_NAME in values
    assert violations == []
