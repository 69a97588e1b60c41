"""Where a media's objects are stored, and forgetting a media: its stored objects, then its row."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from core.db import db
from core.storage import current_storage
from media.models import Media


def original_key(resident_id: int, media_id: int, area: str = "media") -> str:
    # A random part, so that a key is never reused even where a database reuses a deleted row's id.
    return f"{area}/{resident_id}/{media_id}-{secrets.token_hex(8)}/original"


def derivative_key(original: str, name: str, extension: str) -> str:
    """Beside the original: ``media/<resident>/<id>-<random>/<name>.<extension>``."""
    return f"{original.rsplit('/', 1)[0]}/{name}.{extension}"


def for_deletion(query: sa.Select[tuple[Media]]) -> sa.Select[tuple[Media]]:
    """Media to be forgotten, locked and read afresh: a job recording its rendering is waited for, and the keys it
    recorded are seen (one that records after the erasure finds the media gone and deletes what it stored)."""
    return query.with_for_update().execution_options(populate_existing=True)


def forget(media: Media) -> None:
    """Delete the media's stored objects, then its row. Stored objects go first: a retry finds the row again."""
    storage = current_storage()
    if media.status == "awaiting_upload":
        # It has only its staging object, and a signed upload link to it that may still be used.
        storage.end_upload(media.original_key)
    else:
        for key in (media.original_key, media.large_key, media.thumb_key):
            if key:
                storage.delete(key)
    db.session.delete(media)
