"""Resident API: sign-in through WeChat, and the resident's own profile."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from citizen import services
from citizen.models import Report, ReportEvent
from citizen.schemas import (DevLoginSchema, ExportSchema, IdempotencyHeaderSchema, NearbyArgsSchema, NearbySchema,
                             PageArgsSchema, ProblemCategoryTreeSchema, PublicReportsArgsSchema, PublicReportsSchema,
                             RatingSchema, ReopenSchema, ReplySchema, ReportCreateSchema, ReportPageSchema,
                             ReportSchema, ResidentSchema, SessionSchema, WeChatLoginSchema)
from citizen.settings import CitizenSettings
from core.admin import SHANGHAI
from core.auth import current_resident_id, issue_resident_token, resident_required
from core.config import current_settings
from core.errors import UpstreamUnavailable
from core.privacy import absolute_links
from core.ratelimit import rate_limit
from core.geo import box_to_wgs84, to_wgs84, wgs84_to_gcj02
from core.links import public_origin
from core.wechat import WeChatIdentity
from media import services as media_services
from media.settings import MediaSettings

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


def present_reports(reports: list[Report]) -> list[dict[str, Any]]:
    """Reports as residents see them, with every media link signed from one query."""
    # Local-disk links are app paths: the mini-program needs them whole, as the media API gives them.
    urls = absolute_links(media_services.media_urls_by_id(item.media_id for report in reports for item in report.media),
                          public_origin())
    return [{
        "id": report.id, "status": report.status, "status_name": services.STATUS_NAMES[report.status],
        "category": report.category, "description": report.description, "address": report.address,
        "district": report.district, "location": _location(report.lat, report.lng), "created_at": report.created_at,
        "media": [{"id": item.media_id, "kind": item.kind, "purpose": item.purpose, "urls": urls.get(item.media_id, {})}
                  for item in report.media],
        "timeline": [_timeline_entry(report, event, urls) for event in services.timeline(report)],
        "reject_reason": report.reject_reason, "rating": report.rating, "rating_comment": report.rating_comment,
    } for report in reports]


def _timeline_entry(report: Report, event: ReportEvent, urls: dict[int, dict[str, str]]) -> dict[str, Any]:
    media = [item for item in report.media if item.event_id == event.id]
    return {"status": event.to_status, "status_name": services.STATUS_NAMES[event.to_status], "at": event.occurred_at,
            "by": event.actor_kind, "note": event.note,
            "photos": [urls.get(item.media_id, {}) for item in media if item.kind == "photo"],
            "media": [{"id": item.media_id, "kind": item.kind, "urls": urls.get(item.media_id, {})} for item in media]}


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
        items = [{**item, "distance_m": round(distance, -1)} for item, (_, distance)
                 in zip(public_versions([report for report, _ in found], args["coord_type"]), found, strict=True)]
        # Local-disk links are app paths: the mini-program needs them whole.
        return absolute_links({"items": items}, public_origin())


def _shown(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    """A stored WGS-84 point in the coordinates the request asked for."""
    return wgs84_to_gcj02(lat, lng) if coord_type == "gcj02" else (lat, lng)


def public_versions(reports: list[Report], coord_type: str) -> list[dict[str, Any]]:
    """Reports as anyone may see them: masked text, the position rounded to about 100 m, only the photos a moderator
    made public (their blurred copies, as signed links), nothing of the resident."""
    photos = services.public_photo_ids(reports)
    urls = media_services.media_urls_by_id(media_id for media_ids in photos.values() for media_id in media_ids)
    items = []
    for report in reports:
        shown_lat, shown_lng = _shown(report.lat, report.lng, coord_type)
        public_urls = [urls[media_id] for media_id in photos[report.id] if media_id in urls]
        items.append({
            "id": report.id, "category": report.category, "status": report.status,
            "status_name": services.STATUS_NAMES[report.status], "description": report.public_description,
            "location": {"lat": round(shown_lat, 3), "lng": round(shown_lng, 3), "coord_type": coord_type},
            "thumbnail_url": public_urls[0].get("thumb") if public_urls else None,
            "photos": public_urls,
            # The day as residents count it (Beijing time), not the UTC day it is stored in.
            "reported_on": report.created_at.astimezone(SHANGHAI).date(),
        })
    return items


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


@blp.route("/reports/<int:report_id>/reply")
class ReplyToReport(MethodView):
    @resident_required
    @blp.arguments(ReplySchema, example={"text": "垃圾堆在路口东南角的绿化带旁，已补拍近景照片。", "media_ids": [1042]})
    @blp.response(200, ReportSchema)
    @blp.alt_response(404, description="not_found: no such report of mine")
    @blp.alt_response(409, description="no_information_requested: staff have not asked for more / report_changed")
    @blp.alt_response(422, description="text_required (blank) / invalid_media / media_in_use")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, body: dict, report_id: int) -> dict:
        """Answer a moderator's request for more information (要求补充信息); back to review, flagged 已补充"""
        return present_report(services.reply_to_information_request(
            current_resident_id(), report_id, text=body["text"], media_ids=tuple(body["media_ids"])))


@blp.route("/reports/<int:report_id>/reopen")
class ReopenReport(MethodView):
    @resident_required
    @blp.arguments(ReopenSchema, example={"reason": "只清理了路口西侧，东侧绿化带旁的垃圾仍在。", "media_ids": [1077]})
    @blp.response(200, ReportSchema)
    @blp.alt_response(404, description="not_found: no such report of mine")
    @blp.alt_response(409, description="not_closed / reopen_window_passed / reopen_limit_reached / report_changed")
    @blp.alt_response(422, description="reason_required (blank) / invalid_media / media_in_use")
    @blp.doc(security=RESIDENT_AUTH)
    def post(self, body: dict, report_id: int) -> dict:
        """Reopen a closed report I am unhappy with, within the reopening window: handled again by the case system"""
        return present_report(services.reopen_report(
            current_resident_id(), report_id, reason=body["reason"], media_ids=tuple(body["media_ids"]),
            settings=current_settings(CitizenSettings)))


PUBLIC_REPORTS_EXAMPLE = {
    "mode": "clusters", "coord_type": "gcj02", "level": 12, "total": 5, "next_cursor": None, "items": [],
    "clusters": [{"count": 3, "lat": 36.066, "lng": 120.389, "bounds": {
        "south": 35.947, "west": 120.236, "north": 36.035, "east": 120.323}},
        {"count": 2, "lat": 36.101, "lng": 120.462, "bounds": {
            "south": 36.035, "west": 120.411, "north": 36.123, "east": 120.499}}],
}


@blp.route("/reports/public")
class PublicReports(MethodView):
    @blp.arguments(PublicReportsArgsSchema, location="query")
    @blp.response(200, PublicReportsSchema, example=PUBLIC_REPORTS_EXAMPLE)
    @blp.alt_response(422, description="validation_error: an inverted or too large window, bad dates, a page over "
                                       "100")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    def get(self, args: dict) -> Response:
        """The city's reports on a map, for anyone (no sign-in): counts per grid cell when zoomed out, the reports
        themselves (their public version, newest first, paged) when zoomed in. Answers are cached for
        PUBLIC_REPORTS_CACHE_SECONDS (X-Cache: hit or miss), so a status change shows within that."""
        rate_limit("public_reports", request.remote_addr or "")
        coord_type = args["coord_type"]
        window = services.MapWindow(
            *box_to_wgs84(args["south"], args["west"], args["north"], args["east"], coord_type),
            statuses=tuple(sorted(set(args["status"] or services.PUBLIC_STATUSES))),
            category_ids=tuple(sorted(set(args["category"]))), since=args["since"], until=args["until"])
        level = services.grid_level(window, args["zoom"])
        # Clusters cover whole cells, so windows meeting the same cells share an answer.
        where = ((window.south, window.west, window.north, window.east, args["cursor"], args["limit"])
                 if services.shows_reports(level) else services.cell_range(window, level))
        key = hashlib.sha256(json.dumps([level, where, coord_type, window.statuses, window.category_ids,
                                         str(window.since), str(window.until), public_origin()]).encode()).hexdigest()
        cache = current_app.extensions["cache"]
        body = cache.get(f"public-reports:{key}")
        cached = body is not None
        if body is None:
            answer = (_public_reports_page(window, coord_type, args) if services.shows_reports(level)
                      else _public_clusters(window, level, coord_type))
            body = json.dumps(PublicReportsSchema().dump({**answer, "coord_type": coord_type, "level": level}),
                              ensure_ascii=False).encode()
            ttl = min(current_settings(CitizenSettings).public_reports_cache_seconds,
                      current_settings(MediaSettings).signed_url_ttl_seconds // 2)
            if ttl > 0:
                cache.set(f"public-reports:{key}", body, ttl)
        return Response(body, mimetype="application/json", headers={"X-Cache": "hit" if cached else "miss"})


def _public_clusters(window: services.MapWindow, level: int, coord_type: str) -> dict[str, Any]:
    clusters = []
    for cluster in services.clusters(window, level):
        lat, lng = _shown(cluster.lat, cluster.lng, coord_type)
        south, west = _shown(cluster.south, cluster.west, coord_type)
        north, east = _shown(cluster.north, cluster.east, coord_type)
        clusters.append({"count": cluster.count, "lat": round(lat, 3), "lng": round(lng, 3), "bounds": {
            "south": round(south, 6), "west": round(west, 6), "north": round(north, 6), "east": round(east, 6)}})
    return {"mode": "clusters", "total": sum(cluster["count"] for cluster in clusters), "clusters": clusters,
            "items": [], "next_cursor": None}


def _public_reports_page(window: services.MapWindow, coord_type: str, args: dict) -> dict[str, Any]:
    before = int(args["cursor"]) if args["cursor"] else None
    reports = services.reports_in_window(window, before_id=before, limit=args["limit"])
    next_cursor = str(reports[-1].id) if len(reports) == args["limit"] else None
    # Local-disk links are app paths: the mini-program needs them whole.
    return {"mode": "reports", "total": None, "clusters": [],
            "items": absolute_links(public_versions(reports, coord_type), public_origin()), "next_cursor": next_cursor}
