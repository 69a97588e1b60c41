"""Do the database and the object store agree? (`flask media verify`, after a restore and on a schedule.)

Two passes, each in batches, so that millions of rows and objects are never held in memory:

1. The store's listing, a page at a time. Each batch of objects is matched to the media rows that refer to them (by
   the media id in the key, then by the key itself for what that does not place); an object no row refers to is
   *unreferenced*, an original whose size (and with ``checksums``, SHA-256) differs from its row's is a *mismatch*.
   What the listing showed is remembered as one bit per media id and object (original, large, thumb).
2. The media rows, by id. An object a row says exists but the listing did not show is looked up once more (it may
   have been written since) and the row read afresh (it may have changed or gone since): only then is it *missing*.

Objects are written before the rows that refer to them commit, and a direct upload in flight is referred to by its
row from the start; so an unreferenced object younger than ``media_orphan_retention_hours`` may be a write about to
commit and is only counted, never reported nor deleted. Repairs (``repair=True``) are the safe ones: unreferenced
objects older than that are deleted, and a rendered media whose derivatives are missing while its original is there
is rendered again. No row is ever deleted; a missing original or a mismatch is for a person to look at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, cast

import sqlalchemy as sa

from core.db import commit_early, db, utcnow
from core.storage import ObjectNotFound, ObjectStorage, StoredObject, current_storage
from media.models import Media
from media.services.rendering import queue_processing
from media.services.stored import media_id_in_key
from media.settings import MediaSettings

# A media's objects, in the order its columns name them. A public copy's original is its large rendition.
ROLES = ("original", "large", "thumb")
MISSING, UNREFERENCED = "missing", "unreferenced"
SIZE_MISMATCH, CHECKSUM_MISMATCH = "size_mismatch", "checksum_mismatch"
DELETED, REQUEUED = "deleted", "requeued"
_COLUMNS = (Media.id, Media.status, Media.size, Media.sha256, Media.original_key, Media.large_key, Media.thumb_key)


@dataclasses.dataclass(frozen=True)
class Problem:
    kind: str  # MISSING | UNREFERENCED | SIZE_MISMATCH | CHECKSUM_MISMATCH
    key: str
    media_id: int | None = None
    role: str | None = None  # which of the media's objects (ROLES)
    expected: int | str | None = None  # the row's size or SHA-256
    found: int | str | None = None  # the stored object's
    repair: str | None = None  # what was done: DELETED, REQUEUED

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}


@dataclasses.dataclass
class Verification:
    """What a run checked and found."""

    checksums: bool
    media: int = 0
    objects: int = 0
    bytes: int = 0
    hashed: int = 0
    recent_unreferenced: int = 0  # younger than the retention: possibly a write about to commit
    problems: Counter[str] = dataclasses.field(default_factory=Counter)
    repaired: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def unrepaired(self) -> int:
        return sum(self.problems.values()) - sum(self.repaired.values())

    def as_dict(self) -> dict[str, Any]:
        return {"media": self.media, "objects": self.objects, "bytes": self.bytes, "checksums": self.checksums,
                "hashed": self.hashed, "recent_unreferenced": self.recent_unreferenced,
                "problems": {kind: self.problems[kind] for kind in (MISSING, UNREFERENCED, SIZE_MISMATCH,
                                                                    CHECKSUM_MISMATCH)},
                "repaired": dict(self.repaired), "unrepaired": self.unrepaired}


class _Seen:
    """Which objects of which media the listing showed: three bits per media id (about 4 MB for ten million)."""

    def __init__(self) -> None:
        self._bits = bytearray()

    @staticmethod
    def _place(media_id: int, role: str) -> tuple[int, int]:
        bit = media_id * len(ROLES) + ROLES.index(role)
        return bit >> 3, 1 << (bit & 7)

    def add(self, media_id: int, role: str) -> None:
        index, mask = self._place(media_id, role)
        if index >= len(self._bits):
            self._bits.extend(bytes(index + 1 - len(self._bits) + 4096))
        self._bits[index] |= mask

    def __contains__(self, item: tuple[int, str]) -> bool:
        index, mask = self._place(*item)
        return index < len(self._bits) and bool(self._bits[index] & mask)


class _Digest:
    """A write-only sink that hashes what is written (the object streams through, never held whole)."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


def verify_media(settings: MediaSettings, *, repair: bool = False, checksums: bool = False,
                 report: Callable[[Problem], None] = lambda problem: None, batch_size: int = 1000,
                 now: dt.datetime | None = None) -> Verification:
    """Compare the media rows with the stored objects; each problem goes to ``report`` as it is found. Commits
    each batch's repairs."""
    run = Verification(checksums=checksums)
    seen = _Seen()
    storage = current_storage()
    cutoff = (now or utcnow()).timestamp() - settings.media_orphan_retention_hours * 3600

    def found(problem: Problem) -> None:
        run.problems[problem.kind] += 1
        if problem.repair:
            run.repaired[problem.repair] += 1
        report(problem)

    listing = storage.objects()
    while batch := list(itertools.islice(listing, batch_size)):
        for stored in _check_objects(storage, batch, seen, run, found, checksums=checksums):
            if stored.modified >= cutoff:
                run.recent_unreferenced += 1
                continue
            if repair:
                storage.delete(stored.key)
            found(Problem(UNREFERENCED, stored.key, found=stored.size, repair=DELETED if repair else None))
    last_id = 0
    while rows := db.session.execute(sa.select(*_COLUMNS).where(Media.id > last_id).order_by(Media.id)
                                     .limit(batch_size)).all():
        last_id = rows[-1].id
        db.session.rollback()  # no lock nor snapshot held while the store is asked
        run.media += len(rows)
        for row in rows:
            if row.status != "awaiting_upload":
                unseen = [(role, key) for role, key in _objects_of(row) if (row.id, role) not in seen]
                if unseen:
                    _confirm_missing(storage, row.id, unseen, found, repair=repair)
        commit_early("a batch's repairs are kept, and its locks released, before the next batch")
    return run


def _objects_of(row: Any) -> list[tuple[str, str]]:
    """(role, key) of each object the row says exists, each key once (a public copy's original is its large)."""
    keys: dict[str, str] = {}
    for role, key in zip(ROLES, (row.original_key, row.large_key, row.thumb_key), strict=True):
        if key and key not in keys:
            keys[key] = role
    return [(role, key) for key, role in keys.items()]


def _check_objects(storage: ObjectStorage, batch: list[StoredObject], seen: _Seen, run: Verification,
                   found: Callable[[Problem], None], *, checksums: bool) -> list[StoredObject]:
    """Mark the batch's objects seen for the rows that refer to them, and compare each original with its row; the
    objects no row refers to."""
    rows = _rows_referring_to([stored.key for stored in batch])
    db.session.rollback()
    unreferenced = []
    for stored in batch:
        run.objects += 1
        run.bytes += stored.size
        if stored.key not in rows:
            unreferenced.append(stored)
        for row in rows.get(stored.key, ()):
            for role, key in zip(ROLES, (row.original_key, row.large_key, row.thumb_key), strict=True):
                if key == stored.key:
                    seen.add(row.id, role)
            if row.original_key != stored.key or row.status == "awaiting_upload":
                continue  # derivatives have no recorded size; a direct upload in flight is checked on completion
            if stored.size != row.size:
                found(Problem(SIZE_MISMATCH, stored.key, row.id, "original", row.size, stored.size))
            elif checksums:
                digest = _Digest()
                try:
                    storage.download(stored.key, cast(BinaryIO, digest))
                except ObjectNotFound:
                    continue  # deleted since it was listed: the rows pass finds out whether it is missing
                run.hashed += 1
                if digest.hash.hexdigest() != row.sha256:
                    found(Problem(CHECKSUM_MISMATCH, stored.key, row.id, "original", row.sha256,
                                  digest.hash.hexdigest()))
    return unreferenced


def _rows_referring_to(keys: list[str]) -> dict[str, list[Any]]:
    """The media rows referring to each of ``keys``: found by the id in the key (the primary key), and for keys
    that leaves unplaced, by the keys themselves (a scan of the table, needed only where something is amiss)."""
    ids = {media_id for key in keys if (media_id := media_id_in_key(key)) is not None}
    referring: dict[str, list[Any]] = {}
    if ids:
        _index(referring, db.session.execute(sa.select(*_COLUMNS).where(Media.id.in_(ids))))
    unplaced = [key for key in keys if key not in referring]
    if unplaced:
        _index(referring, db.session.execute(sa.select(*_COLUMNS).where(sa.or_(
            Media.original_key.in_(unplaced), Media.large_key.in_(unplaced), Media.thumb_key.in_(unplaced)))))
    return referring


def _index(referring: dict[str, list[Any]], rows: Iterable[Any]) -> None:
    for row in rows:
        for key in {row.original_key, row.large_key, row.thumb_key} - {None, ""}:
            if row not in referring.setdefault(key, []):
                referring[key].append(row)


def _confirm_missing(storage: ObjectStorage, media_id: int, unseen: list[tuple[str, str]],
                     found: Callable[[Problem], None], *, repair: bool) -> None:
    """Report the objects the listing did not show that are still absent and still referred to by the row (read
    afresh and locked, so that an erasure under way is waited for); with ``repair``, render again a ready media
    whose derivatives went while its original is there."""
    absent = [(role, key) for role, key in unseen if not storage.exists(key)]
    if not absent:
        return
    media = db.session.get(Media, media_id, with_for_update=True, populate_existing=True)
    if media is None:
        return
    current = dict(_objects_of(media))
    missing = [(role, key) for role, key in absent if current.get(role) == key]
    roles = {role for role, _ in missing}
    rerender = (repair and roles and "original" not in roles and media.status == "ready"
                and media.original_key != media.large_key)
    if rerender:
        media.status, media.large_key, media.thumb_key, media.failure_code = "processing", None, None, None
        media.updated_at = utcnow()
        queue_processing(media)
    for role, key in missing:
        found(Problem(MISSING, key, media_id, role, repair=REQUEUED if rerender else None))
