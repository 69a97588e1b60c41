"""Rendering accepted media (the job's work), requeueing what lost its job, and public copies of photos."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.db import db, get_or_not_found, utcnow
from core.errors import Conflict
from core.jobs import enqueue_after_commit
from core.metrics import counter
from core.storage import current_storage
from media import processing, redaction
from media.models import Media
from media.processing import FORMATS, Format, MediaRejected
from media.settings import MediaSettings
from media.services.stored import derivative_key, original_key

log = logging.getLogger(__name__)
# A media still processing this long after its last change lost its job (with Redis or a killed worker).
PROCESSING_REQUEUE_AFTER = dt.timedelta(minutes=10)
REQUEUE_BATCH = 500
PROCESSING_FAILURES = counter("media_processing_failures_total",
                              "Accepted media that could not be rendered (marked failed), by reason.", ("reason",))


def queue_processing(media: Media) -> None:
    enqueue_after_commit("media.jobs.process_media", media.id)


def render_media(media_id: int, settings: MediaSettings) -> None:
    """Make the served derivatives of one accepted media; a file that cannot be rendered is marked failed.

    The rendering (seconds for a video) holds no lock and no transaction: a report attaching the media meanwhile
    goes on. The media is locked and read afresh only to record what was made; erased meanwhile, it is gone, and
    so goes what the rendering stored. An erasure after that reads the keys recorded and deletes them.
    """
    media = db.session.get(Media, media_id)
    if media is None or media.status != "processing":
        return
    kind, fmt, original = media.kind, FORMATS[media.format], media.original_key
    db.session.rollback()
    stored: list[str] = []
    try:
        if kind == "photo":
            outcome = _render_photo(original, fmt, stored, settings.media_photo_max_pixels)
        else:
            outcome = _render_stream(original, kind, fmt, stored)
        outcome.update(status="ready", failure_code=None)
    except MediaRejected as exc:
        log.warning("media could not be rendered", extra={"media_id": media_id, "reason": exc.code})
        outcome = {"status": "failed", "failure_code": exc.code}
    media = db.session.get(Media, media_id, with_for_update=True, populate_existing=True)
    if media is None:
        for key in stored:
            current_storage().delete(key)
        return
    if media.status == "processing":  # otherwise another run of the job recorded the same keys first
        for name, value in outcome.items():
            setattr(media, name, value)
        if media.status == "failed":
            PROCESSING_FAILURES.labels(media.failure_code or "").inc()


def _render_photo(original: str, fmt: Format, stored: list[str], max_pixels: int) -> dict[str, Any]:
    """Store the large and thumbnail copies (their keys added to ``stored``); the media's values for them."""
    storage = current_storage()
    rendition = processing.render_photo(storage.get(original), fmt, max_pixels)
    outcome = {"large_key": derivative_key(original, "large", "jpg"),
               "thumb_key": derivative_key(original, "thumb", "jpg"), "perceptual_hash": rendition.phash}
    for key, body in ((outcome["large_key"], rendition.large), (outcome["thumb_key"], rendition.thumb)):
        stored.append(key)
        storage.put(key, body, "image/jpeg")
    return outcome


def _render_stream(original: str, kind: str, fmt: Format, stored: list[str]) -> dict[str, Any]:
    """Store the playable copy without metadata and a video's poster (their keys added to ``stored``); the media's
    values for them."""
    storage = current_storage()
    extension, content_type = processing.playback_format(fmt)
    outcome: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="media-") as directory:
        source, target = Path(directory) / "original", Path(directory) / f"large.{extension}"
        with source.open("wb") as out:
            storage.download(original, out)
        processing.remux_without_metadata(source, target, fmt)
        outcome["large_key"] = derivative_key(original, "large", extension)
        stored.append(outcome["large_key"])
        with target.open("rb") as body:
            storage.put(outcome["large_key"], body, content_type)
        poster = processing.poster_frame(source) if kind == "video" else None
        if poster is not None:
            outcome["thumb_key"] = derivative_key(original, "thumb", "jpg")
            stored.append(outcome["thumb_key"])
            storage.put(outcome["thumb_key"], poster, "image/jpeg")
    return outcome


def requeue_unprocessed(now: dt.datetime | None = None) -> int:
    """Queue the processing job again for media whose job was lost; each at most once per interval."""
    now = now or utcnow()
    stuck = list(db.session.scalars(sa.select(Media).where(
        Media.status == "processing", Media.updated_at < now - PROCESSING_REQUEUE_AFTER)
        .order_by(Media.id).limit(REQUEUE_BATCH)))
    for media in stuck:
        media.updated_at = now
        queue_processing(media)
    db.session.flush()
    return len(stuck)


def create_public_copy(media_id: int, boxes: list[list[float]], *, attached_to: str) -> int:
    """A photo's copy for the public, as a media of its own: the large rendition (no metadata) blurred in ``boxes``
    (fractions [x, y, w, h] of the width and height), with its thumbnail, attached to ``attached_to``.

    Staff keep the original; this copy is what public views link to. The caller commits; when storing fails, what
    was stored goes.
    """
    source = get_or_not_found(Media, media_id, "媒体文件不存在。")
    if source.kind != "photo" or source.status != "ready" or not source.large_key:
        raise Conflict("照片尚未处理完成，不能生成公开版本。", code="media_not_ready", details={"media_id": media_id})
    storage = current_storage()
    copy = redaction.blurred_copy(storage.get(source.large_key), boxes)
    media = Media(owner_resident_id=source.owner_resident_id, kind="photo", status="ready", format="jpeg",
                  content_type="image/jpeg", size=len(copy.large), sha256=hashlib.sha256(copy.large).hexdigest(),
                  width=copy.width, height=copy.height, original_key="", attached_to=attached_to,
                  attached_at=utcnow())
    db.session.add(media)
    db.session.flush()
    # The copy is its own original: there is nothing behind it for staff that the source does not hold.
    media.original_key = media.large_key = derivative_key(original_key(media.owner_resident_id, media.id,
                                                                       area="public"), "large", "jpg")
    media.thumb_key = derivative_key(media.original_key, "thumb", "jpg")
    try:
        storage.put(media.large_key, copy.large, "image/jpeg")
        storage.put(media.thumb_key, copy.thumb, "image/jpeg")
    except BaseException:
        for key in (media.large_key, media.thumb_key):
            storage.delete(key)
        raise
    return media.id
