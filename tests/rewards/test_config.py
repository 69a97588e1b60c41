"""Payout settings: the app refuses to start with payouts enabled and a key missing or unreadable (production or not)."""

from __future__ import annotations

import pytest

from core.app import create_app
from core.config import Config, ConfigError
from rewards.settings import RewardSettings
from tests.core.test_config import SAFE_PRODUCTION
from tests.fakes.wechat import APP_ID
from tests.fakes.wechatpay import FakeWeChatPay


def payout_settings(tmp_path) -> dict[str, str]:
    private_key, public_key = FakeWeChatPay(APP_ID).write_keys(tmp_path)
    return {"WECHATPAY_PAYOUTS_ENABLED": "1", "WECHATPAY_MCH_ID": "1900000109", "WECHATPAY_CERT_SERIAL_NO": "5157F0",
            "WECHATPAY_APIV3_KEY": "k" * 32, "WECHATPAY_PRIVATE_KEY_PATH": str(private_key),
            "WECHATPAY_PUBLIC_KEY_PATH": str(public_key), "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_01",
            "WECHATPAY_NOTIFY_URL": "https://city.example/api/v1/wechatpay/notify"}


def test_payouts_are_off_by_default_and_settings_come_from_the_environment(tmp_path):
    assert not RewardSettings.from_env({}).wechatpay_payouts_enabled
    config = RewardSettings.from_env({**payout_settings(tmp_path), "WECHAT_APP_ID": "wx1",
                                      "WECHATPAY_MAX_TRANSFER_FEN": "5000", "WECHATPAY_TRANSFER_SCENE_ID": "1005"})
    assert config.wechatpay_payouts_enabled and config.wechatpay_app_id == "wx1"
    assert config.wechatpay_max_transfer_fen == 5000 and config.wechatpay_transfer_scene_id == "1005"


def test_production_with_payouts_and_every_key_passes_the_check(tmp_path):
    Config.from_env({**SAFE_PRODUCTION, **payout_settings(tmp_path)}).check_can_start()


@pytest.mark.parametrize(("missing", "complaint"), [
    ("WECHATPAY_APIV3_KEY", "WECHATPAY_APIV3_KEY"),
    ("WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_PRIVATE_KEY_PATH"),
    ("WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PUBLIC_KEY_ID"),
    ("WECHATPAY_MCH_ID", "WECHATPAY_MCH_ID"),
])
def test_production_refuses_payouts_with_a_key_missing(tmp_path, missing, complaint):
    settings = {**SAFE_PRODUCTION, **payout_settings(tmp_path), missing: ""}
    with pytest.raises(ConfigError, match=complaint):
        create_app(Config.from_env(settings))


def test_a_key_file_that_is_not_there_is_refused(tmp_path):
    settings = {**SAFE_PRODUCTION, **payout_settings(tmp_path), "WECHATPAY_PRIVATE_KEY_PATH": str(tmp_path / "no.pem")}
    with pytest.raises(ConfigError, match="readable PEM"):
        create_app(Config.from_env(settings))


def test_payouts_without_their_keys_are_refused_in_development_too():
    """It stopped the start with a bare AssertionError."""
    with pytest.raises(ConfigError, match="WECHATPAY_PRIVATE_KEY_PATH"):
        create_app(Config.from_env({"WECHATPAY_PAYOUTS_ENABLED": "1"}))


@pytest.mark.parametrize("variable", ["WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH"])
def test_a_key_file_that_holds_no_key_of_its_kind_is_refused_by_name(tmp_path, variable):
    """A cut-short file stopped the start in wechatpayv3 with "failed to load private key", naming no file; a public
    key where the private one goes (or the other way round) is refused the same way."""
    settings = payout_settings(tmp_path)
    cut_short = tmp_path / "cut-short.pem"
    cut_short.write_text("-----BEGIN PRIVATE KEY-----\n")
    swapped = {"WECHATPAY_PRIVATE_KEY_PATH": settings["WECHATPAY_PUBLIC_KEY_PATH"],
               "WECHATPAY_PUBLIC_KEY_PATH": settings["WECHATPAY_PRIVATE_KEY_PATH"]}
    for wrong in (str(cut_short), swapped[variable]):
        with pytest.raises(ConfigError, match=variable):
            create_app(Config.from_env({**settings, "WECHAT_APP_ID": APP_ID, variable: wrong}))


def test_the_bill_number_prefix_comes_from_the_environment_and_is_checked():
    """WeChat Pay wants out_bill_no unique per merchant, letters and digits, at most 32: each deployment sharing a
    merchant has its own prefix, short enough to leave room for the random part."""
    assert RewardSettings.from_env({}).wechatpay_out_bill_prefix == "QDRW"
    assert RewardSettings.from_env({"WECHATPAY_OUT_BILL_PREFIX": "QDSTAGING2"}).wechatpay_out_bill_prefix == "QDSTAGING2"
    for wrong in ("QD-RW", "QD RW", "青岛", "Q" * 13):
        with pytest.raises(ConfigError, match="WECHATPAY_OUT_BILL_PREFIX"):
            Config.from_env({"WECHATPAY_OUT_BILL_PREFIX": wrong})
