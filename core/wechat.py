"""WeChat mini-program adapter over wechatpy, with WeChat's error codes mapped for residents."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Protocol

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from core.errors import AppError
from core.metrics import count_call

log = logging.getLogger(__name__)

# WeChat's documented errcodes for jscode2session, as (status, our code, message for the resident).
_LOGIN_ERRORS = {
    40029: (401, "wechat_code_invalid", "登录凭证无效，请重新登录。"),
    40163: (409, "wechat_code_used", "登录凭证已被使用，请重新登录。"),
    45011: (429, "wechat_rate_limited", "登录过于频繁，请稍后再试。"),
    -1: (503, "wechat_busy", "微信服务繁忙，请稍后再试。"),
}
HTTP_TIMEOUT_SECONDS = 5
RISKY_CONTENT_ERRCODE = 87014


class WeChatError(AppError):
    status = 502
    code = "wechat_error"


@dataclasses.dataclass(frozen=True)
class WeChatIdentity:
    openid: str
    unionid: str | None
    # session_key deliberately absent: it never leaves the adapter.


class MiniProgram(Protocol):
    """What the packages ask of the mini-program's WeChat side (``app.extensions["wechat"]``; None in the embedded
    default without credentials, where sign-in is the development one and no message is sent)."""

    def code_to_session(self, code: str) -> WeChatIdentity: ...

    def send_subscribe_message(self, openid: str, template_id: str, data: dict[str, Any], page: str) -> None: ...

    def text_is_risky(self, text: str) -> bool | None: ...


class _StableTokenClient(WeChatClient):
    """wechatpy's client, pointed at a configurable base URL, using ``cgi-bin/stable_token``.

    The stable token does not invalidate the previous one when fetched, so several
    processes sharing one cached token never knock each other's token out.
    """

    def __init__(self, appid: str, secret: str, base_url: str, session: Any) -> None:
        super().__init__(appid, secret, session=session, timeout=HTTP_TIMEOUT_SECONDS)
        self.base_url = base_url
        self.API_BASE_URL = f"{base_url}cgi-bin/"
        self.wxa.API_BASE_URL = base_url

    def fetch_access_token(self) -> dict:
        response = self._http.post(
            f"{self.base_url}cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                  "force_refresh": False},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        try:
            response.raise_for_status()
        except requests.RequestException as exc:
            raise WeChatClientException(None, None, client=self, request=exc.request, response=exc.response) from exc
        result = response.json()
        if result.get("errcode", 0) != 0:
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self,
                                        request=response.request, response=response)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


class WeChatMiniProgram:
    def __init__(self, app_id: str, app_secret: str, base_url: str, redis_connection: Any | None) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        storage = RedisStorage(redis_connection, prefix="wechatpy") if redis_connection is not None else MemoryStorage()
        self.client = _StableTokenClient(app_id, app_secret, base_url, storage)

    def code_to_session(self, code: str) -> WeChatIdentity:
        try:
            result = _counted("code_to_session", self.client.wxa.code_to_session, code)
        except WeChatClientException as exc:
            raise _login_error(exc.errcode) from None
        except requests.RequestException:
            log.warning("wechat unreachable during login")
            raise WeChatError("暂时无法连接微信服务，请稍后再试。", code="wechat_unreachable", status=503) from None
        return WeChatIdentity(openid=result["openid"], unionid=result.get("unionid") or None)

    def send_subscribe_message(self, openid: str, template_id: str, data: dict[str, Any], page: str) -> None:
        """A subscribe message (订阅消息); raises WeChatClientException or requests' errors for the caller to retry."""
        _counted("send_subscribe_message", self.client.wxa.send_subscribe_message, openid, template_id, data, page=page)

    def text_is_risky(self, text: str) -> bool | None:
        """WeChat's content check (msg_sec_check): True for risky (errcode 87014), False for an answer of 0, None
        when WeChat gave no verdict (an error code, or unreachable): the caller checks again later."""
        try:
            _counted("msg_sec_check", self.client.post, "wxa/msg_sec_check", data={"content": text},
                     api_base_url=self.client.base_url)
        except WeChatClientException as exc:
            if exc.errcode == RISKY_CONTENT_ERRCODE:
                return True
            log.warning("wechat content check unavailable", extra={"wechat_errcode": exc.errcode})
            return None
        except requests.RequestException:
            log.warning("wechat content check unreachable")
            return None
        return False


def _counted(operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, counted by outcome: ok, refused (WeChat answered with an error code, a risky-text
    verdict included) or unreachable."""
    try:
        result = call(*args, **kwargs)
    except WeChatClientException as exc:
        count_call("wechat", operation, "unreachable" if exc.errcode is None else "refused")
        raise
    except requests.RequestException:
        count_call("wechat", operation, "unreachable")
        raise
    count_call("wechat", operation, "ok")
    return result


def _login_error(errcode: int | None) -> WeChatError:
    if errcode is None:
        return WeChatError("暂时无法连接微信服务，请稍后再试。", code="wechat_unreachable", status=503)
    status, code, message = _LOGIN_ERRORS.get(int(errcode), (502, "wechat_error", "微信登录失败，请稍后再试。"))
    log.info("wechat login refused", extra={"wechat_errcode": errcode})
    return WeChatError(message, code=code, status=status, details={"wechat_errcode": int(errcode)})
