"""A loopback stand-in for WeChat's API servers, speaking their JSON and error codes."""

from __future__ import annotations

import dataclasses
import itertools
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response
import json

APP_ID = "wx_test_app_id"
APP_SECRET = "test_app_secret"


@dataclasses.dataclass
class FakeWeChat:
    """Login codes are registered by tests; anything else is an invalid code (40029)."""

    codes: dict[str, tuple[str, str | None]] = dataclasses.field(default_factory=dict)
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    used_codes: set[str] = dataclasses.field(default_factory=set)
    # Codes "<prefix><openid>:<anything>" sign that openid in, each once: as a phone's wx.login gives them, for a
    # client that makes its own codes (the mini-program under Node) where a test cannot register each.
    device_code_prefix: str | None = None
    risky_words: set[str] = dataclasses.field(default_factory=set)
    token_requests: int = 0
    # Subscribe messages received, and errcodes to answer the next sends with.
    subscribe_messages: list[dict] = dataclasses.field(default_factory=list)
    subscribe_failures: list[int] = dataclasses.field(default_factory=list)
    issued_tokens: set[str] = dataclasses.field(default_factory=set)
    # Errcodes to answer the next content checks with.
    text_check_failures: list[int] = dataclasses.field(default_factory=list)
    _counter: itertools.count = dataclasses.field(default_factory=itertools.count)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        self.codes[code] = (openid, unionid)

    def _device_code(self, code: str) -> tuple[str, str | None] | None:
        if not self.device_code_prefix or not code.startswith(self.device_code_prefix):
            return None
        openid, separator, _ = code.removeprefix(self.device_code_prefix).partition(":")
        return (openid, None) if openid and separator else None

    def fail_code(self, code: str, errcode: int) -> None:
        self.errors[code] = errcode

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        request = Request(environ)
        handler = {
            "/cgi-bin/stable_token": self._stable_token,
            "/cgi-bin/token": self._token,
            "/sns/jscode2session": self._jscode2session,
            "/wxa/msg_sec_check": self._msg_sec_check,
            "/cgi-bin/message/subscribe/send": self._subscribe_send,
        }.get(request.path)
        body = handler(request) if handler else {"errcode": 404, "errmsg": "not found"}
        response = Response(json.dumps(body), content_type="application/json")
        return response(environ, start_response)

    def _new_token(self) -> dict:
        with self._lock:
            self.token_requests += 1
            token = f"ACCESS_TOKEN_{next(self._counter)}"
            self.issued_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _stable_token(self, request: Request) -> dict:
        body = request.get_json(force=True, silent=True) or {}
        if body.get("appid") != APP_ID or body.get("secret") != APP_SECRET:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        return self._new_token()

    def _token(self, request: Request) -> dict:
        if request.args.get("appid") != APP_ID or request.args.get("secret") != APP_SECRET:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        return self._new_token()

    def _msg_sec_check(self, request: Request) -> dict:
        if request.args.get("access_token") not in self.issued_tokens:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        with self._lock:
            if self.text_check_failures:
                return {"errcode": self.text_check_failures.pop(0), "errmsg": "fake failure"}
        content = (request.get_json(force=True, silent=True) or {}).get("content", "")
        if any(word in content for word in self.risky_words):
            return {"errcode": 87014, "errmsg": "risky content"}
        return {"errcode": 0, "errmsg": "ok"}

    def _subscribe_send(self, request: Request) -> dict:
        if request.args.get("access_token") not in self.issued_tokens:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        body = request.get_json(force=True, silent=True) or {}
        with self._lock:
            if self.subscribe_failures:
                errcode = self.subscribe_failures.pop(0)
                return {"errcode": errcode, "errmsg": "fake failure"}
        if not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
            return {"errcode": 47003, "errmsg": "argument invalid"}
        with self._lock:
            self.subscribe_messages.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": len(self.subscribe_messages)}

    def _jscode2session(self, request: Request) -> dict:
        args = request.args
        if args.get("appid") != APP_ID or args.get("secret") != APP_SECRET:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if args.get("grant_type") != "authorization_code":
            return {"errcode": 40097, "errmsg": "invalid args"}
        code = args.get("js_code", "")
        if code in self.errors:
            errcode = self.errors[code]
            return {"errcode": errcode, "errmsg": {-1: "system error", 45011: "api minute-quota reach limit",
                                                   40163: "code been used"}.get(errcode, "error")}
        with self._lock:
            if code in self.used_codes:
                return {"errcode": 40163, "errmsg": "code been used, rid: fake"}
            known = self.codes.get(code) or self._device_code(code)
            if known is None:
                return {"errcode": 40029, "errmsg": "invalid code, rid: fake"}
            self.used_codes.add(code)
        openid, unionid = known
        answer = {"openid": openid, "session_key": "SESSION_KEY_MUST_NOT_LEAK"}
        if unionid:
            answer["unionid"] = unionid
        return answer


class FakeWeChatServer:
    def __init__(self) -> None:
        self.wechat = FakeWeChat()
        self._server = make_server("127.0.0.1", 0, self.wechat, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def start(self) -> FakeWeChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
