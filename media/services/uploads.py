"""Accepting uploads: files the app received or fetched itself, and direct uploads to storage."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.config import current_settings
from core.db import commit_early, db, utcnow
from core.errors import Conflict, ValidationFailed
from core.storage import ObjectNotFound, SignedUpload, current_storage
from media import processing
from media.models import Media
from media.processing import FORMATS, MediaRejected
from media.services.limits import UPLOAD_TEMP_PREFIX, IncomingFile, check_size, hash_stream
from media.services.reading import owned_media
from media.services.rendering import queue_processing
from media.services.stored import forget, original_key
from media.settings import MediaSettings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _probe(incoming: IncomingFile, settings: MediaSettings) -> dict[str, Any]:
    """The columns a new media row gets from its bytes, or MediaRejected."""
    fmt = incoming.format
    check_size(fmt.kind, incoming.size, settings)
    processing.check_structure(incoming.path, fmt)
    if fmt.kind == "photo":
        with processing.open_photo(incoming.path, fmt, settings.media_photo_max_pixels) as image:
            meta = processing.photo_meta(image)
        return {"kind": "photo", "format": fmt.name, "content_type": fmt.content_type, "width": meta.width,
                "height": meta.height, "taken_at": meta.taken_at, "gps_lat": meta.gps[0] if meta.gps else None,
                "gps_lng": meta.gps[1] if meta.gps else None, "duration_s": None}
    stream = processing.probe_stream(incoming.path, fmt)
    kind = stream.format.kind
    check_size(kind, incoming.size, settings)
    max_seconds = settings.media_video_max_seconds if kind == "video" else settings.media_audio_max_seconds
    if stream.duration_s > max_seconds:
        raise MediaRejected(422, "too_long", "时长超出限制。",
                            {"duration_s": stream.duration_s, "max_seconds": max_seconds})
    return {"kind": kind, "format": stream.format.name, "content_type": stream.format.content_type,
            "width": stream.width, "height": stream.height, "duration_s": stream.duration_s,
            "taken_at": stream.taken_at, "gps_lat": stream.gps[0] if stream.gps else None,
            "gps_lng": stream.gps[1] if stream.gps else None}


def find_by_hash(resident_id: int, sha256: str) -> Media | None:
    return db.session.scalar(sa.select(Media).where(Media.owner_resident_id == resident_id,
                                                    Media.sha256 == sha256))


def accept_upload(resident_id: int, incoming: IncomingFile, settings: MediaSettings) -> Media:
    """Store a file the app received itself; the same resident's same bytes give the same media. Commits."""
    existing = find_by_hash(resident_id, incoming.sha256)
    if existing is not None and existing.status != "awaiting_upload":
        return existing
    columns = _probe(incoming, settings)
    media = existing or Media(owner_resident_id=resident_id, sha256=incoming.sha256, original_key="")
    staging_key = media.original_key
    _apply(media, columns, size=incoming.size)
    storage = current_storage()
    try:
        db.session.add(media)
        db.session.flush()
        media.original_key = original_key(resident_id, media.id)
        with incoming.path.open("rb") as body:
            storage.put(media.original_key, body, media.content_type)
        queue_processing(media)
        commit_early("the original is stored: a failed commit must delete it, which only this service can")
    except IntegrityError:
        # The same bytes arrived twice at once; the first one to commit wins.
        _discard_original(media.original_key)
        winner = find_by_hash(resident_id, incoming.sha256)
        if winner is None:
            raise
        return winner
    except BaseException:
        _discard_original(media.original_key)
        raise
    if staging_key:
        storage.end_upload(staging_key)
    return media


def accept_local_file(resident_id: int, path: Path, settings: MediaSettings | None = None) -> Media:
    """Store a file the server fetched itself (a case system's photo) as the resident's media. Commits.

    Without ``settings`` (callers in other packages pass none yet) the running app's limits apply.
    """
    with path.open("rb") as f:
        size, sha256, head = hash_stream(f)
    fmt = processing.sniff(head)
    if fmt is None:
        raise processing.unsupported()
    return accept_upload(resident_id, IncomingFile(path, size, sha256, fmt),
                         settings or current_settings(MediaSettings))


def _apply(media: Media, columns: dict[str, Any], *, size: int) -> None:
    for name, value in columns.items():
        setattr(media, name, value)
    media.size = size
    media.status = "processing"
    media.upload_expires_at = None


def _discard_original(key: str) -> None:
    db.session.rollback()
    if key:
        current_storage().delete(key)


# What a client may announce for a direct upload: (kind, Content-Type) -> format until the bytes are checked.
_DECLARABLE = {(fmt.kind, fmt.content_type): fmt.name for fmt in FORMATS.values()} | {
    ("audio", "audio/x-m4a"): "m4a", ("audio", "audio/mp3"): "mp3", ("audio", "audio/x-wav"): "wav"}


def start_direct_upload(resident_id: int, settings: MediaSettings, *, kind: str, content_type: str, size: int,
                        sha256: str) -> tuple[Media, SignedUpload | None]:
    """A media row awaiting its bytes and a short-lived signed upload for them (None: already have them)."""
    sha256 = sha256.lower()
    if not _SHA256.match(sha256):
        raise ValidationFailed("sha256 须为 64 位十六进制。",
                               details={"fields": {"sha256": ["not a SHA-256 hex digest"]}})
    if (kind, content_type) not in _DECLARABLE:
        raise processing.unsupported()
    check_size(kind, size, settings)
    media = find_by_hash(resident_id, sha256)
    if media is not None and media.status != "awaiting_upload":
        return media, None
    if media is None:
        media = Media(owner_resident_id=resident_id, sha256=sha256, original_key="")
        db.session.add(media)
    media.kind, media.format, media.content_type = kind, _DECLARABLE[(kind, content_type)], content_type
    media.size, media.status = size, "awaiting_upload"
    media.upload_expires_at = utcnow() + dt.timedelta(seconds=settings.media_upload_ttl_seconds)
    try:
        db.session.flush()
    except IntegrityError:
        # The same bytes announced at once (a client retrying): the first announcement's row is the media.
        db.session.rollback()
        winner = find_by_hash(resident_id, sha256)
        if winner is None:
            raise
        if winner.status != "awaiting_upload":
            return winner, None
        return winner, current_storage().signed_upload(winner.original_key, content_type=winner.content_type,
                                                       size=winner.size, expires_in=settings.media_upload_ttl_seconds)
    # Uploaded to a staging key: once checked, the bytes are copied where the signed link cannot reach.
    # Started again, the same key: bytes already sent to it are replaced or completed, never left behind.
    media.original_key = media.original_key or original_key(resident_id, media.id, area="uploads")
    upload = current_storage().signed_upload(media.original_key, content_type=content_type, size=size,
                                             expires_in=settings.media_upload_ttl_seconds)
    return media, upload


def complete_direct_upload(resident_id: int, media_id: int, settings: MediaSettings, temp_dir: Path) -> Media:
    """Check a direct upload's size, hash and type; on success it counts, on failure nothing is kept. Commits.

    The bytes are first copied from the staging key (which the signed link can still overwrite)
    to their final key, and it is the final copy that is checked and kept. The media stays locked meanwhile:
    a second completion (a double tap) waits, then finds it done.
    """
    media = owned_media(resident_id, media_id, for_update=True)
    if media.status != "awaiting_upload":
        return media
    storage = current_storage()
    staging_key, final_key = media.original_key, original_key(resident_id, media.id)
    try:
        stored_size = storage.size(staging_key)
    except ObjectNotFound:
        raise Conflict("文件尚未上传。", code="upload_missing") from None
    try:
        if stored_size != media.size:
            raise MediaRejected(422, "size_mismatch", "上传文件大小与声明不符。",
                                {"declared": media.size, "received": stored_size})
        storage.copy(staging_key, final_key)
        with _downloaded(final_key, media.sha256, temp_dir) as incoming:
            columns = _probe(incoming, settings)
        if columns["kind"] != media.kind:
            raise MediaRejected(422, "kind_mismatch", "文件类型与声明不符。",
                                {"declared": media.kind, "detected": columns["kind"]})
    except MediaRejected:
        storage.delete(final_key)
        forget(media)
        commit_early("a rejected upload is forgotten though the request fails and rolls back")
        raise
    _apply(media, columns, size=stored_size)
    media.original_key = final_key
    queue_processing(media)
    try:
        commit_early("the checked copy is stored: a failed commit must delete it; the staging upload ends after")
    except BaseException:
        _discard_original(final_key)
        raise
    storage.end_upload(staging_key)
    return media


@contextmanager
def _downloaded(key: str, sha256: str, temp_dir: Path) -> Iterator[IncomingFile]:
    """The stored object in a temporary file, checked against its declared hash, then sniffed."""
    with tempfile.TemporaryDirectory(prefix=UPLOAD_TEMP_PREFIX, dir=temp_dir) as directory:
        path = Path(directory) / "original"
        with path.open("wb") as out:
            current_storage().download(key, out)
        with path.open("rb") as f:
            size, actual_sha256, head = hash_stream(f)
        if actual_sha256 != sha256:
            raise MediaRejected(422, "hash_mismatch", "上传文件的 SHA-256 与声明不符。")
        fmt = processing.sniff(head)
        if fmt is None:
            raise processing.unsupported()
        yield IncomingFile(path, size, sha256, fmt)
