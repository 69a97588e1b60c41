"""Media: accepting uploads, rendering them, signed links, attachment and expiry. No Flask here.

Other packages use ``get_owned_media``, ``attach_media``, ``media_urls`` and ``media_info``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.config import Config, current_config
from core.db import MAX_DATABASE_ID, db, get_or_not_found, get_row, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.jobs import enqueue_after_commit
from core.privacy import row_dict
from core.storage import ObjectNotFound, SignedUpload, current_storage
from media import processing, redaction
from media.models import Media
from media.processing import FORMATS, KINDS, Format, MediaRejected

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    id: int
    owner_resident_id: int
    kind: str  # "photo" | "audio" | "video"
    status: str  # "processing" | "ready" | "failed"
    sha256: str
    content_type: str
    gps: tuple[float, float] | None  # (lat, lng) WGS-84 from EXIF, if any
    taken_at: dt.datetime | None
    width: int | None
    height: int | None
    duration_s: float | None
    perceptual_hash: str | None = None
    attached_to: str | None = None


def _info(media: Media) -> MediaInfo:
    gps = (media.gps_lat, media.gps_lng) if media.gps_lat is not None and media.gps_lng is not None else None
    return MediaInfo(media.id, media.owner_resident_id, media.kind, media.status, media.sha256, media.content_type,
                     gps, media.taken_at, media.width, media.height, media.duration_s, media.perceptual_hash,
                     media.attached_to)


# --- limits -------------------------------------------------------------------------------------

def max_bytes(kind: str, config: Config | None = None) -> int:
    config = config or current_config()
    return {"photo": config.media_photo_max_bytes, "audio": config.media_audio_max_bytes,
            "video": config.media_video_max_bytes}[kind]


def max_upload_bytes(config: Config | None = None) -> int:
    """The largest body any kind may have."""
    return max(max_bytes(kind, config) for kind in KINDS)


def too_large(kind: str, limit: int) -> MediaRejected:
    return MediaRejected(413, "payload_too_large", "文件过大。", {"kind": kind, "max_bytes": limit})


def _check_size(kind: str, size: int) -> None:
    limit = max_bytes(kind)
    if size > limit:
        raise too_large(kind, limit)


# --- incoming files -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class IncomingFile:
    """A received body on local disk, with what was learnt while it streamed in."""

    path: Path
    size: int
    sha256: str
    format: Format


# Received files wait in folders named so: the sweep removes those a killed worker left.
UPLOAD_TEMP_PREFIX = "upload-"
# Longer than any request takes to write a received file; a folder untouched this long is a dead worker's.
UPLOAD_TEMP_MAX_AGE = dt.timedelta(hours=1)


def upload_temp_dir(config: Config | None = None) -> Path:
    """Where received files wait (tempfile.TemporaryDirectory(prefix=UPLOAD_TEMP_PREFIX, dir=this)): a folder of
    the app's own under MEDIA_ROOT, with either storage backend, so that the sweep removes only its own."""
    directory = (config or current_config()).media_root / ".incoming"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _probe(incoming: IncomingFile) -> dict[str, Any]:
    """The columns a new media row gets from its bytes, or MediaRejected."""
    fmt = incoming.format
    _check_size(fmt.kind, incoming.size)
    processing.check_structure(incoming.path, fmt)
    config = current_config()
    if fmt.kind == "photo":
        with processing.open_photo(incoming.path, fmt, config.media_photo_max_pixels) as image:
            meta = processing.photo_meta(image)
        return {"kind": "photo", "format": fmt.name, "content_type": fmt.content_type, "width": meta.width,
                "height": meta.height, "taken_at": meta.taken_at, "gps_lat": meta.gps[0] if meta.gps else None,
                "gps_lng": meta.gps[1] if meta.gps else None, "duration_s": None}
    stream = processing.probe_stream(incoming.path, fmt)
    kind = stream.format.kind
    _check_size(kind, incoming.size)
    max_seconds = config.media_video_max_seconds if kind == "video" else config.media_audio_max_seconds
    if stream.duration_s > max_seconds:
        raise MediaRejected(422, "too_long", "时长超出限制。",
                            {"duration_s": stream.duration_s, "max_seconds": max_seconds})
    return {"kind": kind, "format": stream.format.name, "content_type": stream.format.content_type,
            "width": stream.width, "height": stream.height, "duration_s": stream.duration_s,
            "taken_at": stream.taken_at, "gps_lat": stream.gps[0] if stream.gps else None,
            "gps_lng": stream.gps[1] if stream.gps else None}


def _original_key(resident_id: int, media_id: int, area: str = "media") -> str:
    # A random part, so that a key is never reused even where a database reuses a deleted row's id.
    return f"{area}/{resident_id}/{media_id}-{secrets.token_hex(8)}/original"


def find_by_hash(resident_id: int, sha256: str) -> Media | None:
    return db.session.scalar(sa.select(Media).where(Media.owner_resident_id == resident_id,
                                                    Media.sha256 == sha256))


def accept_upload(resident_id: int, incoming: IncomingFile) -> Media:
    """Store a file the app received itself; the same resident's same bytes give the same media. Commits."""
    existing = find_by_hash(resident_id, incoming.sha256)
    if existing is not None and existing.status != "awaiting_upload":
        return existing
    columns = _probe(incoming)
    media = existing or Media(owner_resident_id=resident_id, sha256=incoming.sha256, original_key="")
    staging_key = media.original_key
    _apply(media, columns, size=incoming.size)
    storage = current_storage()
    try:
        db.session.add(media)
        db.session.flush()
        media.original_key = _original_key(resident_id, media.id)
        with incoming.path.open("rb") as body:
            storage.put(media.original_key, body, media.content_type)
        _queue_processing(media)
        db.session.commit()
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


def accept_local_file(resident_id: int, path: Path) -> Media:
    """Store a file the server fetched itself (a case system's photo) as the resident's media. Commits."""
    with path.open("rb") as f:
        size, sha256, head = hash_stream(f)
    fmt = processing.sniff(head)
    if fmt is None:
        raise processing.unsupported()
    return accept_upload(resident_id, IncomingFile(path, size, sha256, fmt))


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


def _queue_processing(media: Media) -> None:
    from media.jobs import process_media

    enqueue_after_commit(process_media, media.id)


# --- direct uploads -------------------------------------------------------------------------------

# What a client may announce for a direct upload: (kind, Content-Type) -> format until the bytes are checked.
_DECLARABLE = {(fmt.kind, fmt.content_type): fmt.name for fmt in FORMATS.values()} | {
    ("audio", "audio/x-m4a"): "m4a", ("audio", "audio/mp3"): "mp3", ("audio", "audio/x-wav"): "wav"}


def start_direct_upload(resident_id: int, *, kind: str, content_type: str, size: int,
                        sha256: str) -> tuple[Media, SignedUpload | None]:
    """A media row awaiting its bytes and a short-lived signed upload for them (None: already have them). Commits."""
    sha256 = sha256.lower()
    if not _SHA256.match(sha256):
        raise ValidationFailed("sha256 须为 64 位十六进制。", details={"fields": {"sha256": ["not a SHA-256 hex digest"]}})
    if (kind, content_type) not in _DECLARABLE:
        raise processing.unsupported()
    _check_size(kind, size)
    config = current_config()
    media = find_by_hash(resident_id, sha256)
    if media is not None and media.status != "awaiting_upload":
        return media, None
    if media is None:
        media = Media(owner_resident_id=resident_id, sha256=sha256, original_key="")
        db.session.add(media)
    media.kind, media.format, media.content_type = kind, _DECLARABLE[(kind, content_type)], content_type
    media.size, media.status = size, "awaiting_upload"
    media.upload_expires_at = utcnow() + dt.timedelta(seconds=config.media_upload_ttl_seconds)
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
                                                       size=winner.size, expires_in=config.media_upload_ttl_seconds)
    # Uploaded to a staging key: once checked, the bytes are copied where the signed link cannot reach.
    # Started again, the same key: bytes already sent to it are replaced or completed, never left behind.
    media.original_key = media.original_key or _original_key(resident_id, media.id, area="uploads")
    upload = current_storage().signed_upload(media.original_key, content_type=content_type, size=size,
                                             expires_in=config.media_upload_ttl_seconds)
    db.session.commit()
    return media, upload


def complete_direct_upload(resident_id: int, media_id: int) -> Media:
    """Check a direct upload's size, hash and type; on success it counts, on failure nothing is kept. Commits.

    The bytes are first copied from the staging key (which the signed link can still overwrite)
    to their final key, and it is the final copy that is checked and kept. The media stays locked meanwhile:
    a second completion (a double tap) waits, then finds it done.
    """
    media = owned_media(resident_id, media_id, for_update=True)
    if media.status != "awaiting_upload":
        return media
    storage = current_storage()
    staging_key, final_key = media.original_key, _original_key(resident_id, media.id)
    try:
        stored_size = storage.size(staging_key)
    except ObjectNotFound:
        raise Conflict("文件尚未上传。", code="upload_missing") from None
    try:
        if stored_size != media.size:
            raise MediaRejected(422, "size_mismatch", "上传文件大小与声明不符。",
                                {"declared": media.size, "received": stored_size})
        storage.copy(staging_key, final_key)
        with _downloaded(final_key, media.sha256) as incoming:
            columns = _probe(incoming)
        if columns["kind"] != media.kind:
            raise MediaRejected(422, "kind_mismatch", "文件类型与声明不符。",
                                {"declared": media.kind, "detected": columns["kind"]})
    except MediaRejected:
        storage.delete(final_key)
        _forget(media)
        db.session.commit()
        raise
    _apply(media, columns, size=stored_size)
    media.original_key = final_key
    _queue_processing(media)
    try:
        db.session.commit()
    except BaseException:
        _discard_original(final_key)
        raise
    storage.end_upload(staging_key)
    return media


@contextmanager
def _downloaded(key: str, sha256: str) -> Iterator[IncomingFile]:
    """The stored object in a temporary file, checked against its declared hash, then sniffed."""
    with tempfile.TemporaryDirectory(prefix=UPLOAD_TEMP_PREFIX, dir=upload_temp_dir()) as directory:
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


def hash_stream(stream: BinaryIO) -> tuple[int, str, bytes]:
    """(size, SHA-256 hex, first bytes) of a stream read to its end."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    while chunk := stream.read(_HASH_CHUNK):
        if len(head) < processing.SNIFF_BYTES:
            head += chunk[:processing.SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest(), head


# --- processing (the job's work) -------------------------------------------------------------------

def render_media(media_id: int) -> None:
    """Make the served derivatives of one accepted media; a file that cannot be rendered is marked failed.

    The rendering (seconds for a video) holds no lock and no transaction: a report attaching the media meanwhile
    goes on. The media is locked and read afresh only to record what was made; erased meanwhile, it is gone, and
    so goes what the rendering stored. An erasure after that reads the keys recorded and deletes them.
    """
    media = db.session.get(Media, media_id)
    if media is None or media.status != "processing":
        return
    kind, fmt, original_key = media.kind, FORMATS[media.format], media.original_key
    db.session.rollback()
    stored: list[str] = []
    try:
        if kind == "photo":
            outcome = _render_photo(original_key, fmt, stored)
        else:
            outcome = _render_stream(original_key, kind, fmt, stored)
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


def _derivative_key(original_key: str, name: str, extension: str) -> str:
    """Beside the original: ``media/<resident>/<id>-<random>/<name>.<extension>``."""
    return f"{original_key.rsplit('/', 1)[0]}/{name}.{extension}"


def _render_photo(original_key: str, fmt: Format, stored: list[str]) -> dict[str, Any]:
    """Store the large and thumbnail copies (their keys added to ``stored``); the media's values for them."""
    storage = current_storage()
    rendition = processing.render_photo(storage.get(original_key), fmt, current_config().media_photo_max_pixels)
    outcome = {"large_key": _derivative_key(original_key, "large", "jpg"),
               "thumb_key": _derivative_key(original_key, "thumb", "jpg"), "perceptual_hash": rendition.phash}
    for key, body in ((outcome["large_key"], rendition.large), (outcome["thumb_key"], rendition.thumb)):
        stored.append(key)
        storage.put(key, body, "image/jpeg")
    return outcome


def _render_stream(original_key: str, kind: str, fmt: Format, stored: list[str]) -> dict[str, Any]:
    """Store the playable copy without metadata and a video's poster (their keys added to ``stored``); the media's
    values for them."""
    storage = current_storage()
    extension, content_type = processing.playback_format(fmt)
    outcome: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="media-") as directory:
        source, target = Path(directory) / "original", Path(directory) / f"large.{extension}"
        with source.open("wb") as out:
            storage.download(original_key, out)
        processing.remux_without_metadata(source, target, fmt)
        outcome["large_key"] = _derivative_key(original_key, "large", extension)
        stored.append(outcome["large_key"])
        with target.open("rb") as body:
            storage.put(outcome["large_key"], body, content_type)
        poster = processing.poster_frame(source) if kind == "video" else None
        if poster is not None:
            outcome["thumb_key"] = _derivative_key(original_key, "thumb", "jpg")
            stored.append(outcome["thumb_key"])
            storage.put(outcome["thumb_key"], poster, "image/jpeg")
    return outcome


# --- public copies ----------------------------------------------------------------------------------

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
    media.original_key = media.large_key = _derivative_key(_original_key(media.owner_resident_id, media.id,
                                                                          area="public"), "large", "jpg")
    media.thumb_key = _derivative_key(media.original_key, "thumb", "jpg")
    try:
        storage.put(media.large_key, copy.large, "image/jpeg")
        storage.put(media.thumb_key, copy.thumb, "image/jpeg")
    except BaseException:
        for key in (media.large_key, media.thumb_key):
            storage.delete(key)
        raise
    return media.id


# --- reading ----------------------------------------------------------------------------------------

def owned_media(resident_id: int, media_id: int, *, for_update: bool = False) -> Media:
    """The resident's own media; anyone else's is as absent as a missing one."""
    media = get_row(Media, media_id, with_for_update=for_update)
    if media is None or media.owner_resident_id != resident_id:
        raise NotFound("媒体文件不存在。")
    return media


def get_owned_media(resident_id: int, media_ids: list[int]) -> list[MediaInfo]:
    """The subset of ``media_ids`` that exist, belong to the resident and have their bytes."""
    # An id no database id can be is absent, not a database error (PostgreSQL refuses it beyond 32 bits).
    possible = {media_id for media_id in media_ids if 0 < media_id <= MAX_DATABASE_ID}
    if not possible:
        return []
    rows = db.session.scalars(sa.select(Media).where(Media.id.in_(possible),
                                                     Media.owner_resident_id == resident_id,
                                                     Media.status != "awaiting_upload")).all()
    by_id = {media.id: media for media in rows}
    return [_info(by_id[media_id]) for media_id in dict.fromkeys(media_ids) if media_id in by_id]


def media_in_use(media: Iterable[MediaInfo], *, attaching_to: str | None = None) -> list[int]:
    """The ids of those media already attached to something other than ``attaching_to``."""
    return [item.id for item in media if item.attached_to is not None and item.attached_to != attaching_to]


def attach_media(media_ids: list[int], *, attached_to: str) -> None:
    """Mark media as belonging to something (``"report:17"``), so the clean-up keeps it. The caller commits.

    A media belongs to one thing only: were a photo on two reports, retention deleting it with one
    would take the other's evidence. Callers check ``media_in_use`` first; a concurrent attach loses here.
    """
    wanted = set(media_ids)
    if not wanted:
        return
    attached = db.session.execute(
        sa.update(Media).where(Media.id.in_(wanted), sa.or_(Media.attached_to.is_(None), Media.attached_to == attached_to))
        .values(attached_to=attached_to, attached_at=utcnow())).rowcount
    if attached != len(wanted):
        raise Conflict("媒体文件已用于其他提交。", code="media_in_use", details={"media_ids": sorted(wanted)})


def media_info(media_id: int) -> MediaInfo:
    media = get_or_not_found(Media, media_id, "媒体文件不存在。")
    return _info(media)


def media_urls(media_id: int, *, include_original: bool = False, ttl_seconds: int | None = None) -> dict[str, str]:
    """Signed links: "large" and "thumb" once rendered, and for staff the "original" evidence.

    Short-lived unless ``ttl_seconds`` says otherwise (a case system keeps the link it is given).
    """
    media = get_or_not_found(Media, media_id, "媒体文件不存在。")
    return _urls(media, include_original=include_original, ttl_seconds=ttl_seconds)


def media_urls_by_id(media_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The residents' signed links of many media in one query, by id (absent ids are left out)."""
    wanted = set(media_ids)
    if not wanted:
        return {}
    return {media.id: _urls(media) for media in db.session.scalars(sa.select(Media).where(Media.id.in_(wanted)))}


def _urls(media: Media, *, include_original: bool = False, ttl_seconds: int | None = None) -> dict[str, str]:
    storage, ttl = current_storage(), ttl_seconds or current_config().signed_url_ttl_seconds
    keys = {"large": media.large_key, "thumb": media.thumb_key}
    if include_original and media.status != "awaiting_upload":
        keys["original"] = media.original_key
    return {name: storage.signed_url(key, ttl) for name, key in keys.items() if key}


def describe(media: Media) -> dict[str, Any]:
    """What the owner's API shows of one media."""
    info = _info(media)
    view = dataclasses.asdict(info)
    view["gps"] = {"lat": info.gps[0], "lng": info.gps[1]} if info.gps else None
    view["size"] = media.size
    view["urls"] = _urls(media)
    return view


# --- the sweep: nothing accepted stays unprocessed --------------------------------------------------

# A media still processing this long after its last change lost its job (with Redis or a killed worker).
PROCESSING_REQUEUE_AFTER = dt.timedelta(minutes=10)
REQUEUE_BATCH = 500


def requeue_unprocessed(now: dt.datetime | None = None) -> int:
    """Queue the processing job again for media whose job was lost; each at most once per interval. Commits."""
    now = now or utcnow()
    stuck = list(db.session.scalars(sa.select(Media).where(
        Media.status == "processing", Media.updated_at < now - PROCESSING_REQUEUE_AFTER)
        .order_by(Media.id).limit(REQUEUE_BATCH)))
    for media in stuck:
        media.updated_at = now
        _queue_processing(media)
    db.session.commit()
    return len(stuck)


# --- the sweep: nothing received stays behind ------------------------------------------------------

# An upload whose link expired may still have sent its bytes just before; its /complete may follow this late.
DIRECT_UPLOAD_COMPLETION_GRACE = dt.timedelta(hours=1)
_STAGING_AREA = "uploads/"
_STAGING_BATCH = 500


def remove_upload_leftovers(now: dt.datetime | None = None) -> int:
    """Remove what uploads left behind; how many things. Commits.

    Direct uploads not completed within their link's time and the grace go, rows and staging objects. Staging
    objects of no upload still awaited go too: S3 cannot revoke a presigned POST, so a link used again after
    /complete (or a rejection) stores its body again. Then the folders of received files a killed worker left,
    and what the storage's interrupted writes left.
    """
    now = now or utcnow()
    removed = 0
    while expired := db.session.scalars(_for_deletion(sa.select(Media).where(
            Media.status == "awaiting_upload", Media.upload_expires_at < now - DIRECT_UPLOAD_COMPLETION_GRACE)
            .order_by(Media.id).limit(_STAGING_BATCH))).all():
        for media in expired:
            _forget(media)
        db.session.commit()
        removed += len(expired)
    storage = current_storage()
    staged = list(storage.keys(_STAGING_AREA))
    for start in range(0, len(staged), _STAGING_BATCH):
        batch = staged[start:start + _STAGING_BATCH]
        awaited = set(db.session.scalars(sa.select(Media.original_key).where(
            Media.original_key.in_(batch), Media.status == "awaiting_upload")))
        for key in batch:
            if key not in awaited:
                storage.delete(key)
                removed += 1
    db.session.rollback()
    removed += _remove_abandoned_upload_folders(now)
    # Every signed upload link has expired this long after its upload ended.
    ended_long_ago = now - max(UPLOAD_TEMP_MAX_AGE, dt.timedelta(seconds=current_config().media_upload_ttl_seconds))
    return removed + storage.remove_abandoned(ended_long_ago.timestamp())


def _remove_abandoned_upload_folders(now: dt.datetime) -> int:
    cutoff = (now - UPLOAD_TEMP_MAX_AGE).timestamp()
    removed = 0
    for folder in upload_temp_dir().glob(UPLOAD_TEMP_PREFIX + "*"):
        try:
            last_written = max(path.stat().st_mtime for path in (folder, *folder.rglob("*")))
        except FileNotFoundError:
            continue  # its request ended meanwhile
        if last_written < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# --- expiry -----------------------------------------------------------------------------------------

def delete_unattached_media(now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Delete media (rows and stored objects) left unattached longer than the configured hours. Commits."""
    cutoff = (now or utcnow()) - dt.timedelta(hours=current_config().media_unattached_ttl_hours)
    deleted = 0
    while True:
        batch = db.session.scalars(_for_deletion(sa.select(Media).where(
            Media.attached_to.is_(None), Media.created_at < cutoff).order_by(Media.id).limit(batch_size))).all()
        if not batch:
            return deleted
        for media in batch:
            _forget(media)
        db.session.commit()
        deleted += len(batch)


def _for_deletion(query: sa.Select[tuple[Media]]) -> sa.Select[tuple[Media]]:
    """Media to be forgotten, locked and read afresh: a job recording its rendering is waited for, and the keys it
    recorded are seen (one that records after the erasure finds the media gone and deletes what it stored)."""
    return query.with_for_update().execution_options(populate_existing=True)


def _forget(media: Media) -> None:
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


# --- residents' data rights --------------------------------------------------------------------------

def delete_media(media_ids: list[int]) -> None:
    """Delete media (stored objects and rows), e.g. when their retention ends. The caller commits."""
    if media_ids:
        for media in db.session.scalars(_for_deletion(sa.select(Media).where(Media.id.in_(set(media_ids))))).all():
            _forget(media)


def export_resident_data(resident_id: int) -> list[dict[str, Any]]:
    """Every media the resident uploaded, with short-lived links to the files, the original included."""
    rows = db.session.scalars(sa.select(Media).where(Media.owner_resident_id == resident_id).order_by(Media.id))
    return [{**row_dict(media, exclude=("original_key", "large_key", "thumb_key", "owner_resident_id")),
             "urls": _urls(media, include_original=True)} for media in rows]


def forget_resident(resident_id: int) -> None:
    """Delete all of the resident's media, files included: photos may show the person. The caller commits."""
    for media in db.session.scalars(_for_deletion(sa.select(Media).where(Media.owner_resident_id == resident_id))).all():
        _forget(media)
