"""The media package's service contract, kept in memory, for signboard tests until media lands on main.

Mirrors ``media.services``: get_owned_media, attach_media, media_urls, media_info.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import itertools

from PIL import Image


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    id: int
    owner_resident_id: int
    kind: str
    status: str = "ready"
    sha256: str = "0" * 64
    content_type: str = "image/jpeg"
    gps: tuple[float, float] | None = None
    taken_at: object = None
    width: int | None = 640
    height: int | None = 480
    duration_s: float | None = None


def _photo_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "#8899AA").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class FakeMedia:
    def __init__(self) -> None:
        self.items: dict[int, MediaInfo] = {}
        self.attached: list[tuple[tuple[int, ...], str]] = []
        self._ids = itertools.count(1000)
        self._url = _photo_data_url()

    def add(self, resident_id: int, kind: str = "photo") -> int:
        media_id = next(self._ids)
        self.items[media_id] = MediaInfo(id=media_id, owner_resident_id=resident_id, kind=kind)
        return media_id

    def get_owned_media(self, resident_id: int, media_ids: list[int]) -> list[MediaInfo]:
        return [self.items[i] for i in media_ids if i in self.items and self.items[i].owner_resident_id == resident_id]

    def attach_media(self, media_ids: list[int], *, attached_to: str) -> None:
        self.attached.append((tuple(media_ids), attached_to))

    def media_urls(self, media_id: int, *, include_original: bool = False) -> dict[str, str]:
        urls = {"large": self._url, "thumb": self._url}
        if include_original:
            urls["original"] = self._url
        return urls

    def media_info(self, media_id: int) -> MediaInfo:
        return self.items[media_id]
