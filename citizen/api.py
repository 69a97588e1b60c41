"""Resident API: sign-in through WeChat, and the resident's own profile."""

from __future__ import annotations

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
from core.geo import box_to_wgs84, from_wgs84, in_both_datums, to_wgs84
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
            "address": report.address, "district": report.district, "location": in_both_datums(report.lat, report.lng),
            "created_at": report.created_at,
            "media": [{"id": media_id, "kind": row.kind, "purpose": row.purpose, "urls": urls.get(media_id, {})}
                      for media_id, row in media],
            "timeline": [_timeline_entry(event, media, urls) for event in events],
            "reject_reason": report.reject_reason if follower is None else None,
            "awaiting_information": follower is None and report.status == services.PENDING_REVIEW
            and services.INFO_REQUESTED in report.flags,
            "rating": rated.rating, "rating_comment": rated.rating_comment,
        }

    return [{**one(item), "original": one(originals[item.report.id]) if item.report.id in originals else None}
            for item in items]


def _timeline_entry(event: ReportEvent, media: list[tuple[int, Any]], urls: dict[int, dict[str, str]]
                    ) -> dict[str, Any]:
    attached = [(media_id, row) for media_id, row in media if row.event_id == event.id]
    return {"status": event.to_status, "status_name": services.STATUS_NAMES[event.to_status], "at": event.occurred_at,
            "by": event.actor_kind, "note": event.note,
            "photos": [urls.get(media_id, {}) for media_id, row in attached if row.kind == "photo"],
            "media": [{"id": media_id, "kind": row.kind, "urls": urls.get(media_id, {})} for media_id, row in attached]}


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
        items = [{**item, "me_too_count": counts[report.id], "relation": relations[report.id],
                  "distance_m": round(distance, -1)} for item, (report, distance)
                 in zip(public_versions([report for report, _ in found], args["coord_type"]), found, strict=True)]
        # Local-disk links are app paths: the mini-program needs them whole.
        return absolute_links({"items": items}, public_origin())


def public_versions(reports: list[Report], coord_type: str) -> list[dict[str, Any]]:
    """Reports as anyone may see them: masked text, the position rounded to about 100 m, only the photos a moderator
    made public (their blurred copies, as signed links), nothing of the resident."""
    photos = services.public_photo_ids(reports)
    urls = media_services.media_urls_by_id(media_id for media_ids in photos.values() for media_id in media_ids)
    items = []
    for report in reports:
        shown_lat, shown_lng = from_wgs84(report.lat, report.lng, coord_type)
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
        return _own(services.reply_to_information_request(
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
        return _own(services.reopen_report(
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

        def render() -> bytes:
            answer = (_public_reports_page(window, coord_type, args) if services.shows_reports(level)
                      else _public_clusters(window, level, coord_type))
            return json.dumps(PublicReportsSchema().dump({**answer, "coord_type": coord_type, "level": level}),
                              ensure_ascii=False).encode()

        body, cached = services.cached_map_answer(
            current_app.extensions["cache"], window, level, page=(args["cursor"], args["limit"]),
            shown_as=(coord_type, public_origin()),
            cache_seconds=current_settings(CitizenSettings).public_reports_cache_seconds,
            link_seconds=current_settings(MediaSettings).signed_url_ttl_seconds, render=render)
        return Response(body, mimetype="application/json", headers={"X-Cache": "hit" if cached else "miss"})


def _public_clusters(window: services.MapWindow, level: int, coord_type: str) -> dict[str, Any]:
    clusters = []
    for cluster in services.clusters(window, level):
        lat, lng = from_wgs84(cluster.lat, cluster.lng, coord_type)
        south, west = from_wgs84(cluster.south, cluster.west, coord_type)
        north, east = from_wgs84(cluster.north, cluster.east, coord_type)
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


_ME_TOO_EXAMPLE = {
    "id": 1024, "relation": "me_too", "me_too_count": 3, "status": "forwarded", "status_name": "已转办",
    "category": {"id": "B0301", "code": "0301", "kind": "component", "class_code": "03", "class_name": "市容环境设施",
                 "name": "公共厕所", "hint": ""},
    "description": "公厕门口污水外溢", "address": "市南区香港中路 1 号", "district": "市南区",
    "location": {"wgs84": {"lat": 36.0662, "lng": 120.3826}, "gcj02": {"lat": 36.0658, "lng": 120.3878}},
    "created_at": "2026-12-06T01:20:00+00:00", "media": [],
    "timeline": [{"status": "accepted", "status_name": "已受理", "at": "2026-12-06T02:00:00+00:00",
                  "note": "您的反映已受理，将转交城市管理部门处理。", "photos": []}],
    "reject_reason": None, "awaiting_information": False, "rating": None, "rating_comment": None, "original": None}


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
