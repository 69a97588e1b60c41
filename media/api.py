"""Resident media API: uploads through the app or straight to storage, and the owner's view of each file."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.formparser import parse_form_data

from core.auth import current_resident_id, resident_required
from core.errors import ValidationFailed
from core.links import public_url
from core.ratelimit import rate_limit
from core.storage import UPLOAD_FILE_FIELD
from media import processing, services
from media.models import Media
from media.schemas import DirectUploadRequestSchema, DirectUploadSchema, MediaSchema, UploadFormSchema

blp = Blueprint("media", __name__, description="Residents' photos, voice notes and videos")
_MULTIPART_OVERHEAD = 64 * 1024
_BEARER = [{"bearerAuth": []}]


class _CappedSink:
    """Where one uploaded file part streams to: a temporary file, hashed and sniffed as it arrives,
    refused (415, 413) as soon as its first bytes or its length rule it out."""

    def __init__(self, directory: Path, index: int) -> None:
        self.path = directory / f"part-{index}"
        self._file: BinaryIO = self.path.open("w+b")
        self._digest = hashlib.sha256()
        self._head = b""
        self.size = 0
        self.format: processing.Format | None = None
        self._limit = services.max_upload_bytes()

    def write(self, data: bytes) -> int:
        if self.format is None and len(self._head) < processing.SNIFF_BYTES:
            self._head += data[:processing.SNIFF_BYTES - len(self._head)]
            if len(self._head) >= processing.SNIFF_BYTES:
                self._identify()
        self.size += len(data)
        if self.size > self._limit:
            raise services.too_large(self.format.kind if self.format else "file", self._limit)
        self._digest.update(data)
        return self._file.write(data)

    def _identify(self) -> None:
        self.format = processing.sniff(self._head)
        if self.format is None:
            raise processing.unsupported()
        # A generic ISO media file may still turn out to be audio; its final kind is checked after.
        self._limit = services.max_bytes(self.format.kind)

    def seek(self, offset: int, whence: int = 0) -> int:
        if self.format is None and self._head:
            self._identify()
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def close(self) -> None:
        self._file.close()

    def incoming(self) -> services.IncomingFile:
        if self.size == 0 or self.format is None:
            raise ValidationFailed("文件为空。", code="empty_file")
        self._file.flush()
        return services.IncomingFile(self.path, self.size, self._digest.hexdigest(), self.format)


@contextmanager
def _received_file() -> Iterator[services.IncomingFile]:
    """The request's ``file`` part, streamed to a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="upload-", dir=services.upload_temp_dir()) as directory:
        sinks: list[_CappedSink] = []

        def stream_factory(*_: Any, **__: Any) -> _CappedSink:
            sinks.append(_CappedSink(Path(directory), len(sinks)))
            return sinks[-1]

        try:
            _, _, files = parse_form_data(request.environ, stream_factory=stream_factory,
                                          max_content_length=services.max_upload_bytes() + _MULTIPART_OVERHEAD,
                                          max_form_memory_size=_MULTIPART_OVERHEAD, max_form_parts=16)
            upload = files.get(UPLOAD_FILE_FIELD)
            if upload is None:
                raise ValidationFailed(f"缺少文件字段 {UPLOAD_FILE_FIELD}。", code="file_missing",
                                       details={"fields": {UPLOAD_FILE_FIELD: ["required"]}})
            yield upload.stream.incoming()
        finally:
            for sink in sinks:
                sink.close()


def _absolute(url: str) -> str:
    # Local-disk links are app paths; the mini-program needs them whole.
    return public_url(url)


def _view(media: Media) -> dict[str, Any]:
    view = services.describe(media)
    view["urls"] = {name: _absolute(url) for name, url in view["urls"].items()}
    return view


@blp.route("/media")
class MediaUpload(MethodView):
    @resident_required
    @blp.doc(security=_BEARER, requestBody={"required": True, "content": {"multipart/form-data": {
        "schema": UploadFormSchema}}})
    @blp.response(201, MediaSchema, description="Stored (200 with the same media when these bytes were sent before)")
    @blp.alt_response(200, schema=MediaSchema, success=True, description="These bytes were sent before: the same media")
    @blp.alt_response(413, description="payload_too_large")
    @blp.alt_response(415, description="unsupported_media_type")
    @blp.alt_response(429, description="rate_limited (with Retry-After)")
    @blp.alt_response(422, description="corrupt_media / too_many_pixels / too_long / empty_file / file_missing")
    def post(self) -> tuple[dict[str, Any], int]:
        """Upload a photo, voice note or video (multipart field `file`, as wx.uploadFile sends it)"""
        resident_id = current_resident_id()
        rate_limit("upload", str(resident_id))
        with _received_file() as incoming:
            known = services.find_by_hash(resident_id, incoming.sha256)
            media = services.accept_upload(resident_id, incoming)
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
        media, upload = services.start_direct_upload(current_resident_id(), **body)
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
        return _view(services.complete_direct_upload(current_resident_id(), media_id))

