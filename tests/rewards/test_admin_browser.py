"""Reward officers at work in a real headless Chromium: campaign, two-officer approval, payouts, export."""

from __future__ import annotations

import dataclasses
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from core.db import db
from core.models import AuditEntry
from rewards import services
from rewards.models import Campaign, Payout
from tests.citizen.helpers import new_report, sign_in
from tests.core.test_admin_browser import log_in, make_staff
from tests.rewards.conftest import enable_payouts
from tests.rewards.helpers import OFFICER, campaign_form, moderate, today

pytestmark = pytest.mark.browser


@pytest.fixture
def officers(live_app, monkeypatch, wechatpay_settings, fake_wechatpay_server):
    enable_payouts(live_app, monkeypatch, {**wechatpay_settings, "reward_burst_reports_per_ip": 10_000})
    make_staff(live_app, "browser_officer_a", ["reward_officer"])
    make_staff(live_app, "browser_officer_b", ["reward_officer"])
    yield fake_wechatpay_server.state
    with live_app.app_context():
        for campaign in db.session.scalars(sa.select(Campaign).where(Campaign.is_active.is_(True))):
            services.save_campaign(OFFICER, dataclasses.replace(campaign_form(), is_active=False),
                                   campaign_id=campaign.id, max_transfer_fen=20_000)
        db.session.commit()


def switch_officer(page, live_server: str, username: str) -> None:
    page.get_by_role("button", name="退出登录").click()
    log_in(page, live_server, username)


def test_officers_run_a_campaign_approve_twice_and_cancel_a_payout(page, live_app, live_server, officers):
    log_in(page, live_server, "browser_officer_a")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="奖励活动").click()
    page.get_by_role("link", name="新建活动").click()
    page.get_by_label("活动名称").fill("浏览器测试活动")
    page.get_by_label("开始日期").fill(today().isoformat())
    page.get_by_label("结束日期（含）").fill(today().replace(day=28).isoformat() if today().day < 28
                                         else today().isoformat())
    page.get_by_label("总预算（元）").fill("1000")
    page.get_by_label("每条奖励（元）").fill("20.00")
    page.get_by_label("每人每日上限（元）").fill("100")
    page.get_by_label("每人每月上限（元）").fill("500")
    page.get_by_label("超过此金额需第二位专员复核（元，留空为不需要）").fill("10")
    # A campaign rewards every report of its period, those the live app's other tests filed today among them: this
    # one rewards a category only this test reports.
    scope = page.get_by_role("group", name="奖励范围（勾选大类或小类；不选为全部类别）")
    scope.get_by_text("部件", exact=True).click()
    scope.get_by_text("B03 市容环境").click()
    scope.get_by_label("B0303 公厕指示牌").check()
    page.get_by_role("button", name="保存活动").click()
    expect(page.get_by_text("已保存活动“浏览器测试活动”。")).to_be_visible()
    # The saved page shows the choice in the tree, opened where it is.
    expect(page.get_by_label("B0303 公厕指示牌")).to_be_checked()
    with live_app.app_context():
        assert db.session.scalar(sa.select(Campaign.eligible_categories).where(
            Campaign.name == "浏览器测试活动")) == ["B0303"]

    client = live_app.test_client()
    resident = sign_in(client, "oBrowserRewardResident")
    report_id = new_report(client, resident, description="浏览器测试：有奖反映", category="B0303")["id"]
    moderate(live_app, lambda: None, report_id, "accepted")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="奖励审批").click()
    expect(page.get_by_role("link", name=f"反映 #{report_id}")).to_be_visible()
    page.get_by_role("button", name="批量审批所选").click()
    expect(page.get_by_text("还需另一位奖励专员复核")).to_be_visible()

    switch_officer(page, live_server, "browser_officer_b")
    page.goto(f"{live_server}/admin/rewards/review")
    page.get_by_role("button", name="批量审批所选").click()
    expect(page.get_by_text("已审批 1 笔奖励，将发起转账。")).to_be_visible()

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="奖励转账").click()
    with live_app.app_context():
        out_bill_no = db.session.scalar(sa.select(Payout.out_bill_no).order_by(Payout.id.desc()))
    expect(page.get_by_role("cell", name="待用户确认收款").first).to_be_visible()
    page.get_by_role("button", name=f"撤销 {out_bill_no}").click()
    expect(page.get_by_text("已申请撤销该笔转账。")).to_be_visible()
    assert officers.bills[out_bill_no]["state"] == "CANCELING"

    page.goto(f"{live_server}/admin/rewards/review")
    page.get_by_label("市民编号").fill(str(client.get("/api/v1/me", headers=resident).json["id"]))
    page.get_by_role("button", name="查看奖励记录").click()
    page.wait_for_url(re.compile(r"/admin/rewards/residents/\d+$"))
    expect(page.get_by_role("cell", name="发放")).to_be_visible()
    expect(page.get_by_role("cell", name="browser_officer_b")).to_be_visible()

    page.goto(f"{live_server}/admin/rewards/campaigns")
    page.get_by_role("link", name="浏览器测试活动").click()
    expect(page.get_by_role("img", name="预算使用累计曲线")).to_be_visible()
    # The rule of which reports a campaign rewards, where the officer sets its period.
    expect(page.get_by_text("活动期间（北京时间）提交的反映均按本活动规则奖励")).to_be_visible()
    export = page.request.get(f"{live_server}/admin/rewards/export.csv")
    assert export.ok and out_bill_no in export.text() and "发起转账" in export.text()

    with live_app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("reward%"))))
    assert {"reward_campaign.save", "reward.approve", "reward_payout.cancel", "reward_ledger.export"} <= actions


def test_a_class_ticked_in_the_category_tree_stands_for_all_its_categories(page, live_app, live_server):
    make_staff(live_app, "browser_officer_tree", ["reward_officer"])
    log_in(page, live_server, "browser_officer_tree")
    page.goto(f"{live_server}/admin/rewards/campaigns/new")
    page.get_by_label("活动名称").fill("类别树测试活动")
    page.get_by_label("开始日期").fill(today().isoformat())
    page.get_by_label("结束日期（含）").fill(today().isoformat())
    for label, amount in (("总预算（元）", "100"), ("每条奖励（元）", "5"), ("每人每日上限（元）", "10"),
                          ("每人每月上限（元）", "50")):
        page.get_by_label(label).fill(amount)
    page.get_by_label("启用").uncheck()  # beside whatever campaign the other tests run today
    scope = page.get_by_role("group", name="奖励范围（勾选大类或小类；不选为全部类别）")
    scope.get_by_text("事件", exact=True).click()
    scope.get_by_text("S02 宣传广告").click()
    scope.get_by_label("S02 事件·宣传广告（全部）").check()
    expect(scope.get_by_label("S0201 非法小广告")).to_be_checked()
    expect(scope.get_by_label("S0201 非法小广告")).to_be_disabled()
    scope.get_by_text("S01 市容环境").click()
    scope.get_by_label("S0102 暴露垃圾").check()
    page.get_by_role("button", name="保存活动").click()
    expect(page.get_by_text("已保存活动“类别树测试活动”。")).to_be_visible()
    with live_app.app_context():
        assert db.session.scalar(sa.select(Campaign.eligible_categories).where(
            Campaign.name == "类别树测试活动")) == ["S0102", "S02"]
