"""The city's case systems behind one interface: the built-in desk, Open311 GeoReport v2, a signed webhook.

``submit`` hands over one accepted report and answers with the case system's receipt, or raises
``TransientFailure`` (try again later: timeouts, 5xx, 429) or ``PermanentFailure`` (a 4xx: retrying
cannot help). Our report id travels as the idempotency key, so a receiver drops a repeat.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from cases import signing
from cases.settings import CaseSettings

USER_AGENT = "dianliang-qingdao-cases/1"


class TransientFailure(Exception):
    """The case system may take it later."""


class PermanentFailure(Exception):
    """The case system refused it; sending it again would be refused again."""


@dataclasses.dataclass(frozen=True)
class OutgoingCase:
    report_id: int
    category_id: str
    category_name: str
    description: str
    lat: float  # WGS-84
    lng: float
    address: str
    district: str | None
    photo_urls: tuple[str, ...]
    accepted_at: dt.datetime

    @property
    def idempotency_key(self) -> str:
        return str(self.report_id)


@dataclasses.dataclass(frozen=True)
class Reopening:
    """A closed case the resident reopened: sent again as a new request that refers to the old one."""

    case: OutgoingCase
    sequence: int  # the report's first, second… reopening
    reason: str
    previous_external_id: str | None

    @property
    def idempotency_key(self) -> str:
        return f"{self.case.report_id}-reopen-{self.sequence}"

    @property
    def description(self) -> str:
        previous = f"原工单 {self.previous_external_id}" if self.previous_external_id else "原工单"
        return f"【市民申请重新办理，{previous}】{self.reason}\n原反映：{self.case.description}"


@dataclasses.dataclass(frozen=True)
class Receipt:
    external_id: str | None
    token: str | None = None


@dataclasses.dataclass(frozen=True)
class ExternalUpdate:
    """A status change read from the case system (pushed, polled, or made on the desk)."""

    update_id: str
    report_id: int
    status: str  # received | in_progress | resolved | closed | sent_back
    # An officer's note: internal unless written as a public reply (then the resident and the public read it, masked).
    note: str | None
    photo_urls: tuple[str, ...] = ()
    public: bool = False
    # What the resident reads of a step whose note is internal (the desk's "已派遣至…"); else the status's own text.
    step_note: str | None = None
    # When the case system made it, as it says; None: as of its receipt. An update older than one applied to the
    # report is recorded but changes nothing (cases.services.apply_update).
    occurred_at: dt.datetime | None = None


class CaseSystem(Protocol):
    name: str

    def submit(self, case: OutgoingCase) -> Receipt: ...


class DeskCaseSystem:
    """The built-in case desk: the case lands in our own queue (``desk_cases``), in the delivery's transaction."""

    name = "desk"

    def __init__(self, open_case: Callable[[int], Any]) -> None:
        self._open_case = open_case

    def submit(self, case: OutgoingCase) -> Receipt:
        desk_case = self._open_case(case.report_id)
        return Receipt(external_id=f"D{desk_case.id}")


def _send(method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """One HTTP call, its failure sorted into transient or permanent."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        response = requests.request(method, url, timeout=timeout, headers=headers, **kwargs)
    except requests.Timeout:
        raise TransientFailure(f"timed out after {timeout:g} s") from None
    except requests.RequestException as exc:
        raise TransientFailure(f"unreachable: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code in (408, 425, 429):
        raise TransientFailure(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise PermanentFailure(f"HTTP {response.status_code}: {response.text[:300]}")
    return response


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientFailure(f"HTTP {response.status_code} without JSON: {response.text[:200]}") from None


class Open311CaseSystem:
    """An Open311 GeoReport v2 endpoint: ``POST requests.json`` out, ``GET requests.json`` (or the
    ``servicerequestupdates`` extension) back."""

    name = "open311"

    def __init__(self, settings: CaseSettings) -> None:
        self.endpoint = (settings.open311_endpoint or "").rstrip("/")
        self.api_key = settings.open311_api_key or ""
        self.jurisdiction_id = settings.open311_jurisdiction_id
        self.service_codes = dict(settings.open311_service_codes)
        self.timeout = settings.case_http_timeout_seconds
        self.updates_extension = settings.open311_updates_extension

    def _params(self, **values: Any) -> dict[str, Any]:
        params = {"jurisdiction_id": self.jurisdiction_id} if self.jurisdiction_id else {}
        return {**params, **{key: value for key, value in values.items() if value is not None}}

    def submit(self, case: OutgoingCase) -> Receipt:
        return self._post_request(case, case.description, case.idempotency_key)

    def reopen(self, reopening: Reopening) -> Receipt:
        """GeoReport v2 cannot reopen a request: a new one, its description and an attribute naming the old one."""
        return self._post_request(reopening.case, reopening.description, reopening.idempotency_key,
                                  {"attribute[reopened_from]": reopening.previous_external_id})

    def _post_request(self, case: OutgoingCase, description: str, key: str,
                      attributes: dict[str, str | None] | None = None) -> Receipt:
        form = self._params(
            api_key=self.api_key, service_code=self.service_codes.get(case.category_id, case.category_id),
            lat=f"{case.lat:.7f}", long=f"{case.lng:.7f}", address_string=case.address or None,
            description=description, media_url=case.photo_urls[0] if case.photo_urls else None)
        form["attribute[external_id]"] = key
        form.update({name: value for name, value in (attributes or {}).items() if value})
        response = _send("POST", f"{self.endpoint}/requests.json", data=form, timeout=self.timeout,
                         headers={"Idempotency-Key": key})
        answer = _json(response)
        first = answer[0] if isinstance(answer, list) and answer else answer
        if not isinstance(first, dict) or not (first.get("service_request_id") or first.get("token")):
            raise TransientFailure(f"answer without service_request_id or token: {str(answer)[:200]}")
        request_id, token = first.get("service_request_id"), first.get("token")
        return Receipt(external_id=str(request_id) if request_id else None, token=str(token) if token else None)

    def resolve_token(self, token: str) -> str | None:
        answer = _json(_send("GET", f"{self.endpoint}/tokens/{token}.json", params=self._params(),
                             timeout=self.timeout))
        first = answer[0] if isinstance(answer, list) and answer else {}
        request_id = first.get("service_request_id") if isinstance(first, dict) else None
        return str(request_id) if request_id else None

    def fetch_updates(self, report_ids_by_request: dict[str, int], since: dt.datetime) -> list[ExternalUpdate]:
        """What changed for these service requests (external id → our report id)."""
        if not report_ids_by_request:
            return []
        if self.updates_extension:
            return self._request_updates(report_ids_by_request, since)
        answer = _json(_send("GET", f"{self.endpoint}/requests.json", timeout=self.timeout,
                             params=self._params(service_request_id=",".join(report_ids_by_request))))
        updates = []
        # Open311's status_notes (and an update's description) are public by the specification: public replies.
        for item in answer if isinstance(answer, list) else []:
            request_id = str(item.get("service_request_id", ""))
            if request_id not in report_ids_by_request or item.get("status") not in ("open", "closed"):
                continue
            status = "closed" if item["status"] == "closed" else "in_progress"
            stamp = item.get("updated_datetime") or item.get("requested_datetime") or ""
            media_url = item.get("media_url")
            updates.append(ExternalUpdate(
                update_id=f"{request_id}:{item['status']}:{stamp}", report_id=report_ids_by_request[request_id],
                status=status, note=item.get("status_notes") or None,
                photo_urls=(media_url,) if status == "closed" and media_url else (), public=True,
                occurred_at=_w3c_time(item.get("updated_datetime"))))
        return updates

    def _request_updates(self, report_ids_by_request: dict[str, int], since: dt.datetime) -> list[ExternalUpdate]:
        answer = _json(_send("GET", f"{self.endpoint}/servicerequestupdates.json", timeout=self.timeout,
                             params=self._params(start_date=since.isoformat())))
        items = answer.get("service_request_updates", []) if isinstance(answer, dict) else answer
        updates = []
        for item in items if isinstance(items, list) else []:
            request_id = str(item.get("service_request_id", ""))
            if request_id not in report_ids_by_request or item.get("status") not in ("open", "closed"):
                continue
            media_url = item.get("media_url")
            updates.append(ExternalUpdate(
                update_id=str(item.get("update_id")), report_id=report_ids_by_request[request_id],
                status="closed" if item["status"] == "closed" else "in_progress",
                note=item.get("description") or None, photo_urls=(media_url,) if media_url else (), public=True,
                occurred_at=_w3c_time(item.get("updated_datetime"))))
        return updates


def _w3c_time(value: Any) -> dt.datetime | None:
    """An Open311 ``updated_datetime`` (W3C, with its offset); None when absent or unreadable."""
    try:
        stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return stamp if stamp is not None and stamp.tzinfo is not None else None


class WebhookCaseSystem:
    """Any other case system: the case as JSON, signed (see ``cases.signing`` and the README)."""

    name = "webhook"

    def __init__(self, settings: CaseSettings) -> None:
        self.url = settings.case_webhook_url or ""
        self.secret = settings.case_webhook_secret or ""
        self.timeout = settings.case_http_timeout_seconds

    def submit(self, case: OutgoingCase) -> Receipt:
        return self._post(case, case.idempotency_key)

    def reopen(self, reopening: Reopening) -> Receipt:
        """The case again with ``event: "reopened"``, the resident's reason and the case it reopens."""
        return self._post(reopening.case, reopening.idempotency_key, {
            "event": "reopened", "reopened_from": {"case_id": reopening.previous_external_id},
            "reopen_reason": reopening.reason, "reopen_sequence": reopening.sequence})

    def _post(self, case: OutgoingCase, key: str, extra: dict[str, Any] | None = None) -> Receipt:
        body = json.dumps({
            "report_id": case.report_id, "idempotency_key": key,
            "category": {"id": case.category_id, "name": case.category_name}, "description": case.description,
            "location": {"lat": case.lat, "lng": case.lng, "crs": "WGS-84"}, "address": case.address,
            "district": case.district, "photo_urls": list(case.photo_urls),
            "accepted_at": case.accepted_at.isoformat(), **(extra or {}),
        }, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   **signing.signed_headers(self.secret, int(time.time()), body)}
        response = _send("POST", self.url, data=body, headers=headers, timeout=self.timeout)
        answer = _json(response) if response.content else {}
        case_id = answer.get("case_id") if isinstance(answer, dict) else None
        return Receipt(external_id=str(case_id) if case_id else None)
