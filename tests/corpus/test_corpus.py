"""Real camera and phone files (the shared corpus) through the app as a resident's phone sends them.

Each file is uploaded as multipart to gunicorn over HTTP, then checked against exiftool and Pillow: accepted, or
refused with a 4xx that names the reason; never a 5xx nor left processing; GPS and capture time as exiftool reads
them; displayed the way ``ImageOps.exif_transpose`` turns it, in sRGB as ImageCms converts it; served copies without
any metadata. `make corpus` runs it (CORPUS_DIR, default ../shared/corpus beside the repository).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import time
from pathlib import Path
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import pytest
import requests
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from media import processing, services
from media.settings import MediaSettings
from tests.corpus.conftest import CORPUS_DIR, ExifTool
from tests.corpus.outcomes import OUTCOMES, Outcome

pytestmark = pytest.mark.corpus

NOT_MEDIA = {"readme", "license", "version", "gemfile", ".md", ".rst", ".markdown", ".rb"}
# Groups exiftool may find in a served copy: the file's own structure, its reader and what it computes from them.
STRUCTURE_GROUPS = {"SourceFile", "ExifTool", "System", "File", "JFIF", "Composite", "Adobe"}
FORBIDDEN_STRUCTURE_TAGS = {("File", "Comment"), ("JFIF", "ThumbnailImage"), ("ExifTool", "Warning")}
UPLOADS_PER_RESIDENT = 60  # under the configured hourly upload limit (120)
GPS_TOLERANCE = 1e-6
COMPARED_EDGE = 64
# Mean absolute difference per channel (0–255) at COMPARED_EDGE: the corpus's converted photos differ by under 1,
# the same photos left in Display P3 or Generic RGB by 4 to 15, a wrong orientation by far more.
COLOUR_TOLERANCE = 2.0
CAMERA_TIMEZONE = ZoneInfo("Asia/Shanghai")  # as media.processing reads capture times without an offset
PROCESSING_DEADLINE_S = 120


def corpus_files() -> list[Path]:
    if not CORPUS_DIR.is_dir():
        return []
    return sorted(path for path in CORPUS_DIR.rglob("*") if path.is_file()
                  and path.name.lower() not in NOT_MEDIA and path.suffix.lower() not in NOT_MEDIA)


FILES = corpus_files()
_residents = itertools.count()


def test_the_corpus_is_there():
    assert FILES, f"no corpus at {CORPUS_DIR}: set CORPUS_DIR"


@pytest.fixture(scope="module")
def resident(gunicorn_app):
    """The headers of a signed-in resident, a fresh one every UPLOADS_PER_RESIDENT calls (one call per file)."""
    signed_in: dict[int, dict[str, str]] = {}

    def headers() -> dict[str, str]:
        batch = next(_residents) // UPLOADS_PER_RESIDENT
        if batch not in signed_in:
            signed_in[batch] = gunicorn_app.sign_in(f"oCorpusResident{batch:013d}")
        return signed_in[batch]

    return headers


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(CORPUS_DIR)) for path in FILES])
def test_a_real_file(gunicorn_app, resident, exiftool, tmp_path, path):
    data = path.read_bytes()
    fmt = processing.sniff(data[:processing.SNIFF_BYTES])
    outcome = Outcome(str(path.relative_to(CORPUS_DIR)), fmt.name if fmt else path.suffix.lower().lstrip(".") or "?")
    OUTCOMES.append(outcome)
    headers = resident()
    answer = requests.post(f"{gunicorn_app.url}/api/v1/media", headers=headers,
                           files={"file": (path.name, data, "application/octet-stream")}, timeout=120)
    if answer.status_code >= 500:
        outcome.status = "server_error"
        outcome.defects.append(f"{answer.status_code}: {answer.text[:200]}")
    elif answer.status_code >= 400:
        outcome.status = "refused"
        media_settings = gunicorn_app.app.config["APP_SETTINGS"].area(MediaSettings)
        limit = services.max_bytes(fmt.kind, media_settings) if fmt else None
        check_refusal(outcome, answer, len(data), limit)
    else:
        outcome.status = "accepted"
        check_accepted(outcome, gunicorn_app, headers, answer.json(), exiftool.read(path), data, exiftool, tmp_path)
    assert not outcome.defects, outcome.defects


def check_refusal(outcome: Outcome, answer: requests.Response, size: int, limit: int | None) -> None:
    is_json = answer.headers.get("Content-Type", "").startswith("application/json")
    error = answer.json().get("error", {}) if is_json else {}
    reason = (error.get("details") or {}).get("reason")
    outcome.reason = f"{error.get('code')}" + (f" ({reason})" if reason else "")
    if not error.get("code") or not error.get("message"):
        outcome.defects.append(f"{answer.status_code} without a JSON error naming the reason: {answer.text[:200]}")
    if answer.status_code == 413 and limit is not None and size <= limit:
        outcome.defects.append(f"413 for {size} bytes, under the configured limit of {limit}")


def check_accepted(outcome: Outcome, served, headers: dict[str, str], media: dict, reference: dict, original: bytes,
                   exiftool: ExifTool, tmp_path: Path) -> None:
    media = until_processed(served, headers, media)
    if media["status"] != "ready":
        outcome.defects.append(f"status {media['status']} after upload was accepted")
        return
    if media["kind"] != "photo":
        return
    expected_gps, expected_time = exif_gps(reference), exif_time(reference)
    gps = (media["gps"]["lat"], media["gps"]["lng"]) if media["gps"] else None
    if (gps is None) != (expected_gps is None) or (
            gps and max(abs(a - b) for a, b in zip(gps, expected_gps, strict=True)) > GPS_TOLERANCE):
        outcome.defects.append(f"gps {gps}, exiftool {expected_gps}")
    taken_at = dt.datetime.fromisoformat(media["taken_at"]) if media["taken_at"] else None
    if (taken_at is None) != (expected_time is None) or (
            taken_at and abs((taken_at - expected_time).total_seconds()) > 1):
        outcome.defects.append(f"taken_at {taken_at}, exiftool {expected_time}")
    for name, url in media["urls"].items():
        # Local-disk links are relative without PUBLIC_BASE_URL (never built from a Host header); S3 links are whole.
        served_bytes = requests.get(urljoin(served.url, url), timeout=60).content
        copy = tmp_path / f"{name}.jpg"
        copy.write_bytes(served_bytes)
        outcome.defects += [f"{name}: {problem}" for problem in metadata_left(exiftool.read(copy))]
        if name == "large":
            outcome.defects += [f"large: {problem}" for problem in pixel_mismatches(original, served_bytes)]


def until_processed(served, headers: dict[str, str], media: dict) -> dict:
    deadline = time.monotonic() + PROCESSING_DEADLINE_S
    while media["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        media = requests.get(f"{served.url}/api/v1/media/{media['id']}", headers=headers, timeout=30).json()
    return media


def exif_gps(tags: dict) -> tuple[float, float] | None:
    lat, lng = tags.get("Composite:GPSLatitude"), tags.get("Composite:GPSLongitude")
    if not isinstance(lat, (int, float)) or not isinstance(lng, (int, float)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return float(lat), float(lng)


def exif_time(tags: dict) -> dt.datetime | None:
    text = tags.get("ExifIFD:DateTimeOriginal") or tags.get("IFD0:ModifyDate")
    try:
        local = dt.datetime.strptime(str(text).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = tags.get("ExifIFD:OffsetTimeOriginal")
    try:
        zone = dt.datetime.strptime(str(offset).strip(), "%z").tzinfo if offset else CAMERA_TIMEZONE
    except ValueError:
        zone = CAMERA_TIMEZONE
    try:
        return local.replace(tzinfo=zone).astimezone(dt.timezone.utc)
    except OverflowError:
        return None


def metadata_left(tags: dict) -> list[str]:
    """What exiftool finds in a served copy beyond its structure (EXIF, XMP, IPTC, maker notes, CIFF, JFXX, comments,
    an ICC profile other than sRGB), one line per group with the tags found."""
    found: dict[str, list[str]] = {}
    for key in tags:
        group, _, name = key.partition(":")
        if group == "ICC_Profile" or group.startswith("ICC-"):
            description = str(tags.get("ICC-header:ProfileDescription") or tags.get("ICC_Profile:ProfileDescription"))
            if "srgb" not in description.lower().replace(" ", ""):
                found.setdefault(f"ICC profile {description!r}", []).append(name)
        elif group not in STRUCTURE_GROUPS or (group, name) in FORBIDDEN_STRUCTURE_TAGS:
            found.setdefault(group, []).append(name)
    return [f"{group}: {', '.join(sorted(names)[:8])}{' …' if len(names) > 8 else ''}"
            for group, names in sorted(found.items())]


def displayed(original: bytes) -> Image.Image:
    """The original as a viewer shows it: turned by its EXIF orientation, its colours converted to sRGB."""
    image = Image.open(io.BytesIO(original))
    image.load()
    try:
        upright = ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, OSError):  # EXIF that no one can read: shown as stored
        upright = image
    icc = image.info.get("icc_profile")
    if icc and upright.mode in {"RGB", "RGBA", "CMYK"}:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" not in ImageCms.getProfileDescription(profile).lower().replace(" ", ""):
            return ImageCms.profileToProfile(upright, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return upright.convert("RGB")


def pixel_mismatches(original: bytes, large: bytes) -> list[str]:
    """The served copy against the displayed original, both reduced to COMPARED_EDGE: at that size JPEG's loss and
    the resampling are gone, while a wrong turn, a mirror or colours left unconverted are not."""
    reference, served = displayed(original), Image.open(io.BytesIO(large)).convert("RGB")
    scale = min(1.0, processing.LARGE_EDGE / max(reference.size))
    size = (max(1, round(reference.width * scale)), max(1, round(reference.height * scale)))
    if served.size != size:
        return [f"size {served.size}, displayed original reduced to {size}"]
    compared = (max(1, round(size[0] * COMPARED_EDGE / max(size))), max(1, round(size[1] * COMPARED_EDGE / max(size))))
    difference = ImageStat.Stat(ImageChops.difference(reference.resize(compared, Image.Resampling.BOX),
                                                      served.resize(compared, Image.Resampling.BOX))).mean
    if max(difference) > COLOUR_TOLERANCE:
        return [f"pixels differ from the displayed original (exif_transpose, ImageCms to sRGB) by "
                f"{[round(d, 1) for d in difference]} per channel"]
    return []
