"""The payout adapter: WeChat Pay 商家转账 (API v3) through the PyPI package ``wechatpayv3``.

Services see the small ``TransferGateway`` interface; ``WeChatPayGateway`` is the real client
(requests signed with the merchant key, answers and notifications verified with WeChat Pay's
public key, notification resources decrypted with the APIv3 key).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import requests

from core.metrics import count_call
from rewards.settings import RewardSettings

log = logging.getLogger(__name__)
TRANSFER_FINISHED_EVENT = "MCHTRANSFER.BILL.FINISHED"
NOTIFICATION_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
                        "Wechatpay-Signature-Type")


class GatewayUnreachable(Exception):
    """No trustworthy answer: a timeout, a dropped connection, or an answer whose signature failed."""


@dataclasses.dataclass(frozen=True)
class TransferBill:
    out_bill_no: str
    openid: str
    amount_fen: int
    remark: str
    scene_report_infos: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class BillAnswer:
    status: int
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return str(self.data.get("code") or f"HTTP_{self.status}")

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "NOT_FOUND"


class TransferGateway(Protocol):
    mch_id: str
    app_id: str
    # Starts this deployment's out_bill_no (WECHATPAY_OUT_BILL_PREFIX).
    out_bill_prefix: str

    def create_bill(self, bill: TransferBill) -> BillAnswer: ...

    def query_bill(self, out_bill_no: str) -> BillAnswer: ...

    def cancel_bill(self, out_bill_no: str) -> BillAnswer: ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The notification with its resource decrypted, or None when the signature does not verify."""


class WeChatPayGateway:
    def __init__(self, *, mch_id: str, app_id: str, private_key_pem: str, cert_serial_no: str, apiv3_key: str,
                 public_key_pem: str, public_key_id: str, notify_url: str, scene_id: str, base_url: str,
                 timeout_seconds: float, out_bill_prefix: str) -> None:
        from wechatpayv3 import WeChatPay, WeChatPayType

        self.mch_id, self.app_id, self.scene_id, self.out_bill_prefix = mch_id, app_id, scene_id, out_bill_prefix
        self._client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG, mchid=mch_id, private_key=private_key_pem,
            cert_serial_no=cert_serial_no, appid=app_id, apiv3_key=apiv3_key, notify_url=notify_url,
            timeout=(min(5.0, timeout_seconds), timeout_seconds), public_key=public_key_pem,
            public_key_id=public_key_id)
        # The package keeps its gateway URL private; tests point it at a loopback WeChat Pay.
        self._client._core._gate_way = base_url.rstrip("/")

    @classmethod
    def from_config(cls, config: RewardSettings) -> WeChatPayGateway:
        assert config.wechatpay_private_key_path is not None and config.wechatpay_public_key_path is not None
        return cls(mch_id=config.wechatpay_mch_id or "", app_id=config.wechatpay_app_id or "",
                   private_key_pem=config.wechatpay_private_key_path.read_text(),
                   cert_serial_no=config.wechatpay_cert_serial_no or "", apiv3_key=config.wechatpay_apiv3_key or "",
                   public_key_pem=config.wechatpay_public_key_path.read_text(),
                   public_key_id=config.wechatpay_public_key_id or "", notify_url=config.wechatpay_notify_url or "",
                   scene_id=config.wechatpay_transfer_scene_id, base_url=config.wechatpay_api_base_url,
                   timeout_seconds=config.wechatpay_timeout_seconds, out_bill_prefix=config.wechatpay_out_bill_prefix)

    def create_bill(self, bill: TransferBill) -> BillAnswer:
        return self._call(self._client.mch_transfer_bills, out_bill_no=bill.out_bill_no,
                          transfer_scene_id=self.scene_id, openid=bill.openid, transfer_amount=bill.amount_fen,
                          transfer_remark=bill.remark,
                          transfer_scene_report_infos=[{"info_type": kind, "info_content": content}
                                                       for kind, content in bill.scene_report_infos])

    def query_bill(self, out_bill_no: str) -> BillAnswer:
        return self._call(self._client.mch_transfer_bills_query, out_bill_no=out_bill_no)

    def cancel_bill(self, out_bill_no: str) -> BillAnswer:
        return self._call(self._client.mch_transfer_bills_cancel, out_bill_no=out_bill_no)

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        # Any other serial would send wechatpayv3 off to download platform certificates.
        if headers.get("Wechatpay-Serial") != self._client._core._public_key_id:
            return None
        try:
            return self._client.callback({name: headers.get(name, "") for name in NOTIFICATION_HEADERS}, body)
        except Exception:  # wechatpayv3 raises bare Exceptions for unknown algorithms and malformed input
            log.warning("wechatpay notification could not be verified", exc_info=True)
            return None

    @staticmethod
    def _call(method: Any, **arguments: Any) -> BillAnswer:
        operation = method.__name__
        try:
            status, text = method(**arguments)
        except requests.RequestException as exc:
            count_call("wechatpay", operation, "unreachable")
            raise GatewayUnreachable(type(exc).__name__) from exc
        except Exception as exc:  # wechatpayv3 raises a bare Exception when an answer's signature fails
            count_call("wechatpay", operation, "unreachable")
            if "signature" in str(exc):
                raise GatewayUnreachable("answer signature did not verify") from exc
            raise
        count_call("wechatpay", operation, "ok" if 200 <= status < 300 else "refused")
        try:
            data = json.loads(text) if text else {}
        except (TypeError, ValueError):
            data = {"code": f"HTTP_{status}", "message": "not JSON"}
        return BillAnswer(status=status, data=data if isinstance(data, dict) else {})
