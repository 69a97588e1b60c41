"""Rewarded snapshots' settings: WeChat Pay 商家转账 (API v3) payouts, and the reward abuse signals."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from core.config import Config
from core.config_values import (ConfigError, decimal_setting, flag_setting, integer_setting, path_setting, secret,
                                settings_repr, url_setting)

DEFAULT_WECHATPAY_API_BASE_URL = "https://api.mch.weixin.qq.com"
# WeChat Pay's out_bill_no is at most 32 letters and digits; the payout's random part takes what the prefix leaves.
OUT_BILL_PREFIX_MAX_LENGTH = 12


@dataclasses.dataclass(frozen=True)
class RewardSettings:
    wechatpay_payouts_enabled: bool = False
    wechatpay_mch_id: str | None = None
    wechatpay_app_id: str | None = None
    wechatpay_private_key_path: Path | None = None
    wechatpay_cert_serial_no: str | None = None
    wechatpay_apiv3_key: str | None = secret()
    wechatpay_public_key_path: Path | None = None
    wechatpay_public_key_id: str | None = None
    wechatpay_api_base_url: str = DEFAULT_WECHATPAY_API_BASE_URL
    wechatpay_notify_url: str | None = None
    wechatpay_transfer_scene_id: str = "1000"
    # Starts every out_bill_no this deployment sends; deployments sharing a merchant need different ones.
    wechatpay_out_bill_prefix: str = "QDRW"
    wechatpay_timeout_seconds: float = 10.0
    wechatpay_notify_window_seconds: int = 300
    wechatpay_max_transfer_fen: int = 20_000
    reward_payout_query_after_minutes: int = 10
    reward_burst_window_minutes: int = 60
    # One IP address is a weak signal (a mobile carrier puts many residents behind one): far above a resident's.
    reward_burst_reports_per_ip: int = 40
    reward_burst_reports_per_resident: int = 6

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RewardSettings:
        """WECHATPAY_* and REWARD_* settings, each from the environment variable of its name in capitals."""
        return cls(
            wechatpay_payouts_enabled=flag_setting(env, "WECHATPAY_PAYOUTS_ENABLED"),
            wechatpay_mch_id=env.get("WECHATPAY_MCH_ID") or None,
            # Payouts go to the openids residents have in the mini-program, unless another app is named.
            wechatpay_app_id=env.get("WECHATPAY_APP_ID") or env.get("WECHAT_APP_ID") or None,
            wechatpay_private_key_path=path_setting(env, "WECHATPAY_PRIVATE_KEY_PATH"),
            wechatpay_cert_serial_no=env.get("WECHATPAY_CERT_SERIAL_NO") or None,
            wechatpay_apiv3_key=env.get("WECHATPAY_APIV3_KEY") or None,
            wechatpay_public_key_path=path_setting(env, "WECHATPAY_PUBLIC_KEY_PATH"),
            wechatpay_public_key_id=env.get("WECHATPAY_PUBLIC_KEY_ID") or None,
            wechatpay_api_base_url=url_setting(env, "WECHATPAY_API_BASE_URL") or DEFAULT_WECHATPAY_API_BASE_URL,
            wechatpay_notify_url=url_setting(env, "WECHATPAY_NOTIFY_URL"),
            wechatpay_transfer_scene_id=env.get("WECHATPAY_TRANSFER_SCENE_ID") or cls.wechatpay_transfer_scene_id,
            wechatpay_out_bill_prefix=_out_bill_prefix(env.get("WECHATPAY_OUT_BILL_PREFIX")),
            wechatpay_timeout_seconds=decimal_setting(env, cls, "wechatpay_timeout_seconds", positive=True),
            **{name: integer_setting(env, cls, name, minimum=minimum) for name, minimum in _INTEGERS.items()},
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        """Payouts without their keys cannot work anywhere, production or not."""
        if not self.wechatpay_payouts_enabled:
            return []
        missing = [name.upper() for name in ("wechatpay_mch_id", "wechatpay_cert_serial_no", "wechatpay_public_key_id",
                                             "wechatpay_notify_url") if not getattr(self, name)]
        if not (self.wechatpay_app_id or shared.wechat_app_id):
            missing.append("WECHATPAY_APP_ID (or WECHAT_APP_ID)")
        if not self.wechatpay_apiv3_key or len(self.wechatpay_apiv3_key) != 32:
            missing.append("WECHATPAY_APIV3_KEY (32 characters)")
        # Read now: a certificate, an encrypted or a cut-short key would otherwise stop the start in wechatpayv3 with
        # "failed to load private key", naming no file.
        for name, kind in (("wechatpay_private_key_path", "private"), ("wechatpay_public_key_path", "public")):
            if not _is_pem_key(getattr(self, name), kind):
                missing.append(f"{name.upper()} (a readable PEM {kind} key file)")
        return [f"WECHATPAY_PAYOUTS_ENABLED needs {', '.join(missing)}"] if missing else []


# Each at least 1 but the bill query's delay (0: query at the next sweep) and the burst thresholds (0: any report
# holds the reward).
_INTEGERS = {"wechatpay_notify_window_seconds": 1, "wechatpay_max_transfer_fen": 1,
             "reward_payout_query_after_minutes": 0, "reward_burst_window_minutes": 1,
             "reward_burst_reports_per_ip": 0, "reward_burst_reports_per_resident": 0}


def _out_bill_prefix(value: str | None) -> str:
    if not value:
        return RewardSettings.wechatpay_out_bill_prefix
    if not (value.isascii() and value.isalnum() and len(value) <= OUT_BILL_PREFIX_MAX_LENGTH):
        raise ConfigError(f"WECHATPAY_OUT_BILL_PREFIX must be 1–{OUT_BILL_PREFIX_MAX_LENGTH} letters or digits "
                          f"(WeChat Pay's out_bill_no allows nothing else), not {value!r}")
    return value


def _is_pem_key(path: Path | None, kind: str) -> bool:
    """Whether the file holds an unencrypted PEM key of that kind ("private" or "public")."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if path is None:
        return False
    try:
        data = path.read_bytes()
        if kind == "private":
            serialization.load_pem_private_key(data, password=None)
        else:
            serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


SETTINGS = RewardSettings
