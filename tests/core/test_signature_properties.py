"""Property tests of the signatures: signed media links, signed uploads and resident tokens."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.auth import resident_id_from_token
from core.errors import Unauthorized
from core.storage import UrlSigner

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 300)), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
signer = UrlSigner("property-test-secret-key-of-some-length")
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
contexts = st.lists(st.text(max_size=20), max_size=3)
NOW = 1_700_000_000


@FUZZ
@given(keys, st.integers(min_value=NOW, max_value=NOW + 10**6), contexts)
def test_a_signature_verifies_for_exactly_what_was_signed(key, expires, context):
    signature = signer.signature(key, expires, *context)
    assert signer.verify(key, expires, signature, *context, now=NOW)
    assert not signer.verify(key + "x", expires, signature, *context, now=NOW)
    assert not signer.verify(key, expires + 1, signature, *context, now=NOW)
    assert not signer.verify(key, expires, signature, *context, "more", now=NOW)
    assert not signer.verify(key, expires, signature, *context, now=expires + 1)
    assert not UrlSigner("another-secret").verify(key, expires, signature, *context, now=NOW)


@FUZZ
@given(keys, st.integers(), st.text(max_size=80))
def test_any_presented_signature_is_an_answer_never_an_exception(key, expires, presented):
    assert signer.verify(key, expires, presented, now=NOW) in {True, False}


@FUZZ
@given(st.text(max_size=200))
def test_any_presented_token_is_refused_cleanly(app, token):
    with app.test_request_context():
        with pytest.raises(Unauthorized):
            resident_id_from_token(token)


@FUZZ
@given(st.text(max_size=60))
def test_a_signed_file_link_with_any_signature_is_refused_not_a_crash(app, signature):
    response = app.test_client().get("/files/media/1/x/original",
                                     query_string={"expires": "9999999999", "signature": signature})
    # 422: text no database stores (a NUL) is refused before any view.
    assert response.status_code in {403, 404, 422}
