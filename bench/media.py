"""Photo job benchmark: our pipeline against the naive Pillow path, libvips, and the decode floor.

    .venv/bin/python bench/media.py [--rounds 15]

Makes camera-like JPEGs (12 MP 4032×3024 and 48 MP 8000×6000, quality 92, EXIF with GPS,
a maker note and orientation 6, textured like a photo) and measures, interleaved in the same
run, CPU milliseconds (median of the rounds) of:

- ours:  media.processing.render_photo — EXIF, orientation, large + thumb JPEGs, perceptual hash;
- naive: full decode, exif_transpose, LANCZOS resize to 1280 and to 320, save both;
- pyvips: thumbnail to 1280 and to 320 from the JPEG, save both (only when libvips is installed);
- floor: decoding the JPEG at the reduced DCT scale a 1280-px derivative needs (draft + load),
  which no correct pipeline can avoid.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageOps  # noqa: E402
from PIL.TiffImagePlugin import IFDRational  # noqa: E402

from media.processing import FORMATS, LARGE_EDGE, THUMB_EDGE, render_photo  # noqa: E402

JPEG = FORMATS["jpeg"]
MAX_PIXELS = 50_000_000


def camera_jpeg(width: int, height: int, seed: int = 7) -> bytes:
    """Smooth colour fields with fine grain and edges, as a phone photo of a street looks to a JPEG coder."""
    rng = random.Random(seed)
    small = Image.new("RGB", (48, 36))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 36)])
    base = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    detail = Image.effect_noise((width // 8, height // 8), 60).resize((width, height), Image.Resampling.BICUBIC)
    picture = Image.blend(Image.blend(base, grain, 0.28), detail.convert("RGB"), 0.12)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "HUAWEI", "ELS-AN00", 6
    exif[0x8769] = {0x9003: "2026:05:04 09:30:15", 0x9011: "+08:00", 0x927C: bytes(rng.randrange(256) for _ in range(30000))}
    exif[0x8825] = {1: "N", 2: (IFDRational(36, 1), IFDRational(4, 1), IFDRational(123456, 100000)),
                    3: "E", 4: (IFDRational(120, 1), IFDRational(22, 1), IFDRational(57654321, 1000000))}
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=92, exif=exif, subsampling="4:2:0")
    return out.getvalue()


def ours(data: bytes) -> None:
    render_photo(data, JPEG, MAX_PIXELS)


def naive(data: bytes) -> None:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    for edge in (LARGE_EDGE, THUMB_EDGE):
        scale = edge / max(image.size)
        resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        resized.save(io.BytesIO(), "JPEG", quality=82)


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


def measure(candidates: dict[str, Callable[[bytes], None]], data: bytes, rounds: int) -> dict[str, float]:
    """Median CPU milliseconds of each candidate, the candidates interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for function in candidates.values():
        function(data)  # warm-up: imports, codec tables
    for _ in range(rounds):
        for name, function in candidates.items():
            started = time.process_time()
            function(data)
            samples[name].append((time.process_time() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
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


if __name__ == "__main__":
    main()
