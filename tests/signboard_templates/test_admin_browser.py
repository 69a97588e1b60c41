"""A signboard reviewer works the queue in headless Chromium: checks, preview, approval, certificate."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import services as core_services
from core.db import db
from tests.citizen.helpers import sign_in, upload_photo
from tests.core.test_admin_browser import log_in, make_staff
from tests.signboard_templates.conftest import application_body

pytestmark = pytest.mark.browser


def submit(live_app, openid: str, **changes: object) -> dict:  # noqa: ANN001
    api = live_app.test_client()
    headers = sign_in(api, openid)
    photo = upload_photo(api, headers)
    return api.post("/api/v1/signboard-applications", json=application_body(photo, **changes), headers=headers).json


def test_a_reviewer_asks_for_changes_then_approves_and_the_certificate_verifies(page, live_app, live_server):
    created = submit(live_app, "oBrowserMerchant0000000000001", shop_name="青岛湾渔家",
                     licence_name="青岛市市北区青岛湾渔家餐饮店", credit_code="91440300708461136T")
    assert created["status"] == "submitted"
    make_staff(live_app, "browser_signboards", ["signboard_reviewer"])
    log_in(page, live_server, "browser_signboards")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="招牌审核").click()
    page.get_by_role("link", name="审核 青岛湾渔家").click()
    expect(page.get_by_role("heading", name=re.compile("青岛湾渔家"))).to_be_visible()
    preview = page.get_by_role("img", name="招牌效果图")
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.get_by_role("img", name="门面照片").evaluate("img => img.naturalWidth > 0")
    expect(page.get_by_role("cell", name="R04 禁止设置屋顶招牌")).to_be_visible()

    page.get_by_role("button", name="要求修改").click()
    assert "请填写审核意见" in page.get_by_role("alert").inner_text()
    page.get_by_label("审核意见").fill("请补充夜间照明方案。")
    page.get_by_role("button", name="要求修改").click()
    expect(page.get_by_text("已要求修改申请")).to_be_visible()
    expect(page.get_by_role("cell", name="请补充夜间照明方案。")).to_be_visible()

    api = live_app.test_client()
    token = api.post("/api/v1/auth/dev", json={"openid": "oBrowserMerchant0000000000001"}).json["token"]
    resubmitted = api.put(f"/api/v1/signboard-applications/{created['id']}",
                          headers={"Authorization": f"Bearer {token}"},
                          json=application_body(created["facade_photo_media_id"], shop_name="青岛湾渔家",
                                                licence_name="青岛市市北区青岛湾渔家餐饮店",
                                                credit_code="91440300708461136T"))
    assert resubmitted.json["status"] == "submitted"

    page.reload()
    page.get_by_role("button", name="批准").click()
    flash = page.get_by_role("status").first.inner_text()
    number = re.search(r"QDZP\w+", flash)[0]
    printed = page.request.get(live_server + page.get_by_role("link", name="打印核准证明（PDF）").get_attribute("href"))
    assert printed.ok and printed.headers["content-type"] == "application/pdf" and printed.body().startswith(b"%PDF")
    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name="门头招牌设置核准证明查验")).to_be_visible()
    assert "有效" in page.get_by_role("status").inner_text()
    expect(page.get_by_role("cell", name="青岛市城市管理局")).to_be_visible()
    assert "91440300708461136T" not in page.content()
    assert page.get_by_role("img", name="核准招牌效果图").evaluate("img => img.naturalWidth > 0")

    page.goto(f"{live_server}/admin/signboards/certificates")
    page.get_by_label("证明编号").fill(number)
    page.get_by_role("button", name="查验").click()
    assert "有效" in page.get_by_role("status").inner_text()

    with live_app.app_context():
        actions = [e.action for e in db.session.scalars(core_services.audit_query(core_services.AuditFilter(
            object_type="signboard_application", object_id=str(created["id"]))))]
    assert actions == ["signboard.approve", "signboard.request_changes"]
