"""Residents sign in through WeChat (the real wechatpy calls, against a loopback WeChat)."""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa

from citizen.models import Resident
from core.db import db
from tests.common import metrics
from tests.conftest import PRODUCTION


def sign_in(client, fake_wechat, code: str, openid: str, unionid: str | None = None):
    fake_wechat.wechat.add_code(code, openid, unionid)
    return client.post("/api/v1/auth/wechat", json={"code": code})


def test_first_sign_in_creates_the_resident_and_returns_a_working_token(app, client, fake_wechat):
    response = sign_in(client, fake_wechat, "code-first", "oFirstResident000000000000001", "uUnion1")
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token", "expires_at", "resident"}
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json["id"] == body["resident"]["id"]
    with app.app_context():
        resident = db.session.get(Resident, body["resident"]["id"])
        assert resident.openid == "oFirstResident000000000000001" and resident.unionid == "uUnion1"


def test_signing_in_again_finds_the_same_resident(client, fake_wechat):
    first = sign_in(client, fake_wechat, "code-a1", "oSameResident0000000000000001").json
    second = sign_in(client, fake_wechat, "code-a2", "oSameResident0000000000000001").json
    assert first["resident"]["id"] == second["resident"]["id"]


def test_the_answer_never_contains_the_openid_or_session_key(client, fake_wechat):
    raw = sign_in(client, fake_wechat, "code-private", "oPrivateResident0000000000001").get_data(as_text=True)
    assert "oPrivateResident" not in raw
    assert "SESSION_KEY" not in raw


def test_no_log_line_carries_the_openid_session_key_or_token(client, fake_wechat, caplog):
    from core.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    token = sign_in(client, fake_wechat, "code-logs", "oLoggedResident00000000000001").json["token"]
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    formatted = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert caplog.records, "the requests should have been logged"
    assert "oLoggedResident" not in formatted
    assert "SESSION_KEY" not in formatted
    assert token not in formatted


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (40029, 401, "wechat_code_invalid"),
    (40163, 409, "wechat_code_used"),
    (45011, 429, "wechat_rate_limited"),
    (-1, 503, "wechat_busy"),
])
def test_wechat_error_codes_become_clear_errors(client, fake_wechat, errcode, status, code):
    fake_wechat.wechat.fail_code(f"code-err{errcode}", errcode)
    response = client.post("/api/v1/auth/wechat", json={"code": f"code-err{errcode}"})
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["details"]["wechat_errcode"] == errcode


def test_an_unknown_code_is_invalid_and_a_reused_code_is_used(client, fake_wechat):
    refused = client.post("/api/v1/auth/wechat", json={"code": "never-issued"})
    assert refused.json["error"]["code"] == "wechat_code_invalid"
    sign_in(client, fake_wechat, "code-once", "oOnceResident0000000000000001")
    again = client.post("/api/v1/auth/wechat", json={"code": "code-once"})
    assert again.status_code == 409 and again.json["error"]["code"] == "wechat_code_used"


def test_unreachable_wechat_is_503(make_app):
    unreachable = make_app(wechat_api_base_url="http://127.0.0.1:1/").test_client()
    response = unreachable.post("/api/v1/auth/wechat", json={"code": "x"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "wechat_unreachable"


def test_a_tampered_token_is_refused(client, fake_wechat):
    token = sign_in(client, fake_wechat, "code-tamper", "oTamperResident00000000000001").json["token"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"


def test_a_token_signed_with_another_key_is_refused(make_app, client):
    other = make_app(secret_key="another-secret-" + "x" * 40)
    with other.app_context():
        from core.auth import issue_resident_token
        foreign = issue_resident_token(1).token
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {foreign}"})
    assert response.status_code == 401


def test_an_expired_token_is_refused(client, fake_wechat, override_settings):
    override_settings(resident_token_ttl_seconds=1)
    token = sign_in(client, fake_wechat, "code-expire", "oExpiringResident000000000001").json["token"]
    time.sleep(2.1)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["error"]["code"] == "token_expired"


def test_no_token_is_401(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json["error"]["code"] == "missing_token"


def test_dev_login_signs_in_any_openid_in_development(client):
    response = client.post("/api/v1/auth/dev", json={"openid": "oDevResident"})
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['token']}"}).status_code == 200


def test_dev_login_is_absent_in_production(make_app):
    client = make_app(**PRODUCTION).test_client()
    assert client.post("/api/v1/auth/dev", json={"openid": "oIntruder"}).status_code == 404
    assert "/api/v1/auth/dev" not in client.get("/api/openapi.json").json["paths"]


def test_blocked_resident_cannot_sign_in(app, client, fake_wechat):
    sign_in(client, fake_wechat, "code-b1", "oBlockedResident0000000000001")
    with app.app_context():
        db.session.execute(sa.update(Resident).where(Resident.find_by("openid", "oBlockedResident0000000000001"))
                           .values(is_blocked=True))
        db.session.commit()
    response = sign_in(client, fake_wechat, "code-b2", "oBlockedResident0000000000001")
    assert response.status_code == 403 and response.json["error"]["code"] == "resident_blocked"


def test_the_access_token_is_fetched_once_and_reused(client, fake_wechat):
    before = fake_wechat.wechat.token_requests
    for n in range(3):
        sign_in(client, fake_wechat, f"code-reuse{n}", f"oReuse{n}Resident0000000000001")
    assert fake_wechat.wechat.token_requests - before <= 1


def test_processes_share_the_access_token_through_redis(app, fake_wechat, redis_url):
    from core.wechat import WeChatMiniProgram
    import redis

    connection = redis.Redis.from_url(redis_url)
    connection.delete("wechatpy:wx_test_app_id_access_token")
    settings = app.config["APP_SETTINGS"]
    first = WeChatMiniProgram(settings.wechat_app_id, settings.wechat_app_secret, fake_wechat.base_url, connection)
    second = WeChatMiniProgram(settings.wechat_app_id, settings.wechat_app_secret, fake_wechat.base_url, connection)
    fake_wechat.wechat.add_code("code-p1", "oProcessOne000000000000000001")
    fake_wechat.wechat.add_code("code-p2", "oProcessTwo000000000000000001")
    before = fake_wechat.wechat.token_requests
    first.code_to_session("code-p1")
    second.code_to_session("code-p2")
    assert fake_wechat.wechat.token_requests - before == 1
    assert first.client.access_token == second.client.access_token


def test_wechat_logins_are_counted_by_outcome(client, fake_wechat):
    def logins(outcome: str) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        return metrics.value(text, "external_calls_total", service="wechat", operation="code_to_session",
                             outcome=outcome)

    ok, refused = logins("ok"), logins("refused")
    assert sign_in(client, fake_wechat, "code-counted", "oCountedResident").status_code == 200
    assert client.post("/api/v1/auth/wechat", json={"code": "code-unknown"}).status_code >= 400
    assert (logins("ok") - ok, logins("refused") - refused) == (1, 1)
