"""Reading settings from the environment: the value checkers every ``from_env`` uses (core's and each area's),
and how settings print. A value that cannot work stops the start with a ``ConfigError`` naming the variable."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DATABASE_BACKENDS = ("sqlite", "postgresql")


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to change."""


def secret(default: Any = None) -> Any:
    """A field printed only as set or not: keys, secrets and URLs that may carry passwords."""
    return dataclasses.field(default=default, metadata={"secret": True})


def settings_repr(settings: Any) -> str:
    """The settings as a dataclass prints them, their secret fields shown only as set or not (settings get printed
    in tracebacks and debugging log lines)."""
    shown = (f"{field.name}={'<set>' if getattr(settings, field.name) else getattr(settings, field.name)!r}"
             if field.metadata.get("secret") else f"{field.name}={getattr(settings, field.name)!r}"
             for field in dataclasses.fields(settings))
    return f"{type(settings).__name__}({', '.join(shown)})"


def flag_setting(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices``, in any case; a typo ("prod", "S3 ") must not quietly mean the default."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    by_lower = {choice.lower(): choice for choice in choices}
    if text.lower() not in by_lower:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {text!r}")
    return by_lower[text.lower()]


def integer_setting(env: Mapping[str, str], owner: type, field: str, *, minimum: int = 1,
                    maximum: int | None = None) -> int:
    """The whole number in the variable named as ``field`` in capitals, or the field's default."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(owner, field)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
        raise ConfigError(f"{name} must be a whole number of {bounds}, not {text!r}")
    return value


def decimal_setting(env: Mapping[str, str], owner: type, field: str, *, positive: bool = False) -> float:
    """The finite number in the variable named as ``field`` in capitals (≥ 0, or > 0), or the field's default."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(owner, field)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(f"{name} must be a number {'greater than 0' if positive else 'of at least 0'}, not {text!r}")
    return value


def url_setting(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """An absolute URL of one of ``schemes``, or None when unset. Its value is not repeated in the message: URLs
    of databases and Redis carry passwords."""
    value = env.get(name) or None
    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        located = bool(parts.hostname) or (parts.scheme == "unix" and bool(parts.path))
    except ValueError:
        located = False
    if not located or parts.scheme not in schemes:
        accepted = ", ".join(f"{scheme}://…" for scheme in schemes)
        raise ConfigError(f"{name} must be an absolute URL with a host ({accepted})")
    return value.strip()


def path_setting(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def pairs_setting(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """A JSON object of strings ('{"S0102": "garbage"}') as sorted (key, value) pairs."""
    value = env.get(name)
    if not value:
        return ()
    try:
        mapping = json.loads(value)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"{name} must be a JSON object of strings, not {value[:40]!r}")
    return tuple(sorted((str(key), text) for key, text in mapping.items()))


def networks_setting(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated networks ("127.0.0.1/32,10.0.0.0/8"; a bare address is its own network), normalised."""
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        return tuple(str(ipaddress.ip_network(part.strip(), strict=False)) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated IP networks (10.0.0.0/8), not {text[:60]!r}") from None


def rate_setting(env: Mapping[str, str], owner: type, field: str) -> tuple[int, int]:
    """A rate limit written "20/300": 20 requests per 300 seconds (0 requests: no limit); unset, ``owner``'s
    default."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(owner, field)
    count, _, seconds = text.partition("/")
    try:
        limit = int(count), int(seconds)
    except ValueError:
        limit = (-1, 0)
    if limit[0] < 0 or limit[1] < 1:
        raise ConfigError(f"{name}: a rate limit is written as requests/seconds (requests ≥ 0, seconds ≥ 1), "
                          f"e.g. 20/300, not {text!r}")
    return limit


def database_url_setting(url: str) -> str:
    """DATABASE_URL as SQLAlchemy takes it: PostgreSQL through psycopg 3, whatever spelling hosting panels use."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError("DATABASE_URL must be a PostgreSQL URL (postgresql://user@host:5432/db) "
                          "or a SQLite one (sqlite:///path/app.db)")
    return url


def tile_url_setting(value: str) -> str:
    """MAP_TILE_URL: a Leaflet tile template, http(s) with {x}, {y} and {z}; empty for maps without tiles."""
    if not value:
        return ""
    try:
        host = urlsplit(value).hostname
    except ValueError:
        host = None
    placeholders = all(part in value for part in ("{x}", "{y}", "{z}"))
    if not (value.startswith(("https://", "http://")) and host and placeholders):
        raise ConfigError("MAP_TILE_URL must be an http(s) tile template with {x}, {y} and {z} "
                          f"(empty: maps without tiles), not {value!r}")
    return value


def encryption_key_setting(name: str, value: str | None) -> str | None:
    from core.crypto import decode_key

    if value is not None:
        try:
            decode_key(value)
        except ValueError:
            raise ConfigError(f"{name} must be 32 random bytes in URL-safe base64 (44 characters)") from None
    return value
