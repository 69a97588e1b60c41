"""Sensitive fields at rest: AES-256-GCM with the key from configuration, and masking for the admin.

A column declared ``mapped_column(EncryptedString(64))`` holds ``v1:<nonce+ciphertext, base64>``
in the database and the plain value in Python. Staff see ``mask(value)`` unless their role needs the
value; showing it goes through ``reveal`` in ``core.services``, which audits who saw what.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"
_NONCE_BYTES = 12


class DecryptionFailed(RuntimeError):
    """The stored value was not encrypted with the configured key (or was altered)."""


def field_key(configured: str | None, secret_key: str) -> bytes:
    """The AES-256 key of encrypted columns: FIELD_ENCRYPTION_KEY decoded (a ValueError unless it is 32 bytes),
    else one derived from SECRET_KEY."""
    if configured:
        key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        if len(key) != 32:
            raise ValueError("FIELD_ENCRYPTION_KEY must decode to 32 bytes")
        return key
    # Development and tests only: production refuses to start without FIELD_ENCRYPTION_KEY.
    return hashlib.sha256(b"field-encryption:" + secret_key.encode()).digest()


@functools.lru_cache(maxsize=4)
def _cipher(configured: str | None, secret_key: str) -> AESGCM:
    return AESGCM(field_key(configured, secret_key))


def current_cipher() -> AESGCM:
    from core.config import current_config

    config = current_config()
    return _cipher(config.field_encryption_key, config.secret_key)


def encrypt(plain: str, cipher: AESGCM | None = None) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = (cipher or current_cipher()).encrypt(nonce, plain.encode(), _PREFIX.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(stored: str, cipher: AESGCM | None = None) -> str:
    if not stored.startswith(_PREFIX):
        raise DecryptionFailed("not an encrypted value")
    try:
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX):])
        return (cipher or current_cipher()).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _PREFIX.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("the value cannot be decrypted with the configured key") from exc


def encrypted_length(plain_length: int) -> int:
    """The column width a value of ``plain_length`` UTF-8 bytes needs once encrypted."""
    return len(_PREFIX) + 4 * -(-(_NONCE_BYTES + plain_length + 16) // 3)


class EncryptedString(sa.TypeDecorator[str]):
    """A string column stored encrypted; ``length`` is the longest plain value in UTF-8 bytes."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(encrypted_length(length))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else decrypt(value)


def mask(value: str | None, *, keep_start: int = 3, keep_end: int = 4) -> str:
    """``13812345678`` → ``138****5678``, ``张三丰`` → ``张*丰``: enough to recognise, not to use."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        keep_start, keep_end = (1, 1) if len(value) > 2 else (1, 0)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + (value[-keep_end:] if keep_end else "")
