"""Logs with the request id, scrubbed of residents' identifiers and secrets: JSON lines in production, one readable
line per event in development (LOG_FORMAT)."""

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


# Colours werkzeug puts in its own lines: control characters inside a JSON string or a log file.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _message(record: logging.LogRecord) -> str:
    return scrub(_ANSI_ESCAPE.sub("", record.getMessage()))


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """What the caller passed in ``extra``, secrets redacted by their name and identifiers scrubbed from text."""
    return {key: "[redacted]" if _SECRET_FIELDS.search(key) else _scrub_value(value)
            for key, value in vars(record).items() if key not in _STANDARD_RECORD_FIELDS and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON document per line, for the log collector in production."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
            "request_id": getattr(record, "request_id", None),
            **_extra_fields(record),
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """One line per event for a developer's terminal: local time, level, logger, message, then the extras and the
    request id as key=value. A traceback follows on lines of its own, as Python prints it."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        fields = _extra_fields(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            fields["request_id"] = request_id
        line = " ".join([time, f"{record.levelname:<7}", f"{record.name}:", _one_line(_message(record)),
                         *(f"{key}={_text_value(value)}" for key, value in fields.items())])
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))
        return line


def _one_line(text: str) -> str:
    return text.strip().replace("\r", "\\r").replace("\n", "\\n")


def _text_value(value: object) -> str:
    """logfmt's quoting: bare when unambiguous, else a JSON string."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if text and not re.search(r'[\s="\\]', text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _scrub_value(value: object) -> object:
    return scrub(value) if isinstance(value, str) else value


# The end of the format werkzeug.serving.WSGIRequestHandler.log_request logs with.
_WERKZEUG_REQUEST_LINE = '"%s" %s %s'


class _WerkzeugRequestLines(logging.Filter):
    """Drops the development server's line per request: the access logger already logs each one, with its request
    id; werkzeug's other lines (its start-up, its errors) pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith(_WERKZEUG_REQUEST_LINE))


LOG_FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


_default_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    # Stamped when the record is made, so that handlers formatting later still see it.
    record = _default_record_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    return record


class _AppHandler(logging.StreamHandler):
    """The one handler of ours on the root logger; an app built again (tests build many) replaces its formatter."""


def configure_logging(level: str, log_format: str) -> None:
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _AppHandler)), None)
    if handler is None:
        handler = _AppHandler(sys.stderr)
        root.addHandler(handler)
    handler.setFormatter(LOG_FORMATTERS[log_format]())
    root.setLevel(level)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _WerkzeugRequestLines) for f in werkzeug.filters):
        werkzeug.addFilter(_WerkzeugRequestLines())
