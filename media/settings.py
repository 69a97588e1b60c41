"""Media settings: the limits per kind, fitted to what the mini-program can send, and how long links, unattached
uploads and unreferenced objects last."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from core.config import PRESIGNED_URL_MAX_SECONDS, Config
from core.config_values import integer_setting, settings_repr


@dataclasses.dataclass(frozen=True)
class MediaSettings:
    signed_url_ttl_seconds: int = 300
    media_photo_max_bytes: int = 20 * 1024 * 1024
    media_photo_max_pixels: int = 50_000_000
    media_audio_max_bytes: int = 10 * 1024 * 1024
    media_audio_max_seconds: int = 10 * 60
    media_video_max_bytes: int = 100 * 1024 * 1024
    media_video_max_seconds: int = 5 * 60
    media_upload_ttl_seconds: int = 15 * 60
    media_unattached_ttl_hours: int = 24
    # An object no media row refers to is deleted by `flask media verify --repair` only when older than this: every
    # object is written before the row that refers to it commits, and uploads in flight are referred to already.
    media_orphan_retention_hours: int = 72

    __repr__ = settings_repr

    @property
    def largest_upload_bytes(self) -> int:
        """The largest file of any kind: core sizes the multipart body limit by it."""
        return max(self.media_photo_max_bytes, self.media_audio_max_bytes, self.media_video_max_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MediaSettings:
        return cls(
            signed_url_ttl_seconds=integer_setting(env, cls, "signed_url_ttl_seconds",
                                                   maximum=PRESIGNED_URL_MAX_SECONDS),
            **{name: integer_setting(env, cls, name) for name in _LIMITS},
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        return []


# Each read from the environment variable of its name in capitals.
_LIMITS = tuple(field.name for field in dataclasses.fields(MediaSettings) if field.name.startswith("media_"))

SETTINGS = MediaSettings
