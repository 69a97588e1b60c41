"""Photo job benchmark: our pipeline against the naive Pillow path, libvips, and the decode floor.

    .venv/bin/python bench/media.py [--rounds 15] [--skip-upload]

Makes camera-like JPEGs (12 MP 4032×3024 and 48 MP 8000×6000, quality 92, EXIF with GPS,
a maker note and orientation 6, textured like a photo) and a 12 MP iPhone-like HEIC (the same picture,
with EXIF and a Display P3 profile), and measures, interleaved in the same run:

CPU milliseconds (median of the rounds) of
- ours:  media.processing.render_photo — EXIF, orientation, sRGB, large + thumb JPEGs, perceptual hash;
- naive: full decode, exif_transpose, LANCZOS resize to 1280 and to 320, save both;
- pyvips: thumbnail to 1280 and to 320 from the JPEG, save both (only when libvips is installed);
- floor: decoding the JPEG at the reduced DCT scale a 1280-px derivative needs (draft + load),
  which no correct pipeline can avoid; for the HEIC (no reduced decode exists), pillow-heif's own decode
  of the file plus the JPEG encoding of the two copies.

and wall-clock milliseconds of
- upload: the 12 MP JPEG sent as multipart (as wx.uploadFile sends it) to the app under gunicorn (SQLite, local
  media, jobs inline), until the media is ready: receiving, hashing, checking, storing, and the photo job;
- naive:  the naive Pillow job above on the same file, in the same process as this script.
Targets: upload / naive ≤ 0.3; ours / floor ≤ 1.3 for the HEIC.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pillow_heif  # noqa: E402
import requests  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
from PIL.TiffImagePlugin import IFDRational  # noqa: E402

from media.processing import FORMATS, LARGE_EDGE, THUMB_EDGE, encode_jpeg, render_photo, shrunk  # noqa: E402
from tests.media.samples import DISPLAY_P3  # noqa: E402

JPEG, HEIF = FORMATS["jpeg"], FORMATS["heif"]
MAX_PIXELS = 50_000_000


def camera_picture(width: int, height: int, seed: int = 7) -> tuple[Image.Image, Image.Exif]:
    """Smooth colour fields with fine grain and edges, as a phone photo of a street looks to a coder, and a phone's
    EXIF (GPS, a maker note, orientation 6)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (48, 36))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 36)])
    base = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    detail = Image.effect_noise((width // 8, height // 8), 60).resize((width, height), Image.Resampling.BICUBIC)
    picture = Image.blend(Image.blend(base, grain, 0.28), detail.convert("RGB"), 0.12)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "HUAWEI", "ELS-AN00", 6
    exif[0x8769] = {0x9003: "2026:05:04 09:30:15", 0x9011: "+08:00",
                    0x927C: bytes(rng.randrange(256) for _ in range(30000))}
    exif[0x8825] = {1: "N", 2: (IFDRational(36, 1), IFDRational(4, 1), IFDRational(123456, 100000)),
                    3: "E", 4: (IFDRational(120, 1), IFDRational(22, 1), IFDRational(57654321, 1000000))}
    return picture, exif


def camera_jpeg(width: int, height: int) -> bytes:
    picture, exif = camera_picture(width, height)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=92, exif=exif, subsampling="4:2:0")
    return out.getvalue()


def iphone_heic(width: int, height: int) -> bytes:
    """The picture as an iPhone stores it: HEIC, upright pixels (orientation 1), a Display P3 profile."""
    picture, exif = camera_picture(width, height)
    exif[0x0112] = 1
    out = io.BytesIO()
    picture.save(out, "HEIF", quality=80, exif=exif, icc_profile=DISPLAY_P3)
    return out.getvalue()


def ours(data: bytes) -> None:
    render_photo(data, JPEG, MAX_PIXELS)


def naive(data: bytes) -> None:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    for edge in (LARGE_EDGE, THUMB_EDGE):
        scale = edge / max(image.size)
        resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        resized.save(io.BytesIO(), "JPEG", quality=82)


def heif_floor_of(data: bytes) -> Callable[[bytes], None]:
    """pillow-heif's own decode of the file, plus the JPEG encoding of the two copies (made beforehand)."""
    with Image.open(io.BytesIO(data)) as image:
        large = image.resize((round(image.width * LARGE_EDGE / max(image.size)),
                              round(image.height * LARGE_EDGE / max(image.size))), Image.Resampling.BOX)
    thumb = shrunk(large, THUMB_EDGE)

    def heif_floor(data: bytes) -> None:
        pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).data  # noqa: B018  (decodes)
        encode_jpeg(large.copy())
        encode_jpeg(thumb.copy())

    return heif_floor


def ours_heif(data: bytes) -> None:
    render_photo(data, HEIF, MAX_PIXELS)


def floor(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    scale = LARGE_EDGE / max(image.size)
    image.draft("RGB", (round(image.width * scale), round(image.height * scale)))
    image.load()


def vips_thumbnailer() -> Callable[[bytes], None] | None:
    try:
        import pyvips
    except (ImportError, OSError):
        return None

    def thumbnail(data: bytes) -> None:
        for edge in (LARGE_EDGE, THUMB_EDGE):
            pyvips.Image.thumbnail_buffer(data, edge).jpegsave_buffer(Q=82, strip=True)

    return thumbnail


def measure(candidates: dict[str, Callable[[bytes], None]], data: bytes, rounds: int,
            clock: Callable[[], float] = time.process_time) -> dict[str, float]:
    """Median milliseconds (CPU by default) of each candidate, the candidates interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for function in candidates.values():
        function(data)  # warm-up: imports, codec tables
    for _ in range(rounds):
        for name, function in candidates.items():
            started = clock()
            function(data)
            samples[name].append((clock() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


@contextlib.contextmanager
def served_app() -> Iterator[str]:
    """The app under gunicorn as `make run` configures it (SQLite, media on disk, jobs inline), on a fresh database."""
    from flask_migrate import upgrade

    from core.app import create_app
    from core.config import Config
    from tests.common.stack import Gunicorn

    with tempfile.TemporaryDirectory(prefix="bench-media-") as workdir:
        env = {"SECRET_KEY": "bench-media-secret-key-that-is-long-enough-0123456789",
               "DATABASE_URL": f"sqlite:///{workdir}/bench.db", "MEDIA_ROOT": f"{workdir}/media", "DEV_LOGIN": "1",
               "LOG_LEVEL": "WARNING", "REDIS_URL": "", "RATE_LIMIT_UPLOAD": "0/3600"}
        app = create_app(Config.from_env(env))
        with app.app_context():
            upgrade()
        server = Gunicorn(env, workers=1, timeout=120)
        try:
            yield server.url
        finally:
            server.stop()


def uploader(url: str, data: bytes) -> Callable[[bytes], None]:
    """Upload as a resident until the media is ready. Each call sends other bytes (a comment segment with a count):
    the same bytes again would be the same media, returned without any work."""
    token = requests.post(f"{url}/api/v1/auth/dev", json={"openid": "oBenchMediaUploader00000001"}, timeout=30)
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    session = requests.Session()
    sent = iter(range(1_000_000))

    def upload(_: bytes) -> None:
        note = f"round {next(sent)}".encode()
        body = data[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + data[2:]
        answer = session.post(f"{url}/api/v1/media", headers=headers, timeout=120,
                              files={"file": ("IMG_0001.jpg", body, "image/jpeg")})
        if answer.status_code != 201:
            raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:300]}")
        media = answer.json()
        while media["status"] == "processing":
            media = session.get(f"{url}/api/v1/media/{media['id']}", headers=headers, timeout=30).json()
        if media["status"] != "ready":
            raise RuntimeError(f"upload ended {media['status']}")

    return upload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-upload", action="store_true", help="leave out the end-to-end upload through gunicorn")
    args = parser.parse_args()
    candidates: dict[str, Callable[[bytes], None]] = {"ours": ours, "naive": naive, "floor": floor}
    vips = vips_thumbnailer()
    if vips is not None:
        candidates["pyvips"] = vips
    else:
        print("pyvips / libvips not installed: no libvips reference (Debian: apt-get install libvips42)")
    for label, (width, height) in (("12 MP", (4032, 3024)), ("48 MP", (8000, 6000))):
        data = camera_jpeg(width, height)
        result = measure(candidates, data, args.rounds)
        print(f"\n{label} JPEG {width}x{height}, {len(data) / 1e6:.1f} MB, CPU ms (median of {args.rounds}):")
        for name, ms in result.items():
            print(f"  {name:7s} {ms:8.1f}")
        print(f"  naive / ours   = {result['naive'] / result['ours']:.2f}x   (target >= 3)")
        if "pyvips" in result:
            print(f"  pyvips / ours  = {result['pyvips'] / result['ours']:.2f}x   (target > 1)")
        print(f"  ours / floor   = {result['ours'] / result['floor']:.2f}x   (target <= 1.5)")

    heic = iphone_heic(4032, 3024)
    heif_candidates = {"ours": ours_heif, "floor": heif_floor_of(heic)}
    print(f"\n12 MP HEIC 4032x3024 (Display P3), {len(heic) / 1e6:.1f} MB, pillow-heif decoding threads "
          f"{pillow_heif.options.DECODE_THREADS}; floor = pillow-heif's decode + JPEG encoding of the copies:")
    for clock_name, clock in (("CPU", time.process_time), ("wall", time.perf_counter)):
        result = measure(heif_candidates, heic, args.rounds, clock)
        print(f"  {clock_name:4s} ms (median of {args.rounds}):"
              f" ours {result['ours']:7.1f}   floor {result['floor']:7.1f}"
              f"   ours / floor = {result['ours'] / result['floor']:.2f}x   (target <= 1.3)")

    if args.skip_upload:
        return
    data = camera_jpeg(4032, 3024)
    with served_app() as url:
        result = measure({"upload": uploader(url, data), "naive": naive}, data, args.rounds, time.perf_counter)
    print(f"\n12 MP JPEG uploaded as multipart through gunicorn until ready, wall ms (median of {args.rounds}):")
    print(f"  upload {result['upload']:8.1f}   naive Pillow job {result['naive']:8.1f}   "
          f"upload / naive = {result['upload'] / result['naive']:.2f}x   (target <= 0.3)")


if __name__ == "__main__":
    main()
