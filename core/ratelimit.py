"""Request rate limits: a sliding window per (limit name, key), shared through Redis when configured; and slots,
a bound on how many requests do one costly thing (print a PDF) at once.

The embedded default (one process, `make run`) counts in process memory; with ``REDIS_URL`` every
gunicorn process and host counts in the same Redis. A refusal is ``RateLimited`` (429 with
``Retry-After``, in the JSON error shape).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from core.errors import RateLimited


@dataclasses.dataclass(frozen=True)
class Limit:
    name: str
    count: int
    per_seconds: int


@dataclasses.dataclass(frozen=True)
class FailurePolicy:
    """How failed attempts (sign-ins) slow down the next ones: the first ``allowed`` within the window cost nothing,
    then each waits twice as long as the one before, from ``first_delay_seconds`` up to ``longest_delay_seconds``.
    Nothing is ever locked: whoever has the right password gets in once the current delay has run."""

    name: str
    allowed: int
    window_seconds: int
    first_delay_seconds: float
    longest_delay_seconds: float

    def wait(self, failures: int, last_failure: float, now: float) -> float:
        if failures < self.allowed:
            return 0.0
        delay = min(self.longest_delay_seconds, self.first_delay_seconds * 2 ** (failures - self.allowed))
        return last_failure + delay - now


class MemoryRateLimiter:
    """Timestamps of the recent hits per key, in this process (thread-safe)."""

    def __init__(self) -> None:
        self._hits: dict[str, collections.deque[float]] = {}
        self._members: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: Limit, now: float) -> float | None:
        """Count a hit; None when within the limit, else the seconds until one is allowed again."""
        with self._lock:
            window = self._hits.setdefault(key, collections.deque())
            while window and window[0] <= now - limit.per_seconds:
                window.popleft()
            if len(window) >= limit.count:
                return window[0] + limit.per_seconds - now
            window.append(now)
            return None

    def attempt(self, key: str, policy: FailurePolicy, member: str, now: float) -> float | None:
        """Count an attempt (a failure until ``forget``); None when allowed, else the seconds to wait."""
        with self._lock:
            window = self._hits.setdefault(key, collections.deque())
            while window and window[0] <= now - policy.window_seconds:
                window.popleft()
            self._members.setdefault(key, {})
            wait = policy.wait(len(window), window[-1] if window else now, now)
            if wait > 0:
                return wait
            window.append(now)
            self._members[key][member] = now
            return None

    def forget(self, key: str, member: str) -> None:
        with self._lock:
            when = self._members.get(key, {}).pop(member, None)
            if when is not None and when in self._hits.get(key, ()):
                self._hits[key].remove(when)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._members.clear()


# Sliding window in one round trip: drop hits older than the window, refuse when full, else add this one.
_SLIDING_WINDOW = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return false
"""


# An attempt under a failure policy, in one round trip: forget failures past the window; while the failures so far
# have earned a delay that has not run since the last one, refuse; else count this attempt.
_ATTEMPT = """
local key, now, window, allowed = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local first, longest, member = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local failures = redis.call('ZCARD', key)
if failures >= allowed then
  local last = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
  local wait = last + math.min(longest, first * 2 ^ (failures - allowed)) - now
  if wait > 0 then
    return tostring(wait)
  end
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return false
"""


class RedisRateLimiter:
    """The same sliding window in a Redis sorted set per key, shared by every process."""

    prefix = "ratelimit:"

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._script = connection.register_script(_SLIDING_WINDOW)
        self._attempt = connection.register_script(_ATTEMPT)

    def hit(self, key: str, limit: Limit, now: float) -> float | None:
        wait = self._script(keys=[self.prefix + key], args=[now, limit.per_seconds, limit.count, uuid.uuid4().hex])
        return None if wait is None else float(wait)

    def attempt(self, key: str, policy: FailurePolicy, member: str, now: float) -> float | None:
        wait = self._attempt(keys=[self.prefix + key], args=[now, policy.window_seconds, policy.allowed,
                                                             policy.first_delay_seconds, policy.longest_delay_seconds,
                                                             member])
        return None if wait is None else float(wait)

    def forget(self, key: str, member: str) -> None:
        self.connection.zrem(self.prefix + key, member)

    def reset(self) -> None:
        for key in self.connection.scan_iter(match=self.prefix + "*"):
            self.connection.delete(key)


RateLimiter = MemoryRateLimiter | RedisRateLimiter


def make_rate_limiter(redis_connection: Any) -> RateLimiter:
    return RedisRateLimiter(redis_connection) if redis_connection is not None else MemoryRateLimiter()


def check(limiter: RateLimiter, limit: Limit, who: str, *, now: float | None = None) -> None:
    """Count one request by ``who`` (an IP address, a resident id…) against ``limit``; 429 past it."""
    if limit.count <= 0:
        return
    # Keys never hold an identifier in the clear.
    digest = hashlib.sha256(who.encode()).hexdigest()[:24]
    wait = limiter.hit(f"{limit.name}:{digest}", limit, time.time() if now is None else now)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise RateLimited("请求过于频繁，请稍后再试。", retry_after_seconds=retry_after,
                          details={"limit": limit.name, "per_seconds": limit.per_seconds, "count": limit.count})


def rate_limit(name: str, who: str) -> None:
    """Apply the configured limit ``name`` (``login``, ``upload``, ``preview``) to ``who`` in this request."""
    from flask import current_app

    settings = current_app.config["APP_SETTINGS"]
    count, per_seconds = settings.rate_limits[name]
    check(current_app.extensions["rate_limiter"], Limit(name, count, per_seconds), who)


def _attempt_key(policy: FailurePolicy, who: str) -> str:
    return f"{policy.name}:{hashlib.sha256(who.encode()).hexdigest()[:24]}"


def begin_attempts(limiter: RateLimiter, attempts: list[tuple[FailurePolicy, str]], *,
                   now: float | None = None) -> list[tuple[str, str]]:
    """Count one attempt by each ``who`` under its policy, as a failure until ``attempt_succeeded``; 429 while a
    delay earned by earlier failures runs (then nothing is counted). Returns what ``attempt_succeeded`` takes."""
    now = time.time() if now is None else now
    begun: list[tuple[str, str]] = []
    for policy, who in attempts:
        key, member = _attempt_key(policy, who), uuid.uuid4().hex
        wait = limiter.attempt(key, policy, member, now)
        if wait is not None:
            attempt_succeeded(limiter, begun)
            retry_after = max(1, math.ceil(wait))
            raise RateLimited(f"尝试次数过多，请 {retry_after} 秒后再试。", retry_after_seconds=retry_after,
                              details={"limit": policy.name})
        begun.append((key, member))
    return begun


def attempt_succeeded(limiter: RateLimiter, begun: list[tuple[str, str]]) -> None:
    """The attempts were no failures: they no longer count."""
    for key, member in begun:
        limiter.forget(key, member)


class MemorySlots:
    """Slots held in this process (the embedded default's one process), each until released or its lease ends."""

    def __init__(self) -> None:
        self._leases: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str, capacity: int, lease_seconds: float, *, now: float | None = None) -> str | None:
        """A token for one of ``capacity`` slots of ``name``, or None when all are held."""
        now = time.time() if now is None else now
        with self._lock:
            leases = self._leases.setdefault(name, {})
            for token in [token for token, ends in leases.items() if ends <= now]:
                del leases[token]
            if len(leases) >= capacity:
                return None
            token = uuid.uuid4().hex
            leases[token] = now + lease_seconds
            return token

    def release(self, name: str, token: str) -> None:
        with self._lock:
            self._leases.get(name, {}).pop(token, None)


# Slots as a sorted set of tokens scored by when their lease ends: ended leases (a holder killed mid-print) are
# dropped, then a token is added if fewer than the capacity remain.
_ACQUIRE_SLOT = """
local key, now, capacity, lease, token = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= capacity then
  return false
end
redis.call('ZADD', key, now + lease, token)
redis.call('PEXPIRE', key, math.ceil(lease * 1000))
return token
"""


class RedisSlots:
    """The same slots in Redis, shared by every gunicorn process and host."""

    prefix = "slots:"

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._script = connection.register_script(_ACQUIRE_SLOT)

    def acquire(self, name: str, capacity: int, lease_seconds: float, *, now: float | None = None) -> str | None:
        token = self._script(keys=[self.prefix + name], args=[time.time() if now is None else now, capacity,
                                                               lease_seconds, uuid.uuid4().hex])
        return token.decode() if isinstance(token, bytes) else token

    def release(self, name: str, token: str) -> None:
        self.connection.zrem(self.prefix + name, token)


Slots = MemorySlots | RedisSlots


def make_slots(redis_connection: Any) -> Slots:
    return RedisSlots(redis_connection) if redis_connection is not None else MemorySlots()


# How soon a request refused for want of a slot may try again: about one print's time.
SLOT_RETRY_AFTER_SECONDS = 5


@contextlib.contextmanager
def held_slot(slots: Slots, name: str, capacity: int, *, lease_seconds: float) -> Iterator[None]:
    """Hold one of ``capacity`` slots of ``name`` for the block, or 429 when all are held. ``lease_seconds`` bounds
    the block: a slot whose holder died is free again after it."""
    token = slots.acquire(name, capacity, lease_seconds)
    if token is None:
        raise RateLimited("正在生成的报告过多，请稍后再试。", retry_after_seconds=SLOT_RETRY_AFTER_SECONDS,
                          details={"limit": name, "at_once": capacity})
    try:
        yield
    finally:
        slots.release(name, token)
