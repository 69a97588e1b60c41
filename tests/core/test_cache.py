"""The cache of computed answers, in process memory and in Redis: the same contract on both."""

from __future__ import annotations

import time

import pytest

from core import cache as cache_module
from core.cache import MemoryCache, RedisCache


@pytest.fixture(params=["memory", "redis"])
def cache(request):
    if request.param == "memory":
        yield MemoryCache(max_entries=3)
        return
    import redis

    cache = RedisCache(redis.Redis.from_url(request.getfixturevalue("redis_url")))
    cache.prefix = "cache-test:"
    cache.reset()
    yield cache
    cache.reset()


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [time.time()]
    monkeypatch.setattr(cache_module, "time", type("Clock", (), {"time": staticmethod(lambda: now[0])}))
    return now


def test_an_entry_is_served_until_its_time_is_up(cache, clock):
    assert cache.get("answer") is None
    cache.set("answer", "青岛 {1}".encode(), 30)
    assert cache.get("answer") == "青岛 {1}".encode()
    clock[0] += 29.9
    assert cache.get("answer") == "青岛 {1}".encode()
    clock[0] += 0.2
    assert cache.get("answer") is None


def test_a_new_value_replaces_the_old_and_reset_forgets_all(cache, clock):
    cache.set("answer", b"old", 30)
    cache.set("answer", b"new", 30)
    cache.set("other", b"", 30)
    assert cache.get("answer") == b"new" and cache.get("other") == b""
    cache.reset()
    assert cache.get("answer") is None and cache.get("other") is None


def test_redis_drops_the_key_soon_after(request):
    import redis

    connection = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    cache = RedisCache(connection)
    cache.prefix = "cache-test:"
    cache.set("answer", b"x", 30)
    assert 30 <= connection.ttl("cache-test:answer") <= 31
    cache.reset()


def test_memory_keeps_a_bounded_number_of_entries_oldest_out():
    cache = MemoryCache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.set(key, key.encode(), 30)
    assert [cache.get(key) for key in ("a", "b", "c")] == [None, b"b", b"c"]
