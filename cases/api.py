"""Status updates pushed by the case system, and residents' subscribe-message consent."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from cases import services, signing
from cases.adapters import ExternalUpdate
from cases.schemas import (CaseUpdateResultSchema, CaseUpdateSchema, SubscribeSettingsSchema, SubscriptionResultSchema,
                           SubscriptionSchema)
from cases.settings import CaseSettings
from core.auth import current_resident_id, resident_required
from core.config import current_settings
from core.errors import NotFound, Unauthorized, UpstreamUnavailable

blp = Blueprint("cases", __name__, description="The case system's status updates; residents' notification consent")
_SIGNED = [{"caseSignature": []}]


def case_system_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse anything not signed now by the case system, before the body is even parsed."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = current_settings(CaseSettings)
        if not settings.case_updates_secret:
            raise UpstreamUnavailable("未配置案件系统密钥。", code="case_updates_not_configured")
        timestamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
        given = request.headers.get(signing.SIGNATURE_HEADER, "")
        # ASCII digits only: str.isdigit() also takes "²" or "١", which int() refuses.
        if not (timestamp.isascii() and timestamp.isdigit()) or not given:
            raise Unauthorized("缺少签名或时间戳。", code="signature_missing")
        # More digits than 12 is millennia away, and int() refuses more than 4300 and no float holds 400.
        if len(timestamp) > 12 or abs(time.time() - int(timestamp)) > settings.case_updates_max_skew_seconds:
            raise Unauthorized("时间戳超出允许范围。", code="stale_timestamp")
        if not signing.signature_matches(settings.case_updates_secret, timestamp, request.get_data(), given):
            raise Unauthorized("签名无效。", code="bad_signature")
        return view(*args, **kwargs)

    return wrapper


@blp.route("/case-updates")
class CaseUpdates(MethodView):
    @case_system_signed
    @blp.arguments(CaseUpdateSchema)
    @blp.response(200, CaseUpdateResultSchema)
    @blp.alt_response(401, description="signature_missing / stale_timestamp / bad_signature")
    @blp.alt_response(404, description="unknown report or case")
    @blp.alt_response(409, description="illegal_transition / update_id_reused")
    @blp.doc(security=_SIGNED)
    def post(self, body: dict) -> dict:
        """The case system pushes a status change (HMAC-SHA256 over "timestamp.body"; see the README)"""
        report_id = body["report_id"]
        if report_id is None:
            report_id = services.report_id_for_external(body["case_id"])
            if report_id is None:
                raise NotFound("未找到该案件对应的反映。", code="unknown_case")
        update = ExternalUpdate(update_id=body["update_id"], report_id=report_id, status=body["status"],
                                note=body["note"], photo_urls=tuple(body["photo_urls"]), public=body["public"],
                                occurred_at=body["occurred_at"])
        outcome = services.apply_update("push", update, body_digest=services.digest(request.get_data()),
                                        actor_name=current_settings(CaseSettings).case_system)
        return {"applied": outcome.applied, "report_id": outcome.report_id, "status": outcome.status,
                "superseded": outcome.superseded}


@blp.route("/notifications/subscriptions")
class Subscriptions(MethodView):
    @resident_required
    @blp.response(200, SubscribeSettingsSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def get(self) -> dict:
        """The subscribe-message templates to ask the resident for"""
        template_id = current_settings(CaseSettings).wechat_status_template_id
        return {"template_ids": [template_id] if template_id else []}

    @resident_required
    @blp.arguments(SubscriptionSchema, examples={
        "as wx.requestSubscribeMessage answers": {"value": {"errMsg": "requestSubscribeMessage:ok",
                                                            "TMPL_STATUS": "accept"}},
        "under results": {"value": {"results": {"TMPL_STATUS": "accept"}}}})
    @blp.response(200, SubscriptionResultSchema, example={"remaining": {"TMPL_STATUS": 1}})
    @blp.alt_response(422, description="unknown_template")
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, body: dict) -> dict:
        """Record what wx.requestSubscribeMessage answered: each "accept" allows one status message"""
        template_id = current_settings(CaseSettings).wechat_status_template_id
        return {"remaining": services.record_subscriptions(current_resident_id(), body["results"], template_id)}
