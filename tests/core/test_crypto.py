"""Sensitive fields at rest: AES-GCM under a ring of keys, blind indexes, an encrypted column type, masking, audited
reveal."""

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
OTHER_KEY = "B" * 43
INDEX_KEY = "C" * 43


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
        decrypt(stored, crypto.key_ring(KEY, (), None, "irrelevant"))
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
        assert raw.startswith("v2:") and "13812345678" not in raw
        assert len(raw) <= table.c.phone.type.impl.length
        assert connection.execute(sa.select(table.c.phone)).scalar_one() == "13812345678"


def test_values_under_an_old_key_stay_readable_and_new_ones_use_the_current_key():
    old = crypto.key_ring(KEY, (), INDEX_KEY, "secret")
    rotated = crypto.key_ring(OTHER_KEY, (KEY,), INDEX_KEY, "secret")
    stored = old.encrypt("13812345678")
    assert rotated.decrypt(stored) == "13812345678" and not rotated.is_current(stored)
    rewritten = rotated.encrypt("13812345678")
    assert rotated.is_current(rewritten) and rewritten.split(":")[1] == crypto.key_id(crypto.decode_key(OTHER_KEY))
    with pytest.raises(DecryptionFailed, match=rewritten.split(":")[1]):
        old.decrypt(rewritten)
    # A stored key id cannot be swapped for another key's: it is authenticated with the value.
    with pytest.raises(DecryptionFailed):
        rotated.decrypt(stored.replace(stored.split(":")[1], rotated.current_id))


def test_a_blind_index_survives_the_rotation_of_the_encryption_key_and_differs_per_purpose():
    before = crypto.key_ring(KEY, (), INDEX_KEY, "secret")
    after = crypto.key_ring(OTHER_KEY, (KEY,), INDEX_KEY, "secret")
    assert before.blind_index("residents.openid", "oAbc") == after.blind_index("residents.openid", "oAbc")
    assert before.blind_index("residents.openid", "oAbc") != before.blind_index("residents.unionid", "oAbc")
    assert before.blind_index("residents.openid", "oAbc") != crypto.key_ring(KEY, (), KEY, "s").blind_index(
        "residents.openid", "oAbc")
    assert "oAbc" not in before.blind_index("residents.openid", "oAbc")


def test_an_encrypted_column_refuses_comparisons_that_would_silently_match_nothing():
    column = sa.Column("phone", EncryptedString(20))
    with pytest.raises(TypeError, match="blind index"):
        column == "13812345678"  # noqa: B015
    with pytest.raises(TypeError):
        column.like("138%")
    assert str(column.is_(None)) == "phone IS NULL"


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
