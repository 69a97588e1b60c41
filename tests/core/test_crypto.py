"""Sensitive fields at rest: AES-GCM with the configured key, an encrypted column type, masking, audited reveal."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import crypto, services
from core.crypto import DecryptionFailed, EncryptedString, decrypt, encrypt, mask
from core.db import db
from core.models import AuditEntry

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 200)), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
KEY = "A" * 43


@FUZZ
@given(st.text(max_size=200))
def test_every_text_survives_the_round_trip_and_is_never_stored_plain(app_ctx, text):
    stored = encrypt(text)
    assert decrypt(stored) == text
    assert len(text) < 8 or text not in stored
    assert encrypt(text) != stored  # a fresh nonce every time


def test_a_changed_value_or_another_key_is_refused(app_ctx):
    stored = encrypt("13812345678")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(DecryptionFailed):
        decrypt(flipped)
    with pytest.raises(DecryptionFailed):
        decrypt(stored, crypto._cipher(KEY, "irrelevant"))
    with pytest.raises(DecryptionFailed):
        decrypt("13812345678")


def test_a_configured_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        crypto.field_key("c2hvcnQ", "secret")
    assert len(crypto.field_key(KEY, "secret")) == 32


def test_an_encrypted_column_stores_ciphertext_and_reads_plain(app_ctx):
    table = sa.Table("encrypted_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("phone", EncryptedString(20)))
    engine = sa.create_engine("sqlite://")
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert().values(id=1, phone="13812345678"))
        raw = connection.execute(sa.text("SELECT phone FROM encrypted_probe")).scalar_one()
        assert raw.startswith("v1:") and "13812345678" not in raw
        assert len(raw) <= table.c.phone.type.impl.length
        assert connection.execute(sa.select(table.c.phone)).scalar_one() == "13812345678"


@pytest.mark.parametrize(("value", "shown"), [
    ("13812345678", "138****5678"), ("张三丰", "张*丰"), ("李四", "李*"), ("", ""), (None, ""),
    ("6222021234567890123", "622************0123")])
def test_masking(value, shown):
    assert mask(value) == shown


def test_revealing_a_sensitive_value_is_audited(app_ctx):
    value = services.reveal_sensitive(services.SYSTEM_ACTOR, "payee", 7, "real_name", "张三丰")
    db.session.flush()
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "sensitive.reveal")).one()
    assert value == "张三丰" and entry.object_id == "7" and entry.after == {"field": "real_name"}
    assert "张三丰" not in str(entry.after)
