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
from core.geo import to_wgs84, wgs84_to_gcj02
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


def _location(lat: float, lng: float) -> dict[str, dict[str, float]]:
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    return {"wgs84": {"lat": lat, "lng": lng}, "gcj02": {"lat": round(gcj_lat, 7), "lng": round(gcj_lng, 7)}}


def _shown_media(followed: services.Followed) -> list[tuple[int, Any]]:
    """(media id, its report media row) of what this resident sees: all of their own report; of one they follow,
    the public copies of the photos a moderator made public and the case system's photos."""
    if followed.follower is None:
        return [(item.media_id, item) for item in followed.report.media]
    return [(item.media_id if item.purpose == "resolution" else item.public_media_id, item)
            for item in followed.report.media
            if item.purpose == "resolution" or (item.is_public and item.public_media_id is not None)]


def present_reports(items: list[services.Followed], resident_id: int) -> list[dict[str, Any]]:
    """Reports as this resident sees them (their own, or followed), a duplicate with the original it follows,
    every media link signed from one query."""
    originals = services.originals_followed(
        resident_id, [item.report for item in items if item.follower is None and item.report.duplicate_of_id])
    everything = [*items, *originals.values()]
    counts = services.me_too_counts([item.report.id for item in everything])
    shown = {id(item): _shown_media(item) for item in everything}
    # Local-disk links are app paths: the mini-program needs them whole, as the media API gives them.
    media_ids = (media_id for media in shown.values() for media_id, _ in media)
    urls = absolute_links(media_services.media_urls_by_id(media_ids), public_origin())

    def one(item: services.Followed) -> dict[str, Any]:
        report, follower = item.report, item.follower
        media = shown[id(item)]
        events = services.timeline(report) if follower is None else services.follower_timeline(report)
        rated = report if follower is None else follower
        return {
            "id": report.id, "relation": item.relation, "me_too_count": counts[report.id], "status": report.status,
            "status_name": services.STATUS_NAMES[report.status], "category": report.category,
            "description": report.description if follower is None else report.public_description,
            "address": report.address, "district": report.district, "location": _location(report.lat, report.lng),
            "created_at": report.created_at,
            "media": [{"id": media_id, "kind": row.kind, "purpose": row.purpose, "urls": urls.get(media_id, {})}
                      for media_id, row in media],
            "timeline": [{"status": event.to_status, "status_name": services.STATUS_NAMES[event.to_status],
                          "at": event.occurred_at, "note": event.note,
                          "photos": [urls.get(media_id, {}) for media_id, row in media if row.event_id == event.id]}
                         for event in events],
            "reject_reason": report.reject_reason if follower is None else None,
            "rating": rated.rating, "rating_comment": rated.rating_comment,
        }

    return [{**one(item), "original": one(originals[item.report.id]) if item.report.id in originals else None}
            for item in items]


def present_report(item: services.Followed, resident_id: int) -> dict[str, Any]:
    return present_reports([item], resident_id)[0]


def _own(report: Report) -> dict[str, Any]:
    return present_report(services.Followed(report, None), report.resident_id)


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
        return _own(submission.report), 201, replay_headers


@blp.route("/reports/mine")
class MyReports(MethodView):
    @resident_required
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ReportPageSchema)
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, args: dict) -> dict:
        """My reports, newest first; pass next_cursor back as cursor for the next page"""
        before = int(args["cursor"]) if args["cursor"] else None
        resident_id = current_resident_id()
        reports = services.resident_reports(resident_id, before_id=before, limit=args["limit"])
        next_cursor = str(reports[-1].id) if len(reports) == args["limit"] else None
        return {"items": present_reports([services.Followed(report, None) for report in reports], resident_id),
                "next_cursor": next_cursor}


@blp.route("/reports/following")
class FollowedReports(MethodView):
    @resident_required
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ReportPageSchema, example={"items": [], "next_cursor": None})
    @blp.doc(security=RESIDENT_AUTH)
    def get(self, args: dict) -> dict:
        """Reports I follow (附议 given, or my report merged into them), the latest followed first; pass
        next_cursor back as cursor for the next page"""
        before = int(args["cursor"]) if args["cursor"] else None
        resident_id = current_resident_id()
        items = services.followed_reports(resident_id, before_id=before, limit=args["limit"])
        next_cursor = str(items[-1].follower.id) if len(items) == args["limit"] else None
        return {"items": present_reports(items, resident_id), "next_cursor": next_cursor}


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
        counts = services.me_too_counts([report.id for report, _ in found])
        relations = services.relations(current_resident_id(), [report for report, _ in found])
        photos = services.public_photo_ids(report for report, _ in found)
        urls = media_services.media_urls_by_id(media_id for media_ids in photos.values() for media_id in media_ids)
        items = []
        for report, distance in found:
            shown_lat, shown_lng = (wgs84_to_gcj02(report.lat, report.lng) if args["coord_type"] == "gcj02"
                                    else (report.lat, report.lng))
            public_urls = [urls[media_id] for media_id in photos[report.id] if media_id in urls]
            items.append({
                "id": report.id, "me_too_count": counts[report.id], "relation": relations[report.id],
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
        """One of my reports, or one I follow (附议, or my report merged into it), with its status timeline"""
        resident_id = current_resident_id()
        return present_report(services.followed_report(resident_id, report_id), resident_id)


@blp.route("/reports/<int:report_id>/withdraw")
class WithdrawReport(MethodView):
    @resident_required
    @blp.response(200, ReportSchema)
    @blp.alt_response(409, description="illegal_transition: already reviewed")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, report_id: int) -> dict:
        """Withdraw a report that has not been reviewed yet"""
        return _own(services.withdraw_report(current_resident_id(), report_id))


@blp.route("/reports/<int:report_id>/rating")
class RateReport(MethodView):
    @resident_required
    @blp.arguments(RatingSchema)
    @blp.response(200, ReportSchema)
    @blp.alt_response(409, description="not_resolved / already_rated")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, body: dict, report_id: int) -> dict:
        """Rate how a resolved report was handled (1–5), once: my own, or one I follow (my own rating)"""
        resident_id = current_resident_id()
        rated = services.rate(resident_id, report_id, rating=body["rating"], comment=body["comment"])
        return present_report(rated, resident_id)


_ME_TOO_EXAMPLE = {
    "id": 1024, "relation": "me_too", "me_too_count": 3, "status": "forwarded", "status_name": "已转办",
    "category": {"id": "B0301", "code": "0301", "kind": "component", "class_code": "03", "class_name": "市容环境设施",
                 "name": "公共厕所", "hint": ""},
    "description": "公厕门口污水外溢", "address": "市南区香港中路 1 号", "district": "市南区",
    "location": {"wgs84": {"lat": 36.0662, "lng": 120.3826}, "gcj02": {"lat": 36.0658, "lng": 120.3878}},
    "created_at": "2026-12-06T01:20:00+00:00", "media": [],
    "timeline": [{"status": "accepted", "status_name": "已受理", "at": "2026-12-06T02:00:00+00:00",
                  "note": "您的反映已受理，将转交城市管理部门处理。", "photos": []}],
    "reject_reason": None, "rating": None, "rating_comment": None, "original": None}


@blp.route("/reports/<int:report_id>/me-too")
class MeToo(MethodView):
    @resident_required
    @blp.response(200, ReportSchema, example=_ME_TOO_EXAMPLE)
    @blp.alt_response(404, description="not_open: no such open report")
    @blp.alt_response(409, description="own_report")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, report_id: int) -> dict:
        """附议 (me too): add my voice to an open report from the nearby list instead of filing it again. Once per
        resident: a second call answers the same and counts nothing more. I follow it from then on: its timeline
        (GET /reports/{id}), its subscribe messages, and a rating of my own once it is resolved."""
        resident_id = current_resident_id()
        rate_limit("me_too", str(resident_id))
        return present_report(services.add_me_too(resident_id, report_id), resident_id)

    @resident_required
    @blp.response(204)
    @blp.alt_response(404, description="not_open: no such open report, nor one I follow")
    @blp.alt_response(409, description="merged_follow: my merged report follows it / not_open: already resolved")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.doc(security=RESIDENT_AUTH)
    def delete(self, report_id: int) -> None:
        """Take back my 附议 while the report is open (no error when none was given, or it was taken back)"""
        resident_id = current_resident_id()
        rate_limit("me_too", str(resident_id))
        services.withdraw_me_too(resident_id, report_id)
