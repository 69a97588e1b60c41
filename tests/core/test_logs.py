"""Log lines are JSON, carry the request id, and never carry residents' identifiers or secrets."""

from __future__ import annotations

import json
import logging

import pytest

from core.logs import JsonFormatter, identifier_digest, scrub


def format_record(message: str, **extra: object) -> dict:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


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
