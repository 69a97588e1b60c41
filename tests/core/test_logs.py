"""Log lines are JSON in production and one readable line in development, carry the request id, and never carry
residents' identifiers or secrets."""

from __future__ import annotations

import json
import logging
import sys
import threading

import pytest
import requests
from werkzeug.serving import make_server

from core.config import Config, ConfigError
from core.logs import JsonFormatter, TextFormatter, configure_logging, identifier_digest, scrub


def make_record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def format_record(message: str, **extra: object) -> dict:
    return json.loads(JsonFormatter().format(make_record(message, **extra)))


def test_phone_numbers_tokens_and_openids_are_scrubbed_from_messages():
    text = scrub("call 13912345678, Bearer abc.def-ghi, user oAbCdEfGhIjKlMnOpQrStUvWxYz12")
    assert "13912345678" not in text and "abc.def-ghi" not in text and "oAbCdEfGhIjKlMnOpQrStUvWxYz12" not in text
    assert "[phone]" in text and "[token]" in text and "[openid]" in text


@pytest.mark.parametrize("written", ["13912345678", "139 1234 5678", "139-1234-5678", "+8613912345678",
                                     "+86 139 1234 5678", "008613912345678", "86-13912345678"])
def test_phone_numbers_are_scrubbed_however_residents_write_them(written):
    """Scrubbed as the erasure removes them from a kept report's text: one definition of a phone number."""
    entry = format_record(f"report text: 请联系{written}谢谢", description=f"电话 {written}")
    for text in (entry["message"], entry["description"]):
        assert "[phone]" in text and "5678" not in text and "1234" not in text


def test_secrets_in_logged_request_lines_are_scrubbed():
    """At LOG_LEVEL=DEBUG urllib3 logs every request line: WeChat's sign-in carries the app secret and the resident's
    login code in its query string, every other call the access token."""
    login = scrub('https://api.weixin.qq.com:443 "GET /sns/jscode2session?appid=wx1&secret=AppSecret42&js_code=Code42'
                  '&grant_type=authorization_code HTTP/1.1" 200 None')
    send = scrub('"POST /cgi-bin/message/subscribe/send?access_token=Token42 HTTP/1.1" 200 27')
    assert "AppSecret42" not in login and "Code42" not in login and "Token42" not in send
    assert "appid=wx1" in login and "grant_type=authorization_code" in login and "secret=[redacted]" in login


def test_fields_named_like_secrets_are_redacted():
    entry = format_record("login", openid="oSecret", session_key="k", password="p", phone="13912345678", status=200)
    assert entry["openid"] == entry["session_key"] == entry["password"] == entry["phone"] == "[redacted]"
    assert entry["status"] == 200


def test_a_resident_is_correlated_by_a_digest_not_the_openid():
    digest = identifier_digest("oSomeOpenid")
    assert digest == identifier_digest("oSomeOpenid") and "oSomeOpenid" not in digest and len(digest) == 12


def test_request_log_lines_carry_the_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="access")
    response = client.get("/healthz", headers={"X-Request-Id": "trace-abcdef12"})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "access"]
    assert response.headers["X-Request-Id"] == "trace-abcdef12"
    assert lines[-1]["request_id"] == "trace-abcdef12"
    assert lines[-1]["path"] == "/healthz" and lines[-1]["status"] == 200


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "text"), ({"APP_ENV": "production"}, "json"), ({"LOG_FORMAT": "json"}, "json"),
    ({"APP_ENV": "production", "LOG_FORMAT": "TEXT"}, "text")])
def test_logs_are_json_in_production_and_text_in_development_unless_log_format_says(env, expected):
    assert Config.from_env(env).log_format == expected


def test_an_unknown_log_format_is_refused_at_start_up():
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Config.from_env({"LOG_FORMAT": "yaml"})


def test_a_text_line_has_the_time_level_logger_message_extras_and_request_id():
    record = make_record("request", method="GET", path="/api/v1/me", status=200, duration_ms=1.5,
                         request_id="trace-abcdef12")
    record.name = "access"
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert line.split(" ", 1)[1] == ("INFO    access: request method=GET path=/api/v1/me status=200 duration_ms=1.5 "
                                     "request_id=trace-abcdef12")


def test_a_text_line_quotes_values_with_spaces_and_keeps_a_message_on_one_line():
    line = TextFormatter().format(make_record("first\nsecond", reason="two words", empty="", chinese="暴露垃圾"))
    assert "\n" not in line and "first\\nsecond" in line
    assert 'reason="two words"' in line and 'empty=""' in line and "chinese=暴露垃圾" in line


def test_text_lines_scrub_and_redact_as_json_lines_do():
    line = TextFormatter().format(make_record("call 13912345678, user oAbCdEfGhIjKlMnOpQrStUvWxYz12",
                                              openid="oAbCdEfGhIjKlMnOpQrStUvWxYz12", note="电话 139 1234 5678",
                                              resident=identifier_digest("oAbCdEfGhIjKlMnOpQrStUvWxYz12")))
    assert "13912345678" not in line and "oAbCdEfGhIjKlMnOpQrStUvWxYz12" not in line and "5678" not in line
    assert "[phone]" in line and "[openid]" in line and "openid=[redacted]" in line
    assert f"resident={identifier_digest('oAbCdEfGhIjKlMnOpQrStUvWxYz12')}" in line


def test_a_traceback_follows_a_text_line():
    try:
        raise ValueError("broken")
    except ValueError:
        record = make_record("job failed")
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("test: job failed") and rest[-1] == "ValueError: broken"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_no_terminal_colour_codes_reach_a_log_line(formatter):
    """werkzeug colours its start-up warning; inside JSON the escapes were garbage."""
    line = formatter.format(make_record("\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m"))
    assert "\x1b" not in line and "\\u001b" not in line and "WARNING: This is a development server." in line


@pytest.fixture
def log_format_restored(app):
    yield
    configure_logging(app.config["APP_SETTINGS"].log_level, app.config["APP_SETTINGS"].log_format)


@pytest.mark.usefixtures("log_format_restored")
def test_configuring_again_swaps_the_format_of_the_one_handler():
    root = logging.getLogger()
    configure_logging("INFO", "json")
    handlers = list(root.handlers)
    configure_logging("INFO", "text")
    assert root.handlers == handlers
    assert sum(isinstance(handler.formatter, TextFormatter) for handler in root.handlers) == 1
    assert not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers)


def test_each_request_to_the_development_server_is_logged_once(app, caplog):
    """By the access log, with its request id; werkzeug's own line per request is dropped."""
    caplog.set_level(logging.INFO)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).status_code == 200
    finally:
        server.shutdown()
        serving.join()
    lines = [record for record in caplog.records if record.name in ("access", "werkzeug")]
    assert [(record.name, record.path) for record in lines] == [("access", "/healthz")]
