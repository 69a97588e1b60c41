"""HMAC-SHA256 signatures over "timestamp.body", for the webhook we send and the updates we receive."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Case-Signature"
TIMESTAMP_HEADER = "X-Case-Timestamp"
_PREFIX = "sha256="


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``timestamp``, a full stop, then the raw body, keyed by ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, str(timestamp), body)}


def signature_matches(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), given.strip().lower())
