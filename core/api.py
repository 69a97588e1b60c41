"""Operational endpoints: liveness, readiness, and signed links to (and uploads of) locally stored media."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import mimetypes
import os
from typing import BinaryIO

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import FileWrapper

from core.config import PROJECT_ROOT
from core.db import db
from core.errors import NotFound, error_response
from core.metrics import Gauge
from core.storage import UPLOAD_FILE_FIELD, LocalDiskStorage, ObjectNotFound, UploadRefused, check_key

log = logging.getLogger(__name__)
API_VERSION = "v1"
bp = Blueprint("core", __name__)
files_bp = Blueprint("files", __name__)


def register_api_blueprint(api: Api, blueprint: ApiBlueprint) -> None:
    """A package's part of the documented API, under /api/v1. The OpenAPI document lists the parts' tags in the
    order they are registered."""
    api.register_blueprint(blueprint, url_prefix=f"/api/{API_VERSION}")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    checks = readiness_checks()
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        return error_response(503, "not_ready", "服务尚未就绪：" + "、".join(down), {"checks": checks})
    return jsonify({"status": "ready", "checks": checks})


def readiness_checks() -> dict[str, str]:
    """Each backend the app needs, "ok" or why not: the database (and its migration), Redis, the object storage."""
    checks: dict[str, str] = {}
    try:
        checks["database"] = "ok" if schema_is_current() else "not_migrated"
    except Exception as exc:  # any driver failure means "not ready", whatever its class
        log.warning("readiness: database down", extra={"error": type(exc).__name__})
        db.session.rollback()
        checks["database"] = "down"
    redis_connection = current_app.extensions["redis"]
    if redis_connection is not None:
        try:
            redis_connection.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis down", extra={"error": type(exc).__name__})
            checks["redis"] = "down"
    try:
        current_app.extensions["storage"].check()
        checks["storage"] = "ok"
    except Exception as exc:
        log.warning("readiness: storage down", extra={"error": type(exc).__name__})
        checks["storage"] = "down"
    return checks


def readiness_gauges() -> list[Gauge]:
    """/readyz's checks as a gauge for the alerts: 1 ready, 0 not."""
    return [Gauge("readiness_check", "Whether a backend is ready as /readyz checks it (1) or not (0).", ("check",),
                  {(name,): float(state == "ok") for name, state in readiness_checks().items()})]


def schema_is_current() -> bool:
    """Whether the database has this code's latest migration: code deployed before `flask db upgrade` would fail its
    requests on a database that answers. A revision this code does not know is newer code's, already upgraded."""
    applied = set(MigrationContext.configure(db.session.connection()).get_current_heads())
    heads, known = _migration_revisions()
    return bool(applied) and (applied == heads or not applied <= known)


@functools.cache
def _migration_revisions() -> tuple[set[str], set[str]]:
    """(the heads, every revision) of the migration chain shipped with this code."""
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    return set(script.get_heads()), {revision.revision for revision in script.walk_revisions()}


def _local_storage() -> LocalDiskStorage:
    storage = current_app.extensions["storage"]
    if not isinstance(storage, LocalDiskStorage):
        raise NotFound("文件不存在。")
    return storage


@files_bp.get("/files/<path:key>")
def signed_file(key: str) -> Response:
    """Serves a locally stored object to whoever holds an unexpired signed link to it."""
    storage = _local_storage()
    try:
        check_key(key)
        expires = int(request.args.get("expires", ""))
    except ValueError:
        raise NotFound("文件不存在。") from None
    if not storage.signer.verify(key, expires, request.args.get("signature", "")):
        return error_response(403, "link_expired_or_invalid", "链接无效或已过期。")
    try:
        file = storage.open(key)
    except ObjectNotFound:
        raise NotFound("文件不存在。") from None
    return _streamed(file, mimetypes.guess_type(key)[0] or "application/octet-stream")


# Read and sent a block at a time: a worker holds one block of each file it serves, never the file.
_SERVED_BLOCK = 64 * 1024


class _ServedFile(FileWrapper):
    """werkzeug's wrapper, which can seek (so a range near the end is not read through from the start, as the
    server's own would), closing its file once read to the end: a caller that reads the body and never closes
    the response (a test client) keeps no descriptor open."""

    def __next__(self) -> bytes:
        try:
            return super().__next__()
        except StopIteration:
            self.close()
            raise


def _streamed(file: BinaryIO, mimetype: str) -> Response:
    """An open file as the response, in the byte range asked for if any (206; 416 beyond its end), as S3 serves."""
    stat = os.fstat(file.fileno())
    response = Response(_ServedFile(file, _SERVED_BLOCK), mimetype=mimetype, direct_passthrough=True)
    response.content_length = stat.st_size
    response.last_modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc)
    response.set_etag(f"{stat.st_mtime_ns:x}-{stat.st_size:x}")
    try:
        response.make_conditional(request.environ, accept_ranges=True, complete_length=stat.st_size)
    except RequestedRangeNotSatisfiable:
        file.close()
        refused = error_response(416, "range_not_satisfiable", "请求的范围超出文件大小。", {"size": stat.st_size})
        refused.headers["Content-Range"] = f"bytes */{stat.st_size}"
        return refused
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


# Multipart framing around the one file part of a direct upload.
_MULTIPART_OVERHEAD = 64 * 1024


@files_bp.post("/files/<path:key>")
def signed_upload(key: str) -> Response:
    """Receives a direct upload (the local stand-in for a presigned S3 POST) for an unexpired signed link."""
    storage = _local_storage()
    try:
        size, content_type = storage.upload_terms(key, request.args.to_dict())
    except UploadRefused as exc:
        return error_response(exc.status, exc.code, "上传链接无效或已过期。")
    # Checked while the body streams in: a larger body is refused with 413 before it is read.
    request.max_content_length = size + _MULTIPART_OVERHEAD
    upload = request.files.get(UPLOAD_FILE_FIELD)
    if upload is None:
        return error_response(400, "file_missing", f"缺少文件字段 {UPLOAD_FILE_FIELD}。")
    stream = upload.stream
    received = stream.seek(0, os.SEEK_END)
    if received != size:
        # As S3 does with a presigned POST's content-length-range.
        return error_response(400, "size_mismatch", "上传文件大小与签名不符。",
                              {"expected": size, "received": received})
    stream.seek(0)
    try:
        storage.store_upload(key, stream, content_type)
    except UploadRefused as exc:
        return error_response(exc.status, exc.code, "上传链接无效或已过期。")
    return Response(status=204)


@bp.get("/")
def home() -> Response:
    """Where a newcomer's browser lands: the way to the API's documentation and to the admin. Outside the API's
    blueprints, so the OpenAPI document stays the API's; a client asking for JSON gets the same links as JSON."""
    links = {"api_docs": url_for("api-docs.openapi_swagger_ui"), "openapi": url_for("api-docs.openapi_json"),
             "admin": url_for("admin.dashboard"), "health": url_for("core.healthz")}
    if request.accept_mimetypes.best_match(["text/html", "application/json"], default="text/html") == "text/html":
        response = Response(render_template("home.html", links=links), mimetype="text/html")
    else:
        response = jsonify({"links": links})
    response.vary.add("Accept")
    return response
