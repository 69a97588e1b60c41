"""Reading media: what other packages learn of it, attaching it to what it belongs to, and its signed links."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from core.config import current_settings
from core.db import MAX_DATABASE_ID, db, get_or_not_found, get_row, utcnow
from core.errors import Conflict, NotFound
from core.storage import current_storage
from media.models import Media
from media.settings import MediaSettings


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
        sa.update(Media)
        .where(Media.id.in_(wanted), sa.or_(Media.attached_to.is_(None), Media.attached_to == attached_to))
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
    return urls(media, link_ttl(ttl_seconds), include_original=include_original)


def media_urls_by_id(media_ids: Iterable[int], *, ttl_seconds: int | None = None) -> dict[int, dict[str, str]]:
    """The residents' signed links of many media in one query, by id (absent ids are left out)."""
    wanted = set(media_ids)
    if not wanted:
        return {}
    ttl = link_ttl(ttl_seconds)
    return {media.id: urls(media, ttl) for media in db.session.scalars(sa.select(Media).where(Media.id.in_(wanted)))}


def link_ttl(ttl_seconds: int | None) -> int:
    """The links' lifetime: the caller's, else the configured short one.

    Other packages' callers pass none yet; once they pass the media settings' value, this lookup goes.
    """
    return ttl_seconds or current_settings(MediaSettings).signed_url_ttl_seconds


def urls(media: Media, ttl_seconds: int, *, include_original: bool = False) -> dict[str, str]:
    storage = current_storage()
    keys = {"large": media.large_key, "thumb": media.thumb_key}
    if include_original and media.status != "awaiting_upload":
        keys["original"] = media.original_key
    return {name: storage.signed_url(key, ttl_seconds) for name, key in keys.items() if key}


def describe(media: Media, ttl_seconds: int) -> dict[str, Any]:
    """What the owner's API shows of one media."""
    info = _info(media)
    view = dataclasses.asdict(info)
    view["gps"] = {"lat": info.gps[0], "lng": info.gps[1]} if info.gps else None
    view["size"] = media.size
    view["urls"] = urls(media, ttl_seconds)
    return view
