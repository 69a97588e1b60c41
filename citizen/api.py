"""Resident API: sign-in through WeChat, and the resident's own profile."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from citizen import services
from citizen.schemas import DevLoginSchema, ResidentSchema, SessionSchema, WeChatLoginSchema
from core.auth import current_resident_id, issue_resident_token, resident_required
from core.errors import UpstreamUnavailable
from core.wechat import WeChatIdentity

blp = Blueprint("citizen", __name__, description="Residents: sign-in and profile")
dev_blp = Blueprint("citizen_dev", __name__, description="Development-only sign-in (absent in production)")


def _session_for(identity: WeChatIdentity) -> dict:
    resident = services.sign_in_resident(identity)
    issued = issue_resident_token(resident.id)
    return {"token": issued.token, "expires_at": issued.expires_at, "resident": resident}


@blp.route("/auth/wechat")
class WeChatLogin(MethodView):
    @blp.arguments(WeChatLoginSchema)
    @blp.response(200, SessionSchema)
    @blp.alt_response(401, description="wechat_code_invalid")
    @blp.alt_response(409, description="wechat_code_used")
    @blp.alt_response(429, description="wechat_rate_limited")
    @blp.alt_response(503, description="wechat_busy / wechat_unreachable")
    def post(self, body: dict) -> dict:
        """Sign in with the code from wx.login()"""
        wechat = current_app.extensions["wechat"]
        if wechat is None:
            raise UpstreamUnavailable("未配置微信小程序，无法登录。", code="wechat_not_configured")
        return _session_for(wechat.code_to_session(body["code"]))


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, ResidentSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    @resident_required
    def get(self):  # noqa: ANN201
        """The signed-in resident"""
        return services.get_resident(current_resident_id())


@dev_blp.route("/auth/dev")
class DevLogin(MethodView):
    @dev_blp.arguments(DevLoginSchema)
    @dev_blp.response(200, SessionSchema)
    def post(self, body: dict) -> dict:
        """Sign in as any openid (local development only)"""
        return _session_for(WeChatIdentity(openid=body["openid"], unionid=None))
