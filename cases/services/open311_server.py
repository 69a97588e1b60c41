"""Our Open311 GeoReport v2 server: the public version of accepted reports, and reports filed by Open311 clients."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cases.models import DeskCase, Open311Request
from cases.services.updates import fetch_photo
from cases.settings import CaseSettings
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.db import MAX_DATABASE_ID, db
from core.errors import NotFound, ValidationFailed
from core.wechat import WeChatIdentity
from media import services as media_services

SHANGHAI = ZoneInfo("Asia/Shanghai")

# When the service list last changed shape (Open311's "changeset").
CHANGESET = "2026-11-29T00:00:00+08:00"
OPEN311_OPEN = (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS)
OPEN311_CLOSED = (citizen_services.RESOLVED, citizen_services.CLOSED)
OPEN311_DEFAULT_DAYS, OPEN311_MAX_ROWS = 90, 1000
OPEN311_DEFAULT_PAGE_SIZE, OPEN311_MAX_PAGE_SIZE = 50, 100


def _open311_time(value: dt.datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value else None


def service_list() -> list[dict[str, Any]]:
    return [{"service_code": category.id, "service_name": category.name, "description": category.hint or None,
             "metadata": False, "type": "realtime", "keywords": category.code,
             "group": category.class_name} for category in citizen_services.list_categories()]


def service_definition(code: str) -> dict[str, Any]:
    if code not in {category.id for category in citizen_services.list_categories()}:
        raise NotFound(f"service_code {code} not found")
    return {"service_code": code, "attributes": []}


def _open311_requests(reports: list[Any]) -> list[dict[str, Any]]:
    """The public version of reports: masked text, the latest public reply, the blurred copy of the first photo a
    moderator made public; nothing of the resident, their evidence or officers' internal notes."""
    ids = [report.id for report in reports]
    departments = dict(db.session.execute(sa.select(DeskCase.report_id, DeskCase.department)
                                          .where(DeskCase.report_id.in_(ids))).all()) if ids else {}
    photos = {report_id: media_ids[0] for report_id, media_ids in citizen_services.public_photo_ids(reports).items()
              if media_ids}
    urls = media_services.media_urls_by_id(photos.values())
    answers = []
    for report in reports:
        reply = citizen_services.latest_public_reply(report)
        answers.append({
            "service_request_id": str(report.id),
            "status": "closed" if report.status in OPEN311_CLOSED else "open",
            "status_notes": reply.note if reply else None, "service_name": report.category.name,
            "service_code": report.category_id, "description": report.public_description,
            "agency_responsible": departments.get(report.id), "service_notice": None,
            "requested_datetime": _open311_time(report.created_at),
            "updated_datetime": _open311_time(report.events[-1].occurred_at),
            "expected_datetime": None, "address": report.address or None, "address_id": None, "zipcode": None,
            "lat": report.lat, "long": report.lng,
            "media_url": urls.get(photos.get(report.id), {}).get("large"),
        })
    return answers


def public_request(report_id: int) -> dict[str, Any]:
    reports = citizen_services.find_reports(ids=[report_id], statuses=OPEN311_OPEN + OPEN311_CLOSED)
    if not reports:
        raise NotFound(f"service_request_id {report_id} not found")
    return _open311_requests(reports)[0]


def _open311_date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name} is not a W3C date-time") from None
    try:
        # Compared with times stored in UTC: year 1 east of UTC or 9999 west of it has no UTC time.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)).astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValidationFailed(f"{name} is out of range") from None


def _open311_number(args: Any, name: str, default: int, maximum: int) -> int:
    text = args.get(name)
    if text in (None, ""):
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise ValidationFailed(f"{name} must be a whole number from 1 to {maximum}")
    return int(text)


def find_requests(args: Any, *, now: dt.datetime) -> list[dict[str, Any]]:
    """GET requests: by ids, or by service_code / status / dates (default: the last 90 days), a page at a time
    (``page`` from 1, ``page_size`` up to OPEN311_MAX_PAGE_SIZE: an extension of GeoReport v2)."""
    page_size = _open311_number(args, "page_size", OPEN311_DEFAULT_PAGE_SIZE, OPEN311_MAX_PAGE_SIZE)
    # Deeper pages are read with start_date and end_date: an offset that far costs the database the whole scan.
    page = _open311_number(args, "page", 1, OPEN311_MAX_ROWS // page_size)
    ids_text = args.get("service_request_id")
    if ids_text:
        try:
            ids = [int(part) for part in ids_text.split(",") if part.strip()]
        except ValueError:
            raise ValidationFailed("service_request_id must be a comma-separated list of ids") from None
        if len(ids) > OPEN311_MAX_PAGE_SIZE:
            raise ValidationFailed(f"service_request_id takes at most {OPEN311_MAX_PAGE_SIZE} ids")
        # An id no database id can be is an unknown request, not a database error.
        ids = [request_id for request_id in ids if 0 < request_id <= MAX_DATABASE_ID]
        return _open311_requests(citizen_services.find_reports(ids=ids, statuses=OPEN311_OPEN + OPEN311_CLOSED))
    status = args.get("status")
    if status not in (None, "", "open", "closed"):
        raise ValidationFailed("status must be open or closed")
    statuses = {"open": OPEN311_OPEN, "closed": OPEN311_CLOSED}.get(status or "", OPEN311_OPEN + OPEN311_CLOSED)
    until = _open311_date(args.get("end_date"), "end_date")
    since = _open311_date(args.get("start_date"), "start_date")
    if since is None:
        # The default window, clipped at the earliest time there is.
        window = dt.timedelta(days=OPEN311_DEFAULT_DAYS)
        since = max(until or now, dt.datetime.min.replace(tzinfo=dt.timezone.utc) + window) - window
    codes = [code for code in (args.get("service_code") or "").split(",") if code]
    reports = citizen_services.find_reports(category_ids=codes or None, statuses=statuses, since=since, until=until,
                                            limit=page_size, offset=(page - 1) * page_size)
    return _open311_requests(reports)


def token_answer(token: str) -> dict[str, Any]:
    filed = db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token))
    if filed is None:
        raise NotFound("token not found")
    public = citizen_services.find_reports(ids=[filed.report_id], statuses=OPEN311_OPEN + OPEN311_CLOSED)
    return {"service_request_id": str(filed.report_id) if public else None, "token": token}


def file_request(client: str, fields: dict[str, str], *, token: str, ip_address: str | None,
                 settings: CaseSettings, report_settings: CitizenSettings, screen_text_later: bool) -> dict[str, Any]:
    """POST requests: a pending_review report of the client's resident, answered with a token.

    ``report_settings`` and ``screen_text_later`` as for the mini-program's reports: the outside text check runs on
    these too."""
    filed = db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token))
    if filed is not None:
        return {"token": token, "service_notice": "该请求已提交过。"}
    missing = [name for name in ("service_code", "lat", "long", "description", "media_url")
               if not (fields.get(name) or "").strip()]
    if missing:
        raise ValidationFailed(f"required: {', '.join(missing)} (this city needs a location and a photo)")
    try:
        lat, lng = float(fields["lat"]), float(fields["long"])
    except ValueError:
        raise ValidationFailed("lat and long must be numbers (WGS-84)") from None
    if fields["service_code"] not in {category.id for category in citizen_services.list_categories()}:
        raise ValidationFailed(f"service_code {fields['service_code']} not found")
    account = WeChatIdentity(openid=f"{citizen_services.API_CLIENT_OPENID_PREFIX}{client}", unionid=None)
    resident = citizen_services.sign_in_resident(account)
    photo = fetch_photo(fields["media_url"], resident.id, settings)
    draft = citizen_services.ReportDraft(
        category_id=fields["service_code"], description=fields["description"][:500], lat=lat, lng=lng,
        coord_type="wgs84", address=(fields.get("address_string") or "")[:200], media_ids=(photo.id,))
    submission = citizen_services.submit_report(resident.id, draft, idempotency_key=token, ip_address=ip_address,
                                                settings=report_settings, screen_text_later=screen_text_later)
    try:
        with db.session.begin_nested():
            db.session.add(Open311Request(token=token, client=client, report_id=submission.report.id))
    except IntegrityError:
        # The same request posted at once (a client retrying): the report is one, and so is its token.
        return {"token": token, "service_notice": "该请求已提交过。"}
    return {"token": token, "service_notice": "已提交，审核受理后可按 token 查询 service_request_id。"}


