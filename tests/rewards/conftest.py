"""Payouts against a loopback WeChat Pay v3 (real wechatpayv3 client, real signatures and encryption)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rewards.wechatpay import WeChatPayGateway
from tests.fakes.wechat import APP_ID
from tests.fakes.wechatpay import APIV3_KEY, CERT_SERIAL_NO, MCH_ID, PUBLIC_KEY_ID, FakeWeChatPay, FakeWeChatPayServer


@pytest.fixture(scope="session")
def fake_wechatpay_server() -> Iterator[FakeWeChatPayServer]:
    server = FakeWeChatPayServer(APP_ID).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def wechatpay_settings(fake_wechatpay_server, tmp_path_factory) -> dict[str, object]:
    private_key, public_key = fake_wechatpay_server.state.write_keys(tmp_path_factory.mktemp("wechatpay"))
    return dict(wechatpay_payouts_enabled=True, wechatpay_mch_id=MCH_ID, wechatpay_app_id=APP_ID,
                wechatpay_private_key_path=private_key, wechatpay_cert_serial_no=CERT_SERIAL_NO,
                wechatpay_apiv3_key=APIV3_KEY, wechatpay_public_key_path=public_key,
                wechatpay_public_key_id=PUBLIC_KEY_ID, wechatpay_api_base_url=fake_wechatpay_server.base_url,
                wechatpay_notify_url="https://example.invalid/api/v1/wechatpay/notify",
                wechatpay_timeout_seconds=5.0)


def enable_payouts(app, monkeypatch: pytest.MonkeyPatch, settings: dict[str, object]) -> None:
    config = app.config["APP_SETTINGS"].replace(**settings)
    monkeypatch.setitem(app.config, "APP_SETTINGS", config)
    monkeypatch.setitem(app.extensions, "wechatpay", WeChatPayGateway.from_config(config))


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
