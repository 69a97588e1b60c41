"""Sensitive fields at rest: AES-256-GCM under a ring of keys, keyed blind indexes for look-ups, masking for the admin.

A column declared ``mapped_column(EncryptedString(64))`` holds ``v2:<key id>:<nonce+ciphertext, base64>`` in the
database and the plain value in Python. Values are written under the current key (``FIELD_ENCRYPTION_KEY``) and read
under it or any of ``FIELD_ENCRYPTION_OLD_KEYS``, told apart by the key id each value carries, so that
``flask privacy rotate-key`` can re-encrypt the rows while the app keeps reading both.

A value that must be found (a resident's openid at sign-in, a submitter's IP address in the hourly limit) has a
blind index beside it: ``blind_index(purpose, value)``, HMAC-SHA256 under ``FIELD_INDEX_KEY``. That key is separate
and never rotated with the encryption key: an index is only useful while every row's index was made with the same
key, and re-indexing a table while sign-ins look residents up by it would miss some of them for the length of the run.
Knowing the index key lets one confirm a guessed value against the database, nothing more; keep it as secret as the
encryption key.

Staff see ``mask(value)`` unless their role needs the value; showing it goes through ``reveal_sensitive`` in
``core.services``, which audits who saw what.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.sql import operators

_VERSION = "v2"
_KEY_ID_CHARS = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
DIGEST_LENGTH = 64  # hex characters of a blind index


class DecryptionFailed(RuntimeError):
    """The stored value was not encrypted with any configured key (or was altered)."""


def decode_key(configured: str) -> bytes:
    """A configured key: 32 bytes in URL-safe base64 (a ValueError otherwise)."""
    key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
    if len(key) != 32:
        raise ValueError("the key must decode to 32 bytes")
    return key


def field_key(configured: str | None, secret_key: str) -> bytes:
    """The AES-256 key of encrypted columns: FIELD_ENCRYPTION_KEY decoded, else one derived from SECRET_KEY."""
    if configured:
        return decode_key(configured)
    # Development and tests only: production refuses to start without FIELD_ENCRYPTION_KEY.
    return hashlib.sha256(b"field-encryption:" + secret_key.encode()).digest()


def index_key(configured: str | None, secret_key: str) -> bytes:
    """The HMAC key of blind indexes: FIELD_INDEX_KEY decoded, else one derived from SECRET_KEY."""
    if configured:
        return decode_key(configured)
    # Development and tests only: production refuses to start without FIELD_INDEX_KEY.
    return hashlib.sha256(b"field-index:" + secret_key.encode()).digest()


def key_id(key: bytes) -> str:
    """A short public name of a key, stored with each value it encrypted: not the key, nor enough to find it."""
    return hashlib.sha256(b"field-key-id:" + key).hexdigest()[:_KEY_ID_CHARS]


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """The key values are written under, the older ones still read, and the blind index key."""

    current: bytes
    old: tuple[bytes, ...] = ()
    index: bytes = b""

    @functools.cached_property
    def current_id(self) -> str:
        return key_id(self.current)

    @functools.cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        return {key_id(key): AESGCM(key) for key in (*self.old, self.current)}

    def encrypt(self, plain: str) -> str:
        prefix = f"{_VERSION}:{self.current_id}:"
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plain.encode(), prefix.encode())
        return prefix + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        version, _, rest = stored.partition(":")
        stored_key_id, _, body = rest.partition(":")
        if version != _VERSION or not body:
            raise DecryptionFailed("not an encrypted value")
        cipher = self._ciphers.get(stored_key_id)
        if cipher is None:
            raise DecryptionFailed(f"the value was encrypted with key {stored_key_id}, which is not configured")
        try:
            raw = base64.urlsafe_b64decode(body)
            associated_data = f"{version}:{stored_key_id}:".encode()
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated_data).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed(f"the value cannot be decrypted with key {stored_key_id}") from exc

    def is_current(self, stored: str) -> bool:
        return stored.startswith(f"{_VERSION}:{self.current_id}:")

    def blind_index(self, purpose: str, value: str) -> str:
        """The same value for the same ``value`` every time, so that it can be looked up by equality; the purpose
        keeps one column's indexes from matching another's."""
        return hmac.new(self.index, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=8)
def key_ring(current: str | None, old: tuple[str, ...], index: str | None, secret_key: str) -> KeyRing:
    return KeyRing(field_key(current, secret_key), tuple(decode_key(key) for key in old), index_key(index, secret_key))


def current_key_ring() -> KeyRing:
    from core.config import current_config

    config = current_config()
    return key_ring(config.field_encryption_key, config.field_encryption_old_keys, config.field_index_key,
                    config.secret_key)


def encrypt(plain: str, ring: KeyRing | None = None) -> str:
    return (ring or current_key_ring()).encrypt(plain)


def decrypt(stored: str, ring: KeyRing | None = None) -> str:
    return (ring or current_key_ring()).decrypt(stored)


def blind_index(purpose: str, value: str | None) -> str | None:
    return None if value is None else current_key_ring().blind_index(purpose, value)


def encrypted_length(plain_length: int) -> int:
    """The column width a value of ``plain_length`` UTF-8 bytes needs once encrypted."""
    prefix = len(_VERSION) + 1 + _KEY_ID_CHARS + 1
    return prefix + 4 * -(-(_NONCE_BYTES + plain_length + _TAG_BYTES) // 3)


class EncryptedString(sa.TypeDecorator[str]):
    """A string column stored encrypted; ``length`` is the longest plain value in UTF-8 bytes."""

    impl = sa.String
    cache_ok = True

    class comparator_factory(sa.String.Comparator):  # noqa: N801 (SQLAlchemy's name)
        """Only ``IS [NOT] NULL``: a value encrypted afresh never equals the stored one, so ``column == value`` would
        silently match nothing; look values up by their blind index."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in (operators.is_, operators.is_not):
                raise TypeError(f"an encrypted column cannot be compared with {op.__name__}; use its blind index")
            return super().operate(op, *other, **kwargs)

    def __init__(self, length: int) -> None:
        super().__init__(encrypted_length(length))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else decrypt(value)


def encrypted_columns(metadata: sa.MetaData) -> Iterator[tuple[sa.Table, sa.Column[Any]]]:
    """Every (table, column) of the models stored with ``EncryptedString``."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                yield table, column


@dataclasses.dataclass
class RotationProgress:
    column: str
    rows: int = 0  # rows holding a value
    reencrypted: int = 0
    unreadable: int = 0  # under a key no longer configured, or altered: left as they are


def reencrypt_column(connection_factory: Callable[[], Any], ring: KeyRing, table: sa.Table, column: sa.Column[Any],
                     batch_size: int) -> Iterator[RotationProgress]:
    """Re-encrypt under the current key the values of one column written under an older one, one batch per short
    transaction, yielding the progress after each. A value changed meanwhile by the app (written under the current
    key, since the app writes with it) is left alone; rows already done are skipped, so a second run resumes."""
    primary_key = list(table.primary_key.columns)
    # Without the column's type: the raw stored text in and out (and no onupdate timestamps touched).
    raw = sa.table(table.name, *(sa.column(key.name) for key in primary_key), sa.column(column.name))
    raw_value = raw.c[column.name]
    progress = RotationProgress(f"{table.name}.{column.name}")
    after: tuple[Any, ...] | None = None
    while True:
        query = (sa.select(*(raw.c[key.name] for key in primary_key), raw_value).where(raw_value.is_not(None))
                 .order_by(*(raw.c[key.name] for key in primary_key)).limit(batch_size))
        if after is not None:
            query = query.where(sa.tuple_(*(raw.c[key.name] for key in primary_key)) > sa.tuple_(*after))
        with connection_factory() as connection, connection.begin():
            rows = connection.execute(query).all()
            for *key, stored in rows:
                if ring.is_current(stored):
                    continue
                try:
                    plain = ring.decrypt(stored)
                except DecryptionFailed:
                    progress.unreadable += 1
                    continue
                connection.execute(
                    sa.update(raw).values({column.name: ring.encrypt(plain)})
                    .where(*(raw.c[k.name] == value for k, value in zip(primary_key, key, strict=True)),
                           raw_value == stored))
                progress.reencrypted += 1
        if not rows:
            return
        progress.rows += len(rows)
        after = tuple(rows[-1][:-1])
        yield progress


def mask_ip(value: str | None) -> str:
    """``203.0.113.77`` → ``203.0.*.*``, ``2001:db8:1::7`` → ``2001:db8:*``: the network, not the machine."""
    if not value:
        return ""
    if ":" in value:
        return ":".join(value.split(":")[:2]) + ":*"
    return ".".join(value.split(".")[:2]) + ".*.*"


def mask(value: str | None, *, keep_start: int = 3, keep_end: int = 4) -> str:
    """``13812345678`` → ``138****5678``, ``张三丰`` → ``张*丰``: enough to recognise, not to use."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        keep_start, keep_end = (1, 1) if len(value) > 2 else (1, 0)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + (value[-keep_end:] if keep_end else "")
