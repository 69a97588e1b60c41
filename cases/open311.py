"""Our Open311 GeoReport v2 server (JSON and XML), so that any Open311 client can report and look up.

Requests are residents' reports: POST files one as ``pending_review`` through the same service code
path as the mini-program and answers with a token; a report is public (and gets its
``service_request_id``) once a moderator has accepted it.

What GET serves is each report's public version (``cases.services.open311_server``), a page at a time and at
a limited pace per address (``RATE_LIMIT_OPEN311``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from xml.etree import ElementTree

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from cases import services as service
from cases.settings import CaseSettings
from citizen.settings import CitizenSettings
from core.config import current_settings
from core.links import public_origin, public_url
from core.privacy import absolute_links
from core.ratelimit import rate_limit

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
FORMAT = "<any(json, xml):fmt>"
# How list items are named in the XML format.
_XML_ITEMS = {"services": "service", "service_requests": "request", "endpoints": "endpoint", "formats": "format",
              "attributes": "attribute", "values": "value", "errors": "error"}


def _element(tag: str, value: Any) -> ElementTree.Element:
    element = ElementTree.Element(tag)
    if isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_element(_XML_ITEMS.get(tag, "item"), item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def _answer(body: Any, fmt: str, xml_root: str, status: int = 200) -> Response:
    if fmt == "xml":
        xml = ElementTree.tostring(_element(xml_root, body), encoding="utf-8", xml_declaration=True)
        return Response(xml, status=status, content_type="text/xml; charset=utf-8")
    response = jsonify(body)
    response.status_code = status
    return response


def _error(status: int, description: str) -> Response:
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return _answer([{"code": status, "description": description}], fmt, "errors", status)


# The statuses Open311 clients know: anything else a client got wrong is a 400, anything of ours a 500.
_OPEN311_STATUSES = (400, 403, 404, 405, 413, 429)


def error_answer(status: int, description: str) -> Response:
    """Every error under /open311/v2 (core.errors.register_error_format), as GeoReport v2 has them, in the format
    the path asks for: ``<errors><error><code>…</code><description>…</description></error></errors>`` or JSON."""
    return _error(500 if status >= 500 else status if status in _OPEN311_STATUSES else 400, description)


@bp.before_request
def _limit_reads() -> None:
    if request.method == "GET":
        rate_limit("open311", request.remote_addr or "")


@bp.get("/discovery.<any(json, xml):fmt>")
def discovery(fmt: str) -> Response:
    changeset = service.CHANGESET
    endpoint = {"specification": "http://wiki.open311.org/GeoReport_v2",
                "url": public_url(url_for("open311.discovery", fmt="json")).rsplit("/", 1)[0],
                "changeset": changeset, "type": "production", "formats": ["application/json", "text/xml"]}
    body = {"changeset": changeset, "contact": "点·靓青岛 城市管理", "key_service": "向城市管理部门申请 api_key",
            "endpoints": [endpoint]}
    return _answer(body, fmt, "discovery")


@bp.get(f"/services.{FORMAT}")
def services_list(fmt: str) -> Response:
    return _answer(service.service_list(), fmt, "services")


@bp.get(f"/services/<code>.{FORMAT}")
def service_definition(code: str, fmt: str) -> Response:
    return _answer(service.service_definition(code), fmt, "service_definition")


@bp.post(f"/requests.{FORMAT}")
def create_request(fmt: str) -> Response:
    form = request.form
    settings = current_settings(CaseSettings)
    client = dict(settings.open311_server_api_keys).get(form.get("api_key", ""))
    if client is None:
        return _error(403, "api_key is missing or not valid")
    fields = {key: value for key, value in form.items() if key != "api_key"}
    token = "t" + hashlib.sha256(repr((client, sorted(fields.items()))).encode()).hexdigest()[:40]
    answer = service.file_request(client, fields, token=token, ip_address=request.remote_addr, settings=settings,
                                  report_settings=current_settings(CitizenSettings),
                                  screen_text_later=current_app.extensions["wechat"] is not None)
    return _answer([answer], fmt, "service_requests", 201)


@bp.get(f"/requests.{FORMAT}")
def requests_list(fmt: str) -> Response:
    found = service.find_requests(request.args, now=dt.datetime.now(dt.timezone.utc))
    # Local-disk photo links are app paths: clients need them whole.
    return _answer(absolute_links(found, public_origin()), fmt, "service_requests")


@bp.get(f"/requests/<int:request_id>.{FORMAT}")
def request_detail(request_id: int, fmt: str) -> Response:
    return _answer(absolute_links([service.public_request(request_id)], public_origin()), fmt, "service_requests")


@bp.get(f"/tokens/<token>.{FORMAT}")
def token_lookup(token: str, fmt: str) -> Response:
    return _answer([service.token_answer(token)], fmt, "service_requests")
