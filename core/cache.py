"""A small cache of computed answers (bytes) for a bounded time: in process memory in the embedded default, in Redis
(shared by every gunicorn process and host) when ``REDIS_URL`` is set.

An entry is fresh for ``ttl_seconds`` from when it was stored, judged against ``time.time()`` by the reader on both
backends (so that both age alike and a test can move the clock); Redis also drops the key a second after that, and
the memory backend drops stale entries as it goes, so neither grows without bound.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from typing import Any

# An entry is the time it goes stale (a big-endian double) followed by the value.
_STALE_AT = struct.Struct(">d")


class MemoryCache:
    """Entries in this process (thread-safe), at most ``max_entries`` of them (the oldest go first)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[key]
                return None
            return entry[1]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (time.time() + ttl_seconds, value)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisCache:
    """The same entries as Redis strings under ``prefix``."""

    prefix = "cache:"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def get(self, key: str) -> bytes | None:
        entry = self.connection.get(self.prefix + key)
        if entry is None or _STALE_AT.unpack_from(entry)[0] <= time.time():
            return None
        return entry[_STALE_AT.size:]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.connection.set(self.prefix + key, _STALE_AT.pack(time.time() + ttl_seconds) + value,
                            ex=math.ceil(ttl_seconds) + 1)

    def reset(self) -> None:
        for key in self.connection.scan_iter(match=self.prefix + "*"):
            self.connection.delete(key)


Cache = MemoryCache | RedisCache


def make_cache(redis_connection: Any) -> Cache:
    return RedisCache(redis_connection) if redis_connection is not None else MemoryCache()
