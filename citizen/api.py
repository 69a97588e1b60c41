"""Resident API: sign-in through WeChat, and the resident's own profile."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from citizen import services
from citizen.models import Report
from citizen.schemas import (DevLoginSchema, ExportSchema, IdempotencyHeaderSchema, NearbyArgsSchema, NearbySchema,
                             PageArgsSchema, ProblemCategoryTreeSchema, RatingSchema, ReportCreateSchema,
                             ReportPageSchema, ReportSchema, ResidentSchema, SessionSchema, WeChatLoginSchema)
from citizen.settings import CitizenSettings
from core.admin import SHANGHAI
from core.auth import current_resident_id, issue_resident_token, resident_required
from core.config import current_settings
from core.errors import UpstreamUnavailable
from core.privacy import absolute_links
from core.ratelimit import rate_limit
from core.geo import from_wgs84, in_both_datums, to_wgs84
from core.links import public_origin
from core.wechat import WeChatIdentity
from media import services as media_services

blp = Blueprint("citizen", __name__, description="Residents: sign-in, problem categories and reports (我拍我城)")
RESIDENT_AUTH = [{"bearerAuth": []}]
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
    @resident_required
    @blp.response(200, ResidentSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def get(self):  # noqa: ANN201
        """The signed-in resident"""
        return services.get_resident(current_resident_id())

    @resident_required
    @blp.response(204)
    @blp.doc(security=RESIDENT_AUTH)
    def delete(self) -> None:
        """Delete my account and my media; reports that became city cases stay, anonymised"""
        services.forget_resident_everywhere(current_resident_id())


@blp.route("/me/export")
class MyData(MethodView):
    @resident_required
    @blp.response(200, ExportSchema)
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.doc(security=RESIDENT_AUTH)
    def get(self) -> dict:
        """Everything held about me, as one JSON document with short-lived links to my media"""
        resident_id = current_resident_id()
        rate_limit("export", str(resident_id))
        return absolute_links(services.export_resident(resident_id), public_origin())


@dev_blp.route("/auth/dev")
class DevLogin(MethodView):
    @dev_blp.arguments(DevLoginSchema)
    @dev_blp.response(200, SessionSchema)
    def post(self, body: dict) -> dict:
        """Sign in as any openid (local development only)"""
        return _session_for(WeChatIdentity(openid=body["openid"], unionid=None))


@blp.route("/categories")
class Categories(MethodView):
    @blp.response(200, ProblemCategoryTreeSchema)
    def get(self) -> dict:
        """The problem categories residents can choose, by kind and class"""
        classes: dict[tuple[str, str], dict[str, Any]] = {}
        for category in services.list_categories():
            group = classes.setdefault((category.kind, category.class_code), {
                "kind": category.kind, "class_code": category.class_code, "name": category.class_name,
                "categories": []})
            group["categories"].append(category)
        return {"classes": list(classes.values())}


def present_reports(reports: list[Report]) -> list[dict[str, Any]]:
    """Reports as residents see them, with every media link signed from one query."""
    # Local-disk links are app paths: the mini-program needs them whole, as the media API gives them.
    urls = absolute_links(media_services.media_urls_by_id(item.media_id for report in reports for item in report.media),
                          public_origin())
    return [{
        "id": report.id, "status": report.status, "status_name": services.STATUS_NAMES[report.status],
        "category": report.category, "description": report.description, "address": report.address,
        "district": report.district, "location": in_both_datums(report.lat, report.lng),
        "created_at": report.created_at,
        "media": [{"id": item.media_id, "kind": item.kind, "purpose": item.purpose, "urls": urls.get(item.media_id, {})}
                  for item in report.media],
        "timeline": [{"status": event.to_status, "status_name": services.STATUS_NAMES[event.to_status],
                      "at": event.occurred_at, "note": event.note,
                      "photos": [urls.get(item.media_id, {}) for item in report.media if item.event_id == event.id]}
                     for event in services.timeline(report)],
        "reject_reason": report.reject_reason, "rating": report.rating, "rating_comment": report.rating_comment,
    } for report in reports]


def present_report(report: Report) -> dict[str, Any]:
    return present_reports([report])[0]


@blp.route("/reports")
class Reports(MethodView):
    @resident_required
    @blp.arguments(IdempotencyHeaderSchema, location="headers")
    @blp.arguments(ReportCreateSchema)
    @blp.response(201, ReportSchema)
    @blp.alt_response(409, description="idempotency_key_reused")
    @blp.alt_response(422, description="invalid_category / outside_service_area / invalid_media")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, headers: dict, body: dict) -> Any:
        """Report a street problem. Retrying with the same Idempotency-Key returns the same report."""
        location = body["location"]
        draft = services.ReportDraft(
            category_id=body["category_code"], description=body["description"], lat=location["lat"],
            lng=location["lng"], coord_type=location["coord_type"], address=body["address"],
            media_ids=tuple(body["media_ids"]))
        submission = services.submit_report(
            current_resident_id(), draft, idempotency_key=headers["idempotency_key"],
            ip_address=request.remote_addr, settings=current_settings(CitizenSettings),
            screen_text_later=current_app.extensions["wechat"] is not None)
        replay_headers = {} if submission.created else {"Idempotent-Replayed": "true"}
        return present_report(submission.report), 201, replay_headers


@blp.route("/reports/mine")
class MyReports(MethodView):
    @resident_required
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ReportPageSchema)
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, args: dict) -> dict:
        """My reports, newest first; pass next_cursor back as cursor for the next page"""
        before = int(args["cursor"]) if args["cursor"] else None
        reports = services.resident_reports(current_resident_id(), before_id=before, limit=args["limit"])
        next_cursor = str(reports[-1].id) if len(reports) == args["limit"] else None
        return {"items": present_reports(reports), "next_cursor": next_cursor}


@blp.route("/reports/nearby")
class NearbyReports(MethodView):
    @resident_required
    @blp.arguments(NearbyArgsSchema, location="query")
    @blp.response(200, NearbySchema)
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, args: dict) -> dict:
        """Known open problems near a point, nearest first, as the public sees them (masked text, only photos a
        moderator made public, blurred), so residents need not report them again"""
        rate_limit("nearby", request.remote_addr or "")
        lat, lng = to_wgs84(args["lat"], args["lng"], args["coord_type"])
        radius_m = current_settings(CitizenSettings).nearby_radius_m
        found = services.nearby_open_reports(lat, lng, radius_m=radius_m, limit=args["limit"])
        photos = services.public_photo_ids(report for report, _ in found)
        urls = media_services.media_urls_by_id(media_id for media_ids in photos.values() for media_id in media_ids)
        items = []
        for report, distance in found:
            shown_lat, shown_lng = from_wgs84(report.lat, report.lng, args["coord_type"])
            public_urls = [urls[media_id] for media_id in photos[report.id] if media_id in urls]
            items.append({
                "category": report.category, "status": report.status,
                "status_name": services.STATUS_NAMES[report.status], "description": report.public_description,
                "location": {"lat": round(shown_lat, 3), "lng": round(shown_lng, 3), "coord_type": args["coord_type"]},
                "distance_m": round(distance, -1),
                "thumbnail_url": public_urls[0].get("thumb") if public_urls else None,
                "photos": public_urls,
                # The day as residents count it (Beijing time), not the UTC day it is stored in.
                "reported_on": report.created_at.astimezone(SHANGHAI).date(),
            })
        # Local-disk links are app paths: the mini-program needs them whole.
        return absolute_links({"items": items}, public_origin())


@blp.route("/reports/<int:report_id>")
class ReportDetail(MethodView):
    @resident_required
    @blp.response(200, ReportSchema)
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, report_id: int) -> dict:
        """One of my reports with its status timeline"""
        return present_report(services.get_resident_report(current_resident_id(), report_id))


@blp.route("/reports/<int:report_id>/withdraw")
class WithdrawReport(MethodView):
    @resident_required
    @blp.response(200, ReportSchema)
    @blp.alt_response(409, description="illegal_transition: already reviewed")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, report_id: int) -> dict:
        """Withdraw a report that has not been reviewed yet"""
        return present_report(services.withdraw_report(current_resident_id(), report_id))


@blp.route("/reports/<int:report_id>/rating")
class RateReport(MethodView):
    @resident_required
    @blp.arguments(RatingSchema)
    @blp.response(200, ReportSchema)
    @blp.alt_response(409, description="not_resolved / already_rated")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, body: dict, report_id: int) -> dict:
        """Rate how a resolved report was handled (1–5), once"""
        report = services.rate_report(current_resident_id(), report_id, rating=body["rating"], comment=body["comment"])
        return present_report(report)
