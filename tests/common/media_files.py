"""Real media bytes for tests: JPEG photos (optionally with EXIF GPS and capture time), small or phone-sized."""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
from pathlib import Path

from PIL import Image, ImageDraw

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
DATETIME_ORIGINAL = 36867


def _camera_exif(gps: tuple[float, float] | None, taken_at: dt.datetime | None) -> bytes:
    exif = Image.Exif()
    if gps is not None:
        lat, lng = gps
        exif.get_ifd(GPS_IFD).update({1: "N" if lat >= 0 else "S", 2: _dms(abs(lat)),
                                      3: "E" if lng >= 0 else "W", 4: _dms(abs(lng))})
    if taken_at is not None:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    return exif.tobytes()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    return float(degrees), float(minutes), round((minutes_float - minutes) * 60, 4)


def photo_bytes(seed: int = 0, *, gps: tuple[float, float] | None = None, taken_at: dt.datetime | None = None,
                size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo-like JPEG whose picture (and so its perceptual hash) depends on ``seed``."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle((x0, y0, x0 + rng.randrange(40, 300), y0 + rng.randrange(40, 200)),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=_camera_exif(gps, taken_at))
    return out.getvalue()


def phone_photo_bytes(seed: int = 0, *, megapixels: float = 12, noise: float = 0.2, quality: int = 92,
                      gps: tuple[float, float] | None = None, taken_at: dt.datetime | None = None) -> bytes:
    """A JPEG the size a phone camera makes (4:3, 12 megapixels is 4000x3000): a scene under sensor noise.

    ``noise`` (0 to 1) is how much of each pixel is random: 0.2 gives several MB at 12 megapixels, 1.0 at 16
    megapixels and quality 95 about 19 MB. The noise makes the entropy-coded bytes as varied as a real photo's,
    CR (13) and LF (10) all through them, which is what multipart parsers trip over; small drawn test
    pictures compress to a few runs of bytes and never show it. Seeded: the same arguments give the same bytes.
    """
    rng = random.Random(seed)
    height = round((megapixels * 1_000_000 * 3 / 4) ** 0.5)
    width = round(height * 4 / 3)
    scene = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(scene)
    for _ in range(40):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(width // 40, width // 3), y0 + rng.randrange(height // 30, height // 3)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    Image.blend(scene, grain, noise).save(out, "JPEG", quality=quality, exif=_camera_exif(gps, taken_at))
    return out.getvalue()


def reencoded(data: bytes, quality: int = 70) -> bytes:
    """The same picture saved again: other bytes, (nearly) the same perceptual hash."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def phone_video_file(path: Path, total_bytes: int, seed: int = 0) -> Path:
    """A valid MP4 of exactly ``total_bytes`` at ``path``: two seconds of H.264 and AAC, then a top-level ``free``
    box (which ISO readers skip) of seeded random bytes. It streams, stores and probes as a phone video that
    size does, without encoding minutes of footage; written a MiB at a time, never whole in memory."""
    from tests.media import samples

    video = samples.encoded(path, "mp4", audio_codec="aac", video_codec="libx264")
    padding = total_bytes - len(video) - 8
    if padding < 0:
        raise ValueError(f"a video takes {len(video) + 8} bytes at least")
    rng = random.Random(seed)
    with path.open("ab") as out:
        out.write(struct.pack(">I4s", padding + 8, b"free"))
        for start in range(0, padding, 1 << 20):
            out.write(rng.randbytes(min(1 << 20, padding - start)))
    return path
