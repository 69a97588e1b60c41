"""Real media bytes for tests: JPEG photos (optionally with EXIF GPS and capture time)."""

from __future__ import annotations

import datetime as dt
import io
import random

from PIL import Image, ImageDraw

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
DATETIME_ORIGINAL = 36867


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
    exif = Image.Exif()
    if gps is not None:
        lat, lng = gps
        exif.get_ifd(GPS_IFD).update({1: "N" if lat >= 0 else "S", 2: _dms(abs(lat)),
                                      3: "E" if lng >= 0 else "W", 4: _dms(abs(lng))})
    if taken_at is not None:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def reencoded(data: bytes, quality: int = 70) -> bytes:
    """The same picture saved again: other bytes, (nearly) the same perceptual hash."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", quality=quality)
    return out.getvalue()
