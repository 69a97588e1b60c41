"""What an upload may be: sizes by kind, where received files wait, and what was learnt while one streamed in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path
from typing import BinaryIO

from media import processing
from media.processing import KINDS, Format, MediaRejected
from media.settings import MediaSettings

_HASH_CHUNK = 1024 * 1024
# Received files wait in folders named so: the sweep removes those a killed worker left.
UPLOAD_TEMP_PREFIX = "upload-"
# Longer than any request takes to write a received file; a folder untouched this long is a dead worker's.
UPLOAD_TEMP_MAX_AGE = dt.timedelta(hours=1)


def max_bytes(kind: str, settings: MediaSettings) -> int:
    return {"photo": settings.media_photo_max_bytes, "audio": settings.media_audio_max_bytes,
            "video": settings.media_video_max_bytes}[kind]


def max_upload_bytes(settings: MediaSettings) -> int:
    """The largest body any kind may have."""
    return max(max_bytes(kind, settings) for kind in KINDS)


def too_large(kind: str, limit: int) -> MediaRejected:
    return MediaRejected(413, "payload_too_large", "文件过大。", {"kind": kind, "max_bytes": limit})


def check_size(kind: str, size: int, settings: MediaSettings) -> None:
    limit = max_bytes(kind, settings)
    if size > limit:
        raise too_large(kind, limit)


@dataclasses.dataclass(frozen=True)
class IncomingFile:
    """A received body on local disk, with what was learnt while it streamed in."""

    path: Path
    size: int
    sha256: str
    format: Format


def upload_temp_dir(media_root: Path) -> Path:
    """Where received files wait (tempfile.TemporaryDirectory(prefix=UPLOAD_TEMP_PREFIX, dir=this)): a folder of
    the app's own under MEDIA_ROOT, with either storage backend, so that the sweep removes only its own."""
    directory = media_root / ".incoming"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


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
