"""The moderation tools in a real headless Chromium: holding reports, bulk decisions, search and the category tree,
the CSV export, blocking a resident."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from citizen import admin as citizen_admin
from citizen.models import RejectionTemplate, Report, Resident
from core.db import db
from core.models import AuditEntry
from tests.citizen.helpers import sign_in
from tests.common.factories import ReportFactory
from tests.core.test_admin_browser import log_in, make_staff

pytestmark = pytest.mark.browser


@pytest.fixture
def marker() -> str:
    """A word only this test's reports hold in their description, to find them in the live app's shared queue."""
    return f"工具{uuid.uuid4().hex[:8]}"


def file_reports(live_app, marker: str, *categories: str, **values) -> list[int]:
    with live_app.app_context():
        ids = [ReportFactory(status="pending_review", category_id=category, description=f"{marker} 第{n}条",
                             **values).id for n, category in enumerate(categories)]
        db.session.commit()
    return ids


def search_queue(page, live_server: str, text: str) -> None:
    page.goto(f"{live_server}/admin/reports")
    page.get_by_label("搜索").fill(text)
    page.get_by_role("button", name="筛选").click()


def row_of(page, report_id: int):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{report_id}", exact=True))


def audited(live_app, action: str, object_id: object) -> list[AuditEntry]:
    with live_app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action,
                                                                   AuditEntry.object_id == str(object_id))))


def test_a_moderator_claims_an_admin_reassigns_and_mine_lists_each_ones_reports(page, live_app, live_server,
                                                                                 marker):
    make_staff(live_app, f"claim_mod_{marker}", ["moderator"])
    make_staff(live_app, f"claim_admin_{marker}", ["admin"])
    claimed, other = file_reports(live_app, marker, "S0102", "S0102")

    log_in(page, live_server, f"claim_mod_{marker}")
    search_queue(page, live_server, marker)
    expect(row_of(page, claimed).get_by_role("cell", name="未认领")).to_be_visible()
    page.get_by_role("link", name=f"#{claimed}", exact=True).click()
    page.get_by_role("button", name="认领").click()
    expect(page.get_by_text(f"已认领反映 #{claimed}。")).to_be_visible()
    expect(page.get_by_role("region", name="处理人")).to_contain_text(f"claim_mod_{marker} 同志")

    search_queue(page, live_server, marker)
    page.get_by_label("我的（由我处理）").check()
    page.get_by_role("button", name="筛选").click()
    expect(row_of(page, claimed).get_by_role("cell", name=f"claim_mod_{marker} 同志")).to_be_visible()
    expect(page.get_by_role("link", name=f"#{other}", exact=True)).to_have_count(0)

    page.get_by_role("button", name="退出登录").click()
    log_in(page, live_server, f"claim_admin_{marker}")
    page.goto(f"{live_server}/admin/reports/{claimed}")
    page.get_by_label("分派给").select_option(label=f"claim_admin_{marker} 同志（claim_admin_{marker}）")
    page.get_by_role("button", name="分派", exact=True).click()
    expect(page.get_by_text(f"已分派反映 #{claimed}。")).to_be_visible()
    expect(page.get_by_role("region", name="处理人")).to_contain_text(f"由 claim_admin_{marker} 同志 处理")
    assert [entry.after for entry in audited(live_app, "report.assign", claimed)] == [
        {"holder": f"claim_admin_{marker}"}]


def test_a_moderator_rejects_a_selection_with_one_template_and_reads_what_became_of_each(
        page, live_app, live_server, marker):
    make_staff(live_app, f"bulk_mod_{marker}", ["moderator"])
    first, second, changed = file_reports(live_app, marker, "S0102", "S0201", "S0102")
    with live_app.app_context():
        db.session.add(RejectionTemplate(title=f"不属实{marker}", text="经核实，反映的问题不存在。", sort_order=5))
        db.session.commit()

    log_in(page, live_server, f"bulk_mod_{marker}")
    search_queue(page, live_server, marker)
    page.get_by_label("全选本页待审核的反映").check()
    for report_id in (first, second, changed):
        expect(page.get_by_label(f"选择 #{report_id}")).to_be_checked()
    # Another moderator decides one of them while this page is open.
    with live_app.app_context():
        db.session.get(Report, changed).status = "rejected"
        db.session.commit()
    page.get_by_label("驳回理由模板").select_option(label=f"不属实{marker}")
    page.get_by_role("button", name="批量驳回").click()

    expect(page.get_by_text(f"已驳回 2 条反映：#{first}、#{second}。")).to_be_visible()
    expect(page.get_by_text(f"反映 #{changed} 未处理：该反映已被其他人处理，请刷新后查看最新状态。")).to_be_visible()
    # Back on the same filtered queue: the two rejected ones have left the pending list.
    expect(page.get_by_label("搜索")).to_have_value(marker)
    expect(page.get_by_role("link", name=f"#{first}", exact=True)).to_have_count(0)
    with live_app.app_context():
        assert {db.session.get(Report, report_id).reject_reason for report_id in (first, second)} == {
            "经核实，反映的问题不存在。"}
    assert len(audited(live_app, "report.reject", first)) == len(audited(live_app, "report.reject", second)) == 1


def test_search_the_category_tree_and_paging_narrow_the_queue(page, live_app, live_server, marker, monkeypatch):
    monkeypatch.setattr(citizen_admin, "QUEUE_PAGE_SIZE", 2)
    garbage = file_reports(live_app, marker, "S0102", "S0102", "S0102")
    advert, = file_reports(live_app, marker, "S0201", address="崂山区海尔路 9 号")
    make_staff(live_app, f"search_mod_{marker}", ["moderator"])
    log_in(page, live_server, f"search_mod_{marker}")

    search_queue(page, live_server, marker)
    tree = page.get_by_role("group", name="类别")
    tree.get_by_text("事件", exact=True).click()
    tree.get_by_text("S01 市容环境").click()
    page.get_by_label("S01 事件·市容环境（全部）").check()
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_role("link", name=f"#{garbage[0]}", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"#{garbage[1]}", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"#{advert}", exact=True)).to_have_count(0)
    # The tree opens where the filter is, the class still chosen.
    expect(page.get_by_label("S01 事件·市容环境（全部）")).to_be_checked()
    page.get_by_role("link", name="下一页").click()
    expect(page.get_by_role("link", name=f"#{garbage[2]}", exact=True)).to_be_visible()
    expect(page.get_by_label("搜索")).to_have_value(marker)

    search_queue(page, live_server, "海尔路 9 号")
    expect(page.get_by_role("link", name=f"#{advert}", exact=True)).to_be_visible()
    search_queue(page, live_server, "13812345678")
    expect(page.get_by_role("alert")).to_contain_text("不能按手机号")
    expect(page.get_by_text("没有符合条件的反映。")).to_be_visible()


def test_the_export_holds_the_filtered_queue_without_personal_data_for_a_moderator(page, live_app, live_server,
                                                                                  marker):
    reports = file_reports(live_app, marker, "S0102", "S0201")
    make_staff(live_app, f"export_mod_{marker}", ["moderator"])
    log_in(page, live_server, f"export_mod_{marker}")
    search_queue(page, live_server, marker)
    expect(page.get_by_text("不含市民个人信息。")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="导出当前筛选结果（CSV）").click()
    body = download.value.path().read_bytes()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert "市民 openid" not in rows[0] and sorted(int(row[0]) for row in rows[1:]) == reports
    with live_app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "report.export",
                                                              AuditEntry.actor_name == f"export_mod_{marker}"))
        assert entry.after["filter"]["q"] == marker


def test_an_admin_blocks_the_reporter_from_the_report_and_unblocks_from_the_list(page, live_app, live_server, marker):
    client = live_app.test_client()
    auth = sign_in(client, f"oBlocked{marker}")
    with live_app.app_context():
        resident_id = db.session.scalar(sa.select(Resident.id).where(Resident.find_by("openid", f"oBlocked{marker}")))
    report_id, = file_reports(live_app, marker, "S0102", resident_id=resident_id)
    make_staff(live_app, f"block_admin_{marker}", ["admin"])
    log_in(page, live_server, f"block_admin_{marker}")

    page.goto(f"{live_server}/admin/reports/{report_id}")
    block = page.get_by_role("form", name="停用该市民")
    block.get_by_label("停用原因").fill("多次提交虚假反映")
    block.get_by_role("button", name="停用该市民").click()
    expect(page.get_by_text(f"已停用市民 #{resident_id}。")).to_be_visible()
    expect(page.get_by_text("已停用：多次提交虚假反映")).to_be_visible()
    refused = client.get("/api/v1/reports/mine", headers=auth)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "resident_blocked"

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="停用用户").click()
    unblock = page.get_by_role("form", name=f"恢复市民 #{resident_id}")
    expect(page.get_by_role("row").filter(has=unblock)).to_contain_text("多次提交虚假反映")
    unblock.get_by_label("恢复原因").fill("申诉核实无误")
    unblock.get_by_role("button", name="恢复").click()
    expect(page.get_by_text(f"已恢复市民 #{resident_id}。")).to_be_visible()
    expect(page.get_by_role("form", name=f"恢复市民 #{resident_id}")).to_have_count(0)
    assert client.get("/api/v1/reports/mine", headers=auth).status_code == 200
    assert [entry.after for entry in audited(live_app, "resident.unblock", resident_id)] == [
        {"is_blocked": False, "reason": "申诉核实无误"}]
    assert re.search("多次提交虚假反映", str(audited(live_app, "resident.block", resident_id)[0].after))
