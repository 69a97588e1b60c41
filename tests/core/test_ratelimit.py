"""The rate-limit facility (memory and Redis) and the limits on sign-in, uploads and preview rendering."""

from __future__ import annotations

import io

import pytest

from core.errors import RateLimited
from core.ratelimit import (FailurePolicy, Limit, MemoryRateLimiter, RedisRateLimiter, attempt_succeeded,
                            begin_attempts, check)
from tests.citizen.helpers import sign_in
from tests.common.factories import StaffFactory
from tests.common.media_files import photo_bytes


@pytest.fixture(params=["memory", "redis"])
def limiter(request):
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    import redis

    limiter = RedisRateLimiter(redis.Redis.from_url(request.getfixturevalue("redis_url")))
    limiter.prefix = "ratelimit-test:"
    limiter.reset()
    yield limiter
    limiter.reset()


POLICY = FailurePolicy("sign-in", allowed=3, window_seconds=900, first_delay_seconds=2, longest_delay_seconds=60)


def _wait_before_next(limiter, now: float) -> int | None:
    try:
        begin_attempts(limiter, [(POLICY, "chief|10.0.0.1")], now=now)
    except RateLimited as refused:
        return refused.details["retry_after_seconds"]
    return None


def test_delays_double_with_each_failure_past_the_allowance(limiter):
    now = 1_000.0
    assert [_wait_before_next(limiter, now) for _ in range(3)] == [None, None, None]
    delays = []
    for _ in range(7):
        delays.append(_wait_before_next(limiter, now))
        now += delays[-1]
        assert _wait_before_next(limiter, now) is None
    assert delays == [2, 4, 8, 16, 32, 60, 60]


def test_failures_are_forgotten_after_the_window(limiter):
    for _ in range(5):
        _wait_before_next(limiter, 1_000.0)
    assert _wait_before_next(limiter, 1_000.0) is not None
    assert _wait_before_next(limiter, 1_000.0 + POLICY.window_seconds + 1) is None


def test_attempts_that_succeed_do_not_count(limiter):
    for _ in range(10):
        begun = begin_attempts(limiter, [(POLICY, "chief|10.0.0.1")], now=1_000.0)
        attempt_succeeded(limiter, begun)
    assert _wait_before_next(limiter, 1_000.0) is None


def test_a_refused_attempt_counts_under_no_policy(limiter):
    other = FailurePolicy("sign-in-address", allowed=100, window_seconds=900, first_delay_seconds=2,
                                    longest_delay_seconds=60)
    for _ in range(3):
        begin_attempts(limiter, [(POLICY, "chief|10.0.0.1")], now=1_000.0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            begin_attempts(limiter, [(other, "10.0.0.1"), (POLICY, "chief|10.0.0.1")], now=1_000.0)
    limiter_count = [begin_attempts(limiter, [(other, "10.0.0.1")], now=1_000.0) for _ in range(97)]
    assert len(limiter_count) == 97


def test_a_sliding_window_refuses_past_the_limit_and_frees_up_as_hits_age(limiter):
    limit = Limit("unit", 3, 60)
    for second in (0, 10, 20):
        check(limiter, limit, "who", now=1000.0 + second)
    with pytest.raises(RateLimited) as refused:
        check(limiter, limit, "who", now=1030.0)
    assert refused.value.headers["Retry-After"] == "30"
    assert refused.value.details["retry_after_seconds"] == 30
    check(limiter, limit, "someone else", now=1030.0)
    check(limiter, limit, "who", now=1060.5)  # the first hit has left the window


def test_refused_hits_do_not_extend_the_wait(limiter):
    limit = Limit("unit", 1, 10)
    check(limiter, limit, "who", now=0.0)
    for moment in (1.0, 5.0, 9.0):
        with pytest.raises(RateLimited):
            check(limiter, limit, "who", now=moment)
    check(limiter, limit, "who", now=10.5)


def test_staff_sign_in_is_limited_per_address_across_usernames(app, client, override_settings,
                                                              frozen_rate_limit_clock):
    override_settings(rate_limit_login=(3, 300))
    with app.app_context():
        StaffFactory(username="limited_staff", roles=["moderator"])
    for username in ("a", "b", "c"):
        assert client.post("/admin/login", data={"username": username, "password": "x" * 12,
                                                 "csrf_token": _token(client)}).status_code == 401
    refused = client.post("/admin/login", data={"username": "limited_staff", "password": "correct-horse-battery",
                                                "csrf_token": _token(client)})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "尝试次数过多" in refused.get_data(as_text=True)


def _token(client) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))[1]


def test_uploads_are_limited_per_resident_with_the_json_error_shape(client, override_settings):
    override_settings(rate_limit_upload=(2, 3600))
    resident = sign_in(client, "oUploadLimited")
    other = sign_in(client, "oUploadNotLimited")

    def upload(auth, seed):
        return client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(photo_bytes(seed)), "p.jpg")})

    assert [upload(resident, seed).status_code for seed in (1, 2)] == [201, 201]
    refused = upload(resident, 3)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.json["error"]["code"] == "rate_limited"
    assert refused.json["error"]["details"]["limit"] == "upload"
    direct = client.post("/api/v1/media/uploads", headers=resident,
                         json={"kind": "video", "content_type": "video/mp4", "size": 10, "sha256": "0" * 64})
    assert direct.status_code == 429
    assert upload(other, 4).status_code == 201


def test_only_drawing_a_preview_counts_against_the_limit(client, override_settings):
    override_settings(rate_limit_preview=(2, 60))
    urls = [f"/api/v1/signboard-templates/catering-0{n}/preview.png?shop_name=限流测试{n}" for n in (1, 2, 3)]
    first, second = client.get(urls[0]), client.get(urls[1])
    assert first.status_code == second.status_code == 200
    refused = client.get(urls[2])
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    # Already drawn: served from the cache, or 304, without counting.
    assert client.get(urls[0]).status_code == 200
    assert client.get(urls[0], headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
