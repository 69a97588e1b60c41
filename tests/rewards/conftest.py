"""Payouts against a loopback WeChat Pay v3 (real wechatpayv3 client, real signatures and encryption)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rewards.settings import RewardSettings
from rewards.wechatpay import WeChatPayGateway
from tests.fakes.wechat import APP_ID
from tests.fakes.wechatpay import FakeWeChatPay, FakeWeChatPayServer, payout_settings


@pytest.fixture(scope="session")
def fake_wechatpay_server() -> Iterator[FakeWeChatPayServer]:
    server = FakeWeChatPayServer(APP_ID).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def wechatpay_settings(fake_wechatpay_server, tmp_path_factory) -> dict[str, object]:
    return payout_settings(fake_wechatpay_server, tmp_path_factory.mktemp("wechatpay"), APP_ID)


def enable_payouts(app, monkeypatch: pytest.MonkeyPatch, settings: dict[str, object]) -> None:
    config = app.config["APP_SETTINGS"].replace(**settings)
    monkeypatch.setitem(app.config, "APP_SETTINGS", config)
    monkeypatch.setitem(app.extensions, "wechatpay", WeChatPayGateway.from_config(config.area(RewardSettings)))


@pytest.fixture
def wechatpay(app, monkeypatch, fake_wechatpay_server, wechatpay_settings) -> Iterator[FakeWeChatPay]:
    """Payouts enabled on the session app for one test, with a fake that remembers no bills from other tests (the
    browser tests share it)."""
    enable_payouts(app, monkeypatch, wechatpay_settings)
    fake = fake_wechatpay_server.state
    forget_bills(fake)
    yield fake
    forget_bills(fake)


def forget_bills(fake: FakeWeChatPay) -> None:
    fake.bills.clear()
    fake.create_calls.clear()
    fake.query_calls.clear()
    fake.faults.clear()
    fake.cancellations_held = False
