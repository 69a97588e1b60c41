"""A loopback city case system: an Open311 GeoReport v2 endpoint, a signed-webhook receiver, and photos."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cases import signing

API_KEY = "case-system-api-key"
WEBHOOK_SECRET = "webhook-secret-0123456789"


@dataclasses.dataclass
class FakeCaseSystem:
    """Open311 requests are kept once per ``attribute[external_id]``: a repeat gets the same id back."""

    cases: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    posts: list[dict[str, str]] = dataclasses.field(default_factory=list)
    webhook_posts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # HTTP statuses to answer the next POSTs with, in order, before accepting.
    failures: list[int] = dataclasses.field(default_factory=list)
    answer_with_token: bool = False
    # Called with the case once it is stored, before the answer leaves (to kill the caller, say).
    on_accept: Callable[[dict[str, Any]], None] | None = None
    updates: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    photos: dict[str, bytes] = dataclasses.field(default_factory=dict)
    _ids: itertools.count = dataclasses.field(default_factory=lambda: itertools.count(9001))
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.cases.clear(), self.posts.clear(), self.webhook_posts.clear(), self.failures.clear()
            self.updates.clear(), self.photos.clear()
            self.answer_with_token, self.on_accept = False, None

    def set_status(self, external_id: str, status: str, notes: str, updated: str, media_url: str | None = None) -> None:
        case = next(case for case in self.cases.values() if case["service_request_id"] == external_id)
        case.update(status=status, status_notes=notes, updated_datetime=updated, media_url=media_url)

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        request = Request(environ)
        status, body, content_type = self._route(request)
        response = Response(body if isinstance(body, bytes) else json.dumps(body), status=status,
                            content_type=content_type)
        return response(environ, start_response)

    def _route(self, request: Request) -> tuple[int, Any, str]:
        path = request.path
        if path.startswith("/photos/") and path[len("/photos/"):] in self.photos:
            return 200, self.photos[path[len("/photos/"):]], "image/jpeg"
        if path == "/webhook" and request.method == "POST":
            return self._webhook(request)
        if path == "/open311/requests.json" and request.method == "POST":
            return self._post_request(request)
        if path == "/open311/requests.json":
            wanted = set(request.args.get("service_request_id", "").split(","))
            return 200, [self._public(case) for case in self.cases.values() if case["service_request_id"] in wanted], \
                "application/json"
        if path.startswith("/open311/tokens/"):
            token = path[len("/open311/tokens/"):].removesuffix(".json")
            found = [{"token": token, "service_request_id": case["service_request_id"]}
                     for case in self.cases.values() if case["token"] == token]
            return (200, found, "application/json") if found else (404, [{"code": 404, "description": "no"}],
                                                                   "application/json")
        if path == "/open311/servicerequestupdates.json":
            return 200, {"service_request_updates": self.updates}, "application/json"
        return 404, {"error": "not found"}, "application/json"

    def _post_request(self, request: Request) -> tuple[int, Any, str]:
        form = request.form.to_dict()
        with self._lock:
            self.posts.append(form)
            if self.failures:
                status = self.failures.pop(0)
                return status, [{"code": status, "description": "fake failure"}], "application/json"
        if form.get("api_key") != API_KEY:
            return 403, [{"code": 403, "description": "api_key not valid"}], "application/json"
        if not form.get("service_code") or not form.get("lat"):
            return 400, [{"code": 400, "description": "service_code and lat/long required"}], "application/json"
        with self._lock:
            key = form["attribute[external_id]"]
            case = self.cases.get(key)
            if case is None:
                request_id = str(next(self._ids))
                case = self.cases[key] = {"service_request_id": request_id, "token": f"tok-{request_id}",
                                          "form": form, "status": "open", "status_notes": None,
                                          "updated_datetime": None, "media_url": None}
        if self.on_accept is not None:
            self.on_accept(case)
        answer = ({"token": case["token"]} if self.answer_with_token
                  else {"service_request_id": case["service_request_id"]})
        return 201, [answer], "application/json"

    def _public(self, case: dict[str, Any]) -> dict[str, Any]:
        return {"service_request_id": case["service_request_id"], "status": case["status"],
                "status_notes": case["status_notes"], "service_code": case["form"]["service_code"],
                "requested_datetime": "2026-11-29T08:00:00+08:00", "updated_datetime": case["updated_datetime"],
                "media_url": case["media_url"]}

    def _webhook(self, request: Request) -> tuple[int, Any, str]:
        body = request.get_data()
        timestamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
        signature = request.headers.get(signing.SIGNATURE_HEADER, "")
        if not signing.signature_matches(WEBHOOK_SECRET, timestamp, body, signature):
            return 401, {"error": "bad signature"}, "application/json"
        payload = json.loads(body)
        with self._lock:
            self.webhook_posts.append({"payload": payload, "headers": dict(request.headers)})
            if self.failures:
                return self.failures.pop(0), {"error": "fake failure"}, "application/json"
        return 200, {"case_id": f"W{payload['report_id']}"}, "application/json"


class FakeCaseSystemServer:
    def __init__(self) -> None:
        self.system = FakeCaseSystem()
        self._server = make_server("127.0.0.1", 0, self.system, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeCaseSystemServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
