"""A loopback WeChat Pay API v3 (商家转账) speaking the real wire format.

Requests must carry a valid ``WECHATPAY2-SHA256-RSA2048`` Authorization signed with the
merchant's key; answers are signed with the platform key (``Wechatpay-Signature`` over
``timestamp\\nnonce\\nbody\\n``); notifications carry a resource encrypted with
AEAD_AES_256_GCM under the APIv3 key — so the real ``wechatpayv3`` code verifies everything.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MCH_ID = "1900000109"
CERT_SERIAL_NO = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092024112600"
APIV3_KEY = "a" * 16 + "B" * 16
BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
_AUTH = re.compile(r'(\w+)="([^"]*)"')
_OUT_BILL_NO = re.compile(r"^[0-9A-Za-z]{1,32}$")


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclasses.dataclass
class Fault:
    """What the next create call meets: an error answer, or a bill accepted but the answer lost (late, or the
    connection closed without one)."""

    status: int = 500
    code: str = "SYSTEM_ERROR"
    create_anyway: bool = False
    delay_seconds: float = 0.0
    drop_connection: bool = False


class _ConnectionDropped(Exception):
    """The fake closed the connection instead of answering."""


class FakeWeChatPay:
    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.bills: dict[str, dict] = {}
        self.create_calls: list[str] = []
        self.query_calls: list[str] = []
        self.faults: list[Fault] = []
        # WeChat Pay completes a cancellation on its own (CANCELING, then CANCELLED by the next query); a test holds
        # them in CANCELING to see what waits on them, and completes them with settle_cancellations().
        self.cancellations_held = False
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    # --- keys a merchant would download from the console -------------------------------------

    def write_keys(self, directory: Path) -> tuple[Path, Path]:
        private, public = directory / "apiclient_key.pem", directory / "pub_key.pem"
        private.write_text(_pem_private(self.merchant_key))
        public.write_text(_pem_public(self.platform_key.public_key()))
        return private, public

    # --- what tests do to the server ----------------------------------------------------------

    def fail_next_create(self, fault: Fault) -> None:
        self.faults.append(fault)

    def finish(self, out_bill_no: str, state: str, fail_reason: str | None = None) -> None:
        with self._lock:
            bill = self.bills[out_bill_no]
            bill.update(state=state, update_time=self._now())
            bill.pop("package_info", None)
            if fail_reason:
                bill["fail_reason"] = fail_reason

    def settle_cancellations(self) -> list[str]:
        """WeChat Pay completes the cancellations asked for: CANCELING bills become CANCELLED."""
        with self._lock:
            settling = [number for number, bill in self.bills.items() if bill["state"] == "CANCELING"]
            for number in settling:
                self.bills[number].update(state="CANCELLED", update_time=self._now())
        return settling

    def notification(self, out_bill_no: str, *, timestamp: int | None = None,
                     notification_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """MCHTRANSFER.BILL.FINISHED for the bill as it stands, signed and encrypted as WeChat Pay sends it."""
        bill = self.bills[out_bill_no]
        resource = {key: bill[key] for key in ("out_bill_no", "transfer_bill_no", "state", "mch_id",
                                               "transfer_amount", "openid", "create_time", "update_time")
                    if key in bill}
        if "fail_reason" in bill:
            resource["fail_reason"] = bill["fail_reason"]
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(APIV3_KEY.encode()).encrypt(nonce.encode(), json.dumps(resource).encode(),
                                                         b"mch_payment")
        body = json.dumps({
            "id": notification_id or str(uuid.uuid4()), "create_time": self._now(),
            "resource_type": "encrypt-resource", "event_type": "MCHTRANSFER.BILL.FINISHED",
            "summary": "商家转账单据终态通知",
            "resource": {"original_type": "mch_payment", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": "mch_payment",
                         "nonce": nonce}}, ensure_ascii=False).encode()
        return self._signed_headers(body.decode(), timestamp), body

    # --- the HTTP side ------------------------------------------------------------------------

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        request = Request(environ)
        body_text = request.get_data(as_text=True)
        if not self._authorized(request, body_text):
            return self._answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})(environ, start_response)
        path = request.path
        if request.method == "POST" and path == BILLS:
            try:
                status, data = self._create(json.loads(body_text))
            except _ConnectionDropped:
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
                return []
        elif request.method == "GET" and path.startswith(f"{BILLS}/out-bill-no/"):
            status, data = self._query(path.rsplit("/", 1)[1])
        elif request.method == "POST" and path.startswith(f"{BILLS}/out-bill-no/") and path.endswith("/cancel"):
            status, data = self._cancel(path.split("/")[-2])
        else:
            status, data = 404, {"code": "NOT_FOUND", "message": "无此接口"}
        return self._answer(status, data)(environ, start_response)

    def _authorized(self, request: Request, body: str) -> bool:
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        fields = dict(_AUTH.findall(params))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or fields.get("mchid") != MCH_ID \
                or fields.get("serial_no") != CERT_SERIAL_NO:
            return False
        path = request.full_path.rstrip("?")
        message = f"{request.method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        try:
            self.merchant_key.public_key().verify(base64.b64decode(fields.get("signature", "")), message.encode(),
                                                  padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return abs(time.time() - int(fields.get("timestamp", "0"))) < 300

    def _create(self, body: dict) -> tuple[int, dict]:
        out_bill_no = str(body.get("out_bill_no", ""))
        with self._lock:
            self.create_calls.append(out_bill_no)
            fault = self.faults.pop(0) if self.faults else None
        if not _OUT_BILL_NO.match(out_bill_no) or body.get("appid") != self.app_id or not body.get("openid") \
                or int(body.get("transfer_amount") or 0) <= 0 or len(body.get("transfer_remark") or "") > 32 \
                or not body.get("transfer_scene_id") or not body.get("notify_url"):
            return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
        if fault is not None and not fault.create_anyway:
            return fault.status, {"code": fault.code, "message": "模拟错误"}
        with self._lock:
            bill = self.bills.get(out_bill_no)
            if bill is None:
                bill = {"mch_id": MCH_ID, "out_bill_no": out_bill_no, "appid": body["appid"],
                        "transfer_bill_no": f"1330000071100{next(self._sequence):027d}",
                        "create_time": self._now(), "update_time": self._now(), "state": "WAIT_USER_CONFIRM",
                        "transfer_amount": body["transfer_amount"], "transfer_remark": body["transfer_remark"],
                        "openid": body["openid"], "package_info": f"ABBQO+oYAAABAAAAAAAk{secrets.token_hex(16)}"}
                self.bills[out_bill_no] = bill
        if fault is not None and fault.drop_connection:
            raise _ConnectionDropped
        if fault is not None:
            time.sleep(fault.delay_seconds)
            return fault.status, {"code": fault.code, "message": "模拟错误"}
        return 200, {key: bill[key] for key in ("out_bill_no", "transfer_bill_no", "create_time", "state",
                                                "package_info") if key in bill}

    def _query(self, out_bill_no: str) -> tuple[int, dict]:
        with self._lock:
            self.query_calls.append(out_bill_no)
            bill = self.bills.get(out_bill_no)
            if bill is not None and bill["state"] == "CANCELING" and not self.cancellations_held:
                bill.update(state="CANCELLED", update_time=self._now())
        if bill is None:
            return 404, {"code": "NOT_FOUND", "message": "记录不存在"}
        return 200, {key: value for key, value in bill.items() if key != "package_info"}

    def _cancel(self, out_bill_no: str) -> tuple[int, dict]:
        with self._lock:
            bill = self.bills.get(out_bill_no)
            if bill is None:
                return 404, {"code": "NOT_FOUND", "message": "记录不存在"}
            if bill["state"] not in {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM"}:
                return 400, {"code": "INVALID_REQUEST", "message": "当前状态不可撤销"}
            bill.update(state="CANCELING", update_time=self._now())
            bill.pop("package_info", None)
        return 200, {"out_bill_no": out_bill_no, "transfer_bill_no": bill["transfer_bill_no"],
                     "state": "CANCELING", "update_time": bill["update_time"]}

    def _answer(self, status: int, data: dict) -> Response:
        body = json.dumps(data, ensure_ascii=False)
        headers = self._signed_headers(body) if status == 200 else {"Request-ID": uuid.uuid4().hex}
        return Response(body, status=status, content_type="application/json", headers=headers)

    def _signed_headers(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        stamp, nonce = str(timestamp if timestamp is not None else int(time.time())), secrets.token_hex(16)
        return {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": PUBLIC_KEY_ID,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Wechatpay-Signature": _sign(self.platform_key, f"{stamp}\n{nonce}\n{body}\n"),
                "Request-ID": uuid.uuid4().hex}

    @staticmethod
    def _now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600))


class FakeWeChatPayServer:
    def __init__(self, app_id: str) -> None:
        self.state = FakeWeChatPay(app_id)
        self._server = make_server("127.0.0.1", 0, self.state, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeWeChatPayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def payout_settings(server: FakeWeChatPayServer, key_directory: Path, app_id: str) -> dict[str, object]:
    """The settings (Config's names) that pay rewards through ``server``, its keys written to ``key_directory``;
    ``payout_environment`` gives them as a served process reads them."""
    private_key, public_key = server.state.write_keys(key_directory)
    return dict(wechatpay_payouts_enabled=True, wechatpay_mch_id=MCH_ID, wechatpay_app_id=app_id,
                wechatpay_private_key_path=private_key, wechatpay_cert_serial_no=CERT_SERIAL_NO,
                wechatpay_apiv3_key=APIV3_KEY, wechatpay_public_key_path=public_key,
                wechatpay_public_key_id=PUBLIC_KEY_ID, wechatpay_api_base_url=server.base_url,
                wechatpay_notify_url="https://example.invalid/api/v1/wechatpay/notify",
                wechatpay_timeout_seconds=5.0)


def payout_environment(settings: dict[str, object]) -> dict[str, str]:
    return {name.upper(): ("1" if value is True else str(value)) for name, value in settings.items()}
