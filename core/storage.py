"""Private object storage: local disk (embedded default) or any S3-compatible service.

Nothing stored is public. Readers get short-lived signed URLs: presigned S3 GETs, or
for the local disk an HMAC-signed link served by this app. Writers that should not pass
through the app (large videos) get a signed direct upload: a presigned S3 POST, or for
the local disk an HMAC-signed upload link served by this app. Either way the client
sends one multipart/form-data POST: the returned ``fields`` plus the body in ``file``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlencode

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,511}$")
# A file being written by LocalDiskStorage.put, beside the object it becomes.
_PARTIAL_PREFIX = ".upload-"
# Where the local disk records ended direct uploads (no key begins with a dot).
_ENDED_UPLOADS = ".ended-uploads"
UPLOAD_FILE_FIELD = "file"
_COPY_CHUNK = 1024 * 1024


class StorageError(RuntimeError):
    pass


class ObjectNotFound(StorageError):
    pass


class UploadRefused(StorageError):
    """A signed direct upload that must not be stored; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def check_key(key: str) -> str:
    if not _KEY_PATTERN.match(key) or ".." in key.split("/") or "//" in key:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One object as a listing shows it: its key, its size in bytes, and when it was last written (POSIX time)."""

    key: str
    size: int
    modified: float


@dataclasses.dataclass(frozen=True)
class SignedUpload:
    """POST ``fields`` and the body (field ``file``) as multipart/form-data to ``url`` before ``expires_at``."""

    url: str
    fields: dict[str, str]
    expires_at: int


Body = bytes | BinaryIO


class ObjectStorage(Protocol):
    def put(self, key: str, body: Body, content_type: str) -> None:
        """Store bytes, or stream a binary file object from its current position."""

    def get(self, key: str) -> bytes: ...

    def download(self, key: str, out: BinaryIO) -> None:
        """Stream the object into ``out`` without holding it in memory."""

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def copy(self, source_key: str, target_key: str) -> None:
        """Copy an object within the store (server-side on S3: the bytes never pass through the app)."""

    def signed_url(self, key: str, expires_in: int) -> str: ...

    def signed_upload(self, key: str, *, content_type: str, size: int, expires_in: int) -> SignedUpload:
        """A direct upload of exactly ``size`` bytes of ``content_type`` to ``key``."""

    def end_upload(self, key: str) -> None:
        """Delete ``key``, a direct upload's object, and take no more uploads to it. The local disk refuses its signed
        links from now on; S3 cannot revoke a presigned POST, so what one stores later must be deleted by a sweep."""

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """The objects stored under ``prefix`` (``"uploads/"``; empty: all of them), streamed page by page: a listing
        of millions is never held in memory. The store's own housekeeping (files being written, records of ended
        uploads, folders whose names begin with a dot) is not listed."""

    def remove_abandoned(self, before: float) -> int:
        """Remove what writes interrupted before the ``before`` timestamp left (a killed worker's temporary files on
        disk, unfinished multipart uploads on S3), and the local disk's record of uploads ended before it (every
        link to them has expired by then: the caller's business). How many things were removed."""

    def check(self) -> None:
        """Raise StorageError when the store cannot be reached."""


class UrlSigner:
    """Signs (key, expiry, context…) tuples for links to locally stored objects."""

    def __init__(self, secret_key: str) -> None:
        self._secret = hashlib.sha256(b"local-media-url:" + secret_key.encode()).digest()

    def signature(self, key: str, expires: int, *context: str) -> str:
        message = "\n".join((key, str(expires), *context))
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, signature: str, *context: str, now: float | None = None) -> bool:
        if expires < (now if now is not None else time.time()):
            return False
        # Bytes: compare_digest refuses str with non-ASCII characters (a hostile link would be a 500).
        return hmac.compare_digest(self.signature(key, expires, *context).encode(), signature.encode(errors="replace"))


def _as_stream(body: Body) -> BinaryIO:
    return io.BytesIO(body) if isinstance(body, bytes) else body


class LocalDiskStorage:
    def __init__(self, root: Path, signer: UrlSigner, url_prefix: str = "/files/") -> None:
        self.root = root
        self.signer = signer
        self.url_prefix = url_prefix

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, body: Body, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=_PARTIAL_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(_as_stream(body), out, _COPY_CHUNK)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def open(self, key: str) -> BinaryIO:
        """The object opened for reading, to be streamed: it stays readable to the end if deleted meanwhile."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def download(self, key: str, out: BinaryIO) -> None:
        try:
            with self._path(key).open("rb") as source:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def copy(self, source_key: str, target_key: str) -> None:
        try:
            with self._path(source_key).open("rb") as source:
                self.put(target_key, source, "application/octet-stream")
        except FileNotFoundError as exc:
            raise ObjectNotFound(source_key) from exc

    def signed_url(self, key: str, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self.signer.signature(check_key(key), expires)})
        return f"{self.url_prefix}{quote(key)}?{query}"

    def signed_upload(self, key: str, *, content_type: str, size: int, expires_in: int) -> SignedUpload:
        # The terms travel in the query string, so the app refuses a bad link before reading any body.
        expires = int(time.time()) + expires_in
        signature = self.signer.signature(check_key(key), expires, "upload", str(size), content_type)
        query = urlencode({"expires": expires, "size": size, "content_type": content_type, "signature": signature})
        return SignedUpload(url=f"{self.url_prefix}{quote(key)}?{query}", fields={}, expires_at=expires)

    def upload_terms(self, key: str, query: dict[str, str]) -> tuple[int, str]:
        """The (size, content type) that a signed upload link allows, or UploadRefused."""
        try:
            check_key(key)
            expires, size = int(query.get("expires", "")), int(query.get("size", ""))
        except ValueError:
            raise UploadRefused(404, "not_found", "upload link is malformed") from None
        content_type = query.get("content_type", "")
        if not self.signer.verify(key, expires, query.get("signature", ""), "upload", str(size), content_type):
            raise UploadRefused(403, "link_expired_or_invalid", "upload link is invalid or expired")
        if self._ended_marker(key).exists():
            raise UploadRefused(403, "link_expired_or_invalid", "upload link was used")
        return size, content_type

    def store_upload(self, key: str, body: BinaryIO, content_type: str) -> None:
        """Store a direct upload's body, unless its upload ended meanwhile (UploadRefused)."""
        self.put(key, body, content_type)
        # Checked again once stored: end_upload marks, then deletes, so an end while the body streamed in has
        # either deleted this object or left its mark to be seen here.
        if self._ended_marker(key).exists():
            self.delete(key)
            raise UploadRefused(403, "link_expired_or_invalid", "upload link was used")

    def _ended_marker(self, key: str) -> Path:
        return self.root / _ENDED_UPLOADS / hashlib.sha256(check_key(key).encode()).hexdigest()

    def end_upload(self, key: str) -> None:
        # An empty directory per ended key: its time says when, for remove_abandoned. Marked before the object is
        # deleted, so that a body stored meanwhile is either deleted here or refused by store_upload.
        self._ended_marker(key).mkdir(parents=True, exist_ok=True)
        self.delete(key)

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        top = self.root / check_key(prefix.rstrip("/")) if prefix else self.root
        for folder, folders, files in os.walk(top):
            # In place, so that the walk does not enter them: .ended-uploads, the app's .incoming, and the like.
            folders[:] = [name for name in folders if not name.startswith(".")]
            for name in files:
                if name.startswith(_PARTIAL_PREFIX):
                    continue
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # deleted since the folder was read
                yield StoredObject(path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime)

    def remove_abandoned(self, before: float) -> int:
        removed = 0
        for path in self.root.rglob(_PARTIAL_PREFIX + "*"):
            removed += _remove_if_older(path, before, path.unlink)
        ended = self.root / _ENDED_UPLOADS
        for marker in ended.iterdir() if ended.is_dir() else ():
            removed += _remove_if_older(marker, before, marker.rmdir)
        return removed

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"media directory {self.root} is not writable")


def _remove_if_older(path: Path, before: float, remove: Callable[[], None]) -> int:
    """1 if ``path`` was last changed before ``before`` and ``remove`` removed it, else 0 (gone meanwhile: 0)."""
    try:
        if path.stat().st_mtime >= before:
            return 0
        remove()
    except FileNotFoundError:
        return 0
    return 1


_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def connect(cls, *, endpoint_url: str | None, bucket: str, region: str,
                access_key_id: str | None, secret_access_key: str | None) -> S3Storage:
        import boto3
        from botocore.config import Config as BotoConfig

        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # Virtual-host addressing breaks on MinIO and custom endpoints; path style works everywhere.
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                              connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
        )
        return cls(client, bucket)

    def _call(self, method: str, key: str, **kwargs: Any) -> Any:
        """One S3 call on ``key``; a missing object is ObjectNotFound, any other failure StorageError."""
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, Key=check_key(key), **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise ObjectNotFound(key) from exc
            raise StorageError(str(exc)) from exc

    def put(self, key: str, body: Body, content_type: str) -> None:
        if isinstance(body, bytes):
            self._call("put_object", key, Body=body, ContentType=content_type)
        else:
            # Multipart for large bodies, two parts in memory at a time: s3transfer's default queues ten 8 MB parts
            # read from the stream, and a 100 MB video then cost a gunicorn worker 110 MB instead of 30.
            from boto3.s3.transfer import TransferConfig

            config = TransferConfig(max_concurrency=2)
            config.max_in_memory_upload_chunks = 2
            self.client.upload_fileobj(body, self.bucket, check_key(key), ExtraArgs={"ContentType": content_type},
                                       Config=config)

    def get(self, key: str) -> bytes:
        return self._call("get_object", key)["Body"].read()

    def download(self, key: str, out: BinaryIO) -> None:
        self._call("download_fileobj", key, Fileobj=out)

    def size(self, key: str) -> int:
        return int(self._call("head_object", key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call("delete_object", key)

    def copy(self, source_key: str, target_key: str) -> None:
        self._call("copy_object", target_key, CopySource={"Bucket": self.bucket, "Key": check_key(source_key)},
                   MetadataDirective="COPY")

    def signed_url(self, key: str, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)}, ExpiresIn=expires_in)

    def signed_upload(self, key: str, *, content_type: str, size: int, expires_in: int) -> SignedUpload:
        expires = int(time.time()) + expires_in
        post = self.client.generate_presigned_post(
            Bucket=self.bucket, Key=check_key(key), Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=expires_in)
        return SignedUpload(url=post["url"], fields=dict(post["fields"]), expires_at=expires)

    def end_upload(self, key: str) -> None:
        self.delete(key)

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], int(item["Size"]), item["LastModified"].timestamp())

    def remove_abandoned(self, before: float) -> int:
        from botocore.exceptions import ClientError

        removed = 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() >= before:
                    continue
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        raise StorageError(str(exc)) from exc
                    continue  # completed or aborted meanwhile
                removed += 1
        return removed

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"bucket {self.bucket} unreachable: {exc}") from exc


def current_storage() -> ObjectStorage:
    """The running app's storage backend (for services and jobs, which take no Flask objects)."""
    from flask import current_app

    return current_app.extensions["storage"]
