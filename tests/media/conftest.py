"""Helpers for the media tests: a signed-in resident, uploads, jobs run the way the app runs them."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from PIL import Image

from core.storage import LocalDiskStorage


@pytest.fixture
def sign_in(client) -> Callable[[str], dict[str, str]]:
    def sign_in(openid: str) -> dict[str, str]:
        token = client.post("/api/v1/auth/dev", json={"openid": openid}).json["token"]
        return {"Authorization": f"Bearer {token}"}

    return sign_in


@pytest.fixture
def resident(sign_in) -> dict[str, str]:
    return sign_in("oMediaResident00000000000001")


@pytest.fixture
def upload(client, resident) -> Callable[..., object]:
    def upload(data: bytes, *, headers: dict[str, str] | None = None, filename: str = "photo.jpg",
               content_type: str = "image/jpeg"):
        # The client's file name and Content-Type are deliberately trusted by nothing.
        return client.post("/api/v1/media", headers=headers or resident, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), filename, content_type)})

    return upload


@pytest.fixture
def fetch(client) -> Callable[[str], tuple[int, bytes]]:
    def fetch(url: str) -> tuple[int, bytes]:
        if url.startswith("http://localhost/"):
            response = client.get(url)
            return response.status_code, response.get_data()
        response = requests.get(url, timeout=10)
        return response.status_code, response.content

    return fetch


@pytest.fixture
def stored_keys(app: Flask) -> Callable[[], set[str]]:
    def keys() -> set[str]:
        storage = app.extensions["storage"]
        if isinstance(storage, LocalDiskStorage):
            return {str(p.relative_to(storage.root)) for p in Path(storage.root).rglob("*") if p.is_file()}
        pages = storage.client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    return keys


@pytest.fixture
def settings(app: Flask, monkeypatch) -> Callable[..., None]:
    """Change media settings for one test."""
    def change(**overrides: object) -> None:
        monkeypatch.setitem(app.config, "APP_SETTINGS", app.config["APP_SETTINGS"].replace(**overrides))

    return change


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def media_file(tmp_path) -> Iterator[Callable[..., bytes]]:
    from tests.media import samples

    def make(name: str) -> bytes:
        path = tmp_path / name
        if name.endswith(".m4a"):
            return samples.encoded(path, "ipod", audio_codec="aac")
        if name.endswith(".aac"):
            return samples.encoded(path, "adts", audio_codec="aac")
        if name.endswith(".mp3"):
            return samples.encoded(path, "mp3", audio_codec="libmp3lame")
        if name.endswith(".wav"):
            return samples.wav()
        muxer = "mov" if name.endswith(".mov") else "mp4"
        return samples.encoded(path, muxer, audio_codec="aac", video_codec="libx264",
                               metadata={"location": "+36.0671+120.3826/", "make": "Apple", "model": "iPhone 15"})

    yield make


@pytest.fixture
def send_direct(client) -> Callable[[dict, bytes], int]:
    """POST a body to a signed direct upload, as wx.uploadFile would: the fields, then the file."""
    def send(upload: dict, body: bytes) -> int:
        if upload["url"].startswith("http://localhost/"):
            data = {**upload["fields"], upload["file_field"]: (io.BytesIO(body), "video.mp4")}
            return client.post(upload["url"], data=data, content_type="multipart/form-data").status_code
        return requests.post(upload["url"], data=upload["fields"], files={upload["file_field"]: ("video.mp4", body)},
                             timeout=10).status_code

    return send
