"""Absolute links to this app (local-disk media, direct uploads, Open311 discovery, certificates).

Built from PUBLIC_BASE_URL only, never from the request: its Host header is the client's to write, and a forged one
would put the client's domain into links that others follow and caches keep. Where PUBLIC_BASE_URL is unset, links
stay relative to wherever the client reached us.
"""

from __future__ import annotations

from core.config import Config, current_config


def public_origin(settings: Config | None = None) -> str:
    """PUBLIC_BASE_URL without its trailing slash, or "" when unset (the app's settings unless others are given)."""
    return ((settings or current_config()).public_base_url or "").rstrip("/")


def public_url(url: str, settings: Config | None = None) -> str:
    """An app path ("/files/…") on the public origin; anything else (an object store's link) as it is."""
    return public_origin(settings) + url if url.startswith("/") else url
