"""The API's OpenAPI document is what the mini-program and its testers build on: it changes only on purpose.

A deliberate change regenerates the snapshot: ``UPDATE_OPENAPI_SNAPSHOT=1 pytest tests/core/test_openapi_snapshot.py``
and the diff of ``openapi.snapshot.json`` goes into the same commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("openapi.snapshot.json")


def test_the_openapi_document_is_the_reviewed_one(client):
    document = json.dumps(client.get("/api/openapi.json").json, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT"):
        SNAPSHOT.write_text(document, encoding="utf-8")

    assert document == SNAPSHOT.read_text(encoding="utf-8")
