"""Where a media's objects are stored, and forgetting a media: its stored objects, then its row."""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa

from core.db import MAX_DATABASE_ID, db
from core.storage import current_storage
from media.models import Media


def original_key(resident_id: int, media_id: int, area: str = "media") -> str:
    # A random part, so that a key is never reused even where a database reuses a deleted row's id.
    return f"{area}/{resident_id}/{media_id}-{secrets.token_hex(8)}/original"


_MEDIA_ID_IN_KEY = re.compile(r"^[a-z]+/\d+/(\d+)-[0-9a-f]+/")


def media_id_in_key(key: str) -> int | None:
    """The media id in a key that ``original_key`` or ``derivative_key`` made, else None."""
    match = _MEDIA_ID_IN_KEY.match(key)
    return int(match[1]) if match and int(match[1]) <= MAX_DATABASE_ID else None


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
