"""Structured JSON logs with the request id, scrubbed of residents' identifiers and secrets."""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import re
import sys
import uuid

from core.privacy import PHONE_NUMBER

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_REQUEST_ID_SAFE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Mainland mobile numbers, bearer tokens, secrets in query strings (urllib3 logs each request line at DEBUG: WeChat's
# app secret, login code and access token travel there) and WeChat openids/unionids (28-char o… ids).
_SCRUB_PATTERNS = [
    (PHONE_NUMBER, "[phone]"),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [token]"),
    (re.compile(r"(?i)([a-z_]*(?:secret|token|js_code|session_key|api_key|password)=)[^&\s\"',]+"), r"\1[redacted]"),
    (re.compile(r"\bo[A-Za-z0-9_-]{26,}\b"), "[openid]"),
]
_SECRET_FIELDS = re.compile(r"(?i)(openid|unionid|session_key|token|secret|password|phone|authorization)")
_STANDARD_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def identifier_digest(value: str) -> str:
    """A stable, non-reversible handle for correlating one resident's log lines."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def new_request_id(incoming: str | None) -> str:
    if incoming and _REQUEST_ID_SAFE.match(incoming):
        return incoming
    return uuid.uuid4().hex


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUB_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_RECORD_FIELDS or key.startswith("_"):
                continue
            entry[key] = "[redacted]" if _SECRET_FIELDS.search(key) else _scrub_value(value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _scrub_value(value: object) -> object:
    return scrub(value) if isinstance(value, str) else value


_default_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    # Stamped when the record is made, so that handlers formatting later still see it.
    record = _default_record_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    return record


def configure_logging(level: str) -> None:
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
