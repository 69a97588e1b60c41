"""Nothing stays behind: what uploads left, media never attached, and a resident's media on request."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.db import commit_early, db, utcnow
from core.privacy import row_dict
from core.storage import current_storage
from media.models import Media
from media.settings import MediaSettings
from media.services.limits import UPLOAD_TEMP_MAX_AGE, UPLOAD_TEMP_PREFIX
from media.services.reading import link_ttl, urls
from media.services.stored import for_deletion, forget

# An upload whose link expired may still have sent its bytes just before; its /complete may follow this late.
DIRECT_UPLOAD_COMPLETION_GRACE = dt.timedelta(hours=1)
_STAGING_AREA = "uploads/"
_STAGING_BATCH = 500


def remove_upload_leftovers(settings: MediaSettings, temp_dir: Path, now: dt.datetime | None = None) -> int:
    """Remove what uploads left behind; how many things. Commits.

    Direct uploads not completed within their link's time and the grace go, rows and staging objects. Staging
    objects of no upload still awaited go too: S3 cannot revoke a presigned POST, so a link used again after
    /complete (or a rejection) stores its body again. Then the folders of received files a killed worker left,
    and what the storage's interrupted writes left.
    """
    now = now or utcnow()
    removed = 0
    while expired := db.session.scalars(for_deletion(sa.select(Media).where(
            Media.status == "awaiting_upload", Media.upload_expires_at < now - DIRECT_UPLOAD_COMPLETION_GRACE)
            .order_by(Media.id).limit(_STAGING_BATCH))).all():
        for media in expired:
            forget(media)
        commit_early("a batch's locks are released, and its deletions kept, before the next batch's storage calls")
        removed += len(expired)
    storage = current_storage()
    staged = [stored.key for stored in storage.objects(_STAGING_AREA)]
    for start in range(0, len(staged), _STAGING_BATCH):
        batch = staged[start:start + _STAGING_BATCH]
        awaited = set(db.session.scalars(sa.select(Media.original_key).where(
            Media.original_key.in_(batch), Media.status == "awaiting_upload")))
        for key in batch:
            if key not in awaited:
                storage.delete(key)
                removed += 1
    db.session.rollback()
    removed += _remove_abandoned_upload_folders(temp_dir, now)
    # Every signed upload link has expired this long after its upload ended.
    ended_long_ago = now - max(UPLOAD_TEMP_MAX_AGE, dt.timedelta(seconds=settings.media_upload_ttl_seconds))
    return removed + storage.remove_abandoned(ended_long_ago.timestamp())


def _remove_abandoned_upload_folders(temp_dir: Path, now: dt.datetime) -> int:
    cutoff = (now - UPLOAD_TEMP_MAX_AGE).timestamp()
    removed = 0
    for folder in temp_dir.glob(UPLOAD_TEMP_PREFIX + "*"):
        try:
            last_written = max(path.stat().st_mtime for path in (folder, *folder.rglob("*")))
        except FileNotFoundError:
            continue  # its request ended meanwhile
        if last_written < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def delete_unattached_media(settings: MediaSettings, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Delete media (rows and stored objects) left unattached longer than the configured hours. Commits."""
    cutoff = (now or utcnow()) - dt.timedelta(hours=settings.media_unattached_ttl_hours)
    deleted = 0
    while True:
        batch = db.session.scalars(for_deletion(sa.select(Media).where(
            Media.attached_to.is_(None), Media.created_at < cutoff).order_by(Media.id).limit(batch_size))).all()
        if not batch:
            return deleted
        for media in batch:
            forget(media)
        commit_early("a batch's locks are released, and its deletions kept, before the next batch's storage calls")
        deleted += len(batch)


def delete_media(media_ids: list[int]) -> None:
    """Delete media (stored objects and rows), e.g. when their retention ends. The caller commits."""
    if media_ids:
        for media in db.session.scalars(for_deletion(sa.select(Media).where(Media.id.in_(set(media_ids))))).all():
            forget(media)


def export_resident_data(resident_id: int) -> list[dict[str, Any]]:
    """Every media the resident uploaded, with short-lived links to the files, the original included."""
    rows = db.session.scalars(sa.select(Media).where(Media.owner_resident_id == resident_id).order_by(Media.id))
    ttl = link_ttl(None)
    return [{**row_dict(media, exclude=("original_key", "large_key", "thumb_key", "owner_resident_id")),
             "urls": urls(media, ttl, include_original=True)} for media in rows]


def forget_resident(resident_id: int) -> None:
    """Delete all of the resident's media, files included: photos may show the person. The caller commits."""
    for media in db.session.scalars(for_deletion(sa.select(Media).where(Media.owner_resident_id == resident_id))).all():
        forget(media)
