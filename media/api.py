"""Resident media API: uploads through the app or straight to storage, and the owner's view of each file."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from core.auth import current_resident_id, resident_required
from core.config import current_config, current_settings
from core.db import release_connection
from core.errors import AppError, ValidationFailed
from core.links import public_url
from core.ratelimit import rate_limit
from core.storage import UPLOAD_FILE_FIELD
from media import processing, services
from media.models import Media
from media.schemas import DirectUploadRequestSchema, DirectUploadSchema, MediaSchema, UploadFormSchema
from media.settings import MediaSettings

blp = Blueprint("media", __name__, description="Residents' photos, voice notes and videos")
# Beside the file, what a multipart body carries stays small: each form field (wx.uploadFile's formData), each
# part's headers.
_FIELD_BYTES = 64 * 1024
_MAX_PARTS = 16
# The body may exceed the largest file by its fields and the headers and boundaries of its parts.
_MULTIPART_OVERHEAD = _MAX_PARTS * 2 * _FIELD_BYTES
_READ_BYTES = 256 * 1024
_BEARER = [{"bearerAuth": []}]


class _CappedSink:
    """Where the uploaded file part streams to: a temporary file, hashed and sniffed as it arrives,
    refused (415, 413) as soon as its first bytes or its length rule it out."""

    def __init__(self, path: Path, settings: MediaSettings) -> None:
        self.path = path
        self._settings = settings
        self._file: BinaryIO = self.path.open("wb")
        self._digest = hashlib.sha256()
        self._head = b""
        self.size = 0
        self.format: processing.Format | None = None
        self._limit = services.max_upload_bytes(settings)

    def write(self, data: bytes) -> None:
        if self.format is None and len(self._head) < processing.SNIFF_BYTES:
            self._head += data[:processing.SNIFF_BYTES - len(self._head)]
            if len(self._head) >= processing.SNIFF_BYTES:
                self._identify()
        self.size += len(data)
        if self.size > self._limit:
            raise services.too_large(self.format.kind if self.format else "file", self._limit)
        self._digest.update(data)
        self._file.write(data)

    def _identify(self) -> None:
        self.format = processing.sniff(self._head)
        if self.format is None:
            raise processing.unsupported()
        # A generic ISO media file may still turn out to be audio; its final kind is checked after.
        self._limit = services.max_bytes(self.format.kind, self._settings)

    def close(self) -> None:
        self._file.close()

    def incoming(self) -> services.IncomingFile:
        self.close()
        if self.format is None and self._head:  # shorter than a sniff
            self._identify()
        if self.size == 0 or self.format is None:
            raise ValidationFailed("文件为空。", code="empty_file")
        return services.IncomingFile(self.path, self.size, self._digest.hexdigest(), self.format)


def _malformed() -> AppError:
    return AppError("上传内容不是完整的 multipart/form-data。", code="malformed_multipart")


def _ignored(data: bytes) -> None:
    return None


def _bounded_field(name: str) -> Callable[[bytes], None]:
    """A form field's bytes, counted and dropped: nothing beside the file is used, and nothing large is let in."""
    size = 0

    def count(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > _FIELD_BYTES:
            raise AppError("表单字段过大。", status=413, code="payload_too_large",
                           details={"field": name, "max_bytes": _FIELD_BYTES})

    return count


def _stream_upload_part(stream: BinaryIO, boundary: bytes, sink: _CappedSink) -> bool:
    """Read a multipart body to its end, writing the first ``file`` part's bytes to ``sink`` as they arrive; True
    when the body had that part. Only the sink's limits bound the file, wherever its bytes fall in the reads
    (Werkzeug's form parser applies its small-field limit to its raw buffer in file parts too, so that a CR or LF
    near the end of a read refused most phone photos). Form fields are bounded by ``_FIELD_BYTES``, other file parts
    skipped; both dropped."""
    decoder = MultipartDecoder(boundary, max_parts=_MAX_PARTS)
    found = False
    write: Callable[[bytes], None] = _ignored
    while True:
        chunk = stream.read(_READ_BYTES)
        decoder.receive_data(chunk or None)
        try:
            event = decoder.next_event()
            while not isinstance(event, (NeedData, Epilogue)):
                if isinstance(event, File) and event.name == UPLOAD_FILE_FIELD and not found:
                    write, found = sink.write, True
                elif isinstance(event, File):
                    write = _ignored
                elif isinstance(event, Field):
                    write = _bounded_field(event.name)
                elif isinstance(event, Data):
                    write(event.data)
                event = decoder.next_event()
        except ValueError:  # the decoder's word for a body that is no multipart, or one cut off
            raise _malformed() from None
        # Between events the decoder holds what it has not placed yet: a part's headers, or text around the parts.
        if len(decoder.buffer) > _FIELD_BYTES:
            raise _malformed()
        if not chunk:
            return found


@contextmanager
def _received_file(settings: MediaSettings) -> Iterator[services.IncomingFile]:
    """The request's ``file`` part, streamed to a temporary directory that is removed afterwards."""
    stream = get_input_stream(request.environ,
                              max_content_length=services.max_upload_bytes(settings) + _MULTIPART_OVERHEAD)
    mimetype, options = parse_options_header(request.environ.get("CONTENT_TYPE", ""))
    boundary = options.get("boundary", "").encode("ascii", "replace")
    with tempfile.TemporaryDirectory(prefix=services.UPLOAD_TEMP_PREFIX, dir=_temp_dir()) as directory:
        sink = _CappedSink(Path(directory) / "file", settings)
        try:
            if mimetype != "multipart/form-data" or not boundary or not _stream_upload_part(stream, boundary, sink):
                raise ValidationFailed(f"缺少文件字段 {UPLOAD_FILE_FIELD}。", code="file_missing",
                                       details={"fields": {UPLOAD_FILE_FIELD: ["required"]}})
            yield sink.incoming()
        finally:
            sink.close()


def _temp_dir() -> Path:
    return services.upload_temp_dir(current_config().media_root)


def _absolute(url: str) -> str:
    # Local-disk links are app paths; the mini-program needs them whole.
    return public_url(url)


def _view(media: Media) -> dict[str, Any]:
    view = services.describe(media, current_settings(MediaSettings).signed_url_ttl_seconds)
    view["urls"] = {name: _absolute(url) for name, url in view["urls"].items()}
    return view


@blp.route("/media")
class MediaUpload(MethodView):
    @resident_required
    @blp.doc(security=_BEARER, requestBody={"required": True, "content": {"multipart/form-data": {
        "schema": UploadFormSchema}}})
    @blp.response(201, MediaSchema, description="Stored (200 with the same media when these bytes were sent before)")
    @blp.alt_response(200, schema=MediaSchema, success=True, description="These bytes were sent before: the same media")
    @blp.alt_response(400, description="malformed_multipart")
    @blp.alt_response(413, description="payload_too_large (the file, or a form field beside it)")
    @blp.alt_response(415, description="unsupported_media_type")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.alt_response(422, description="corrupt_media / too_many_pixels / too_long / empty_file / file_missing")
    def post(self) -> tuple[dict[str, Any], int]:
        """Upload a photo, voice note or video (multipart field `file`, as wx.uploadFile sends it)"""
        resident_id = current_resident_id()
        rate_limit("upload", str(resident_id))
        release_connection()
        settings = current_settings(MediaSettings)
        with _received_file(settings) as incoming:
            known = services.find_by_hash(resident_id, incoming.sha256)
            media = services.accept_upload(resident_id, incoming, settings)
        return _view(media), 200 if known is not None and known.id == media.id else 201


@blp.route("/media/<int:media_id>")
class MediaItem(MethodView):
    @resident_required
    @blp.doc(security=_BEARER)
    @blp.response(200, MediaSchema)
    def get(self, media_id: int) -> dict[str, Any]:
        """One of the resident's own media (404 for anyone else's)"""
        return _view(services.owned_media(current_resident_id(), media_id))


@blp.route("/media/uploads")
class DirectUploads(MethodView):
    @resident_required
    @blp.doc(security=_BEARER)
    @blp.arguments(DirectUploadRequestSchema)
    @blp.response(201, DirectUploadSchema)
    @blp.alt_response(413, description="payload_too_large")
    @blp.alt_response(415, description="unsupported_media_type")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a direct upload to storage (large videos): POST the returned fields and `file` to the URL"""
        rate_limit("upload", str(current_resident_id()))
        media, upload = services.start_direct_upload(current_resident_id(), current_settings(MediaSettings), **body)
        signed = None if upload is None else {
            "url": _absolute(upload.url), "method": "POST", "fields": upload.fields, "file_field": UPLOAD_FILE_FIELD,
            "expires_at": dt.datetime.fromtimestamp(upload.expires_at, dt.timezone.utc)}
        return {"media": _view(media), "upload": signed}


@blp.route("/media/<int:media_id>/complete")
class CompleteUpload(MethodView):
    @resident_required
    @blp.doc(security=_BEARER)
    @blp.response(200, MediaSchema)
    @blp.alt_response(409, description="upload_missing")
    @blp.alt_response(422, description="size_mismatch / hash_mismatch / kind_mismatch / corrupt_media")
    def post(self, media_id: int) -> dict[str, Any]:
        """Finish a direct upload: size, hash and type are checked before the media counts"""
        media = services.complete_direct_upload(current_resident_id(), media_id, current_settings(MediaSettings),
                                                _temp_dir())
        return _view(media)

