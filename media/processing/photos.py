"""Photos: opening them within a pixel budget, their metadata, the served renditions and a perceptual hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import struct
import warnings
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageCms
from pillow_heif import register_heif_opener

from media.processing.formats import Format, MediaRejected, corrupt, jpeg_segments

register_heif_opener()

LARGE_EDGE = 1280
THUMB_EDGE = 320
JPEG_QUALITY = 82
# Capture times without a UTC offset are local time where the photos are taken.
CAMERA_TIMEZONE = ZoneInfo("Asia/Shanghai")


@dataclasses.dataclass(frozen=True)
class PhotoMeta:
    width: int  # as displayed, after the EXIF orientation
    height: int
    orientation: int
    gps: tuple[float, float] | None
    taken_at: dt.datetime | None


def open_photo(data: Any, fmt: Format, max_pixels: int) -> Image.Image:
    """Open (headers only) a photo of the sniffed format, refusing more pixels than allowed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # EXIF skipped while opening (see _exif)
            image = Image.open(data, formats=[fmt.pillow_format] if fmt.pillow_format else None)
    except Image.DecompressionBombError:
        raise MediaRejected(422, "too_many_pixels", "图片像素过多（疑似解压炸弹）。",
                            {"max_pixels": max_pixels}) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise corrupt(type(exc).__name__) from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        image.close()
        raise MediaRejected(422, "too_many_pixels", "图片像素过多（疑似解压炸弹）。",
                            {"pixels": pixels, "max_pixels": max_pixels})
    return image


# What Pillow raises on EXIF it cannot follow (a TIFF header with a wrong magic, an offset pointing before the
# block or past its end, a count larger than the data): the metadata is unreadable, the pixels may be fine.
_UNREADABLE_METADATA = (SyntaxError, ValueError, TypeError, KeyError, IndexError, OSError, struct.error,
                        OverflowError, ZeroDivisionError)


def photo_meta(image: Image.Image) -> PhotoMeta:
    """Orientation, GPS and capture time from EXIF, without decoding a pixel; what cannot be read is left out,
    as exiftool warns and goes on."""
    exif = _exif(image)
    orientation = exif.get(0x0112, 1)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    width, height = image.size
    if orientation >= 5:
        width, height = height, width
    return PhotoMeta(width, height, orientation, _gps(exif), _taken_at(exif))


def _exif(image: Image.Image) -> Image.Exif:
    """The EXIF Pillow can read. Where it cannot follow a tag it skips it with a UserWarning ("Corrupt EXIF data",
    "Tag data larger than file"): what is wanted here, so not worth a warning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return image.getexif()
    except _UNREADABLE_METADATA:
        return Image.Exif()


def _sub_directory(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return dict(exif.get_ifd(tag))
    except _UNREADABLE_METADATA:
        return {}


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    gps = _sub_directory(exif, 0x8825)
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lng = _degrees(gps[4], gps.get(3, "E"), "W")
    except _UNREADABLE_METADATA:
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lat, lng


def _degrees(parts: Any, ref: Any, negative_ref: str) -> float:
    degrees, minutes, seconds = (float(part) for part in parts)
    value = degrees + minutes / 60 + seconds / 3600
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref.strip().upper() == negative_ref else value


def _taken_at(exif: Image.Exif) -> dt.datetime | None:
    details = _sub_directory(exif, 0x8769)
    text = details.get(0x9003) or exif.get(0x0132)
    try:
        local = dt.datetime.strptime(str(text).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = details.get(0x9011)
    try:
        zone = dt.datetime.strptime(str(offset).strip("\x00 "), "%z").tzinfo if offset else CAMERA_TIMEZONE
    except ValueError:
        zone = CAMERA_TIMEZONE
    try:
        return local.replace(tzinfo=zone).astimezone(dt.timezone.utc)
    except OverflowError:  # "0001:01:01 00:00:00" east of UTC is before the year 1 in UTC
        return None


@dataclasses.dataclass(frozen=True)
class PhotoRendition:
    meta: PhotoMeta
    large: bytes
    thumb: bytes
    phash: str


_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def render_photo(data: bytes, fmt: Format, max_pixels: int) -> PhotoRendition:
    """The whole photo job: EXIF, orientation, both derivatives (metadata-free sRGB JPEG) and a perceptual hash.

    JPEGs are decoded at the smallest DCT scale that still covers the large derivative
    (Pillow's ``draft``), and the thumbnail is made from the large one, never from the original.
    """
    with open_photo(io.BytesIO(data), fmt, max_pixels) as image:
        meta = photo_meta(image)
        profile = foreign_profile(image)
        long_edge = max(image.size)
        if (fmt.name == "jpeg" and long_edge <= LARGE_EDGE and meta.orientation == 1 and image.mode in {"RGB", "L"}
                and profile is None):
            # Already small enough and in sRGB: the original's own pixels, minus every metadata segment.
            large_image = _decoded(image)
            large = strip_jpeg_metadata(data)
        else:
            scale = min(1.0, LARGE_EDGE / long_edge)
            target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            if fmt.name == "jpeg":
                image.draft("RGB" if image.mode == "CMYK" else image.mode, target)
            large_image = _decoded(image)
            if profile is not None and large_image.mode == "CMYK":
                large_image, profile = to_srgb(large_image, profile), None
            large_image = flatten(large_image)
            if large_image.size != target:
                # After the DCT-domain reduction the rest is under 2×: an area average (BOX) is both
                # alias-free enough and the cheapest pass; a Lanczos pass here would cost more than the decode.
                # Formats without a reduced decode (HEIC, PNG, WebP) first take an integer reduction (``reduce``,
                # a fifth of the cost of a BOX pass over the whole picture), then the same BOX for the rest.
                large_image = large_image.resize(target, Image.Resampling.BOX, reducing_gap=1.0)
            if profile is not None:  # converted once reduced: the same colours for a fraction of the work
                large_image = to_srgb(large_image, profile)
            if meta.orientation in _TRANSPOSE:
                large_image = large_image.transpose(_TRANSPOSE[meta.orientation])
            large = encode_jpeg(large_image)
    thumb_image = shrunk(flatten(large_image), THUMB_EDGE)
    return PhotoRendition(meta, large, encode_jpeg(thumb_image), difference_hash(thumb_image))


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def foreign_profile(image: Image.Image) -> ImageCms.ImageCmsProfile | None:
    """The photo's embedded ICC profile when its colours are not sRGB (Display P3 from iPhones, Adobe RGB from
    cameras): served without it, they would look washed out. None for sRGB, no profile, or one that does not parse."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in {"RGB", "RGBA", "CMYK"}:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return None if "srgb" in description.lower().replace(" ", "") else profile


def to_srgb(image: Image.Image, profile: ImageCms.ImageCmsProfile) -> Image.Image:
    """The picture's colours in sRGB (perceptual intent, as browsers render a tagged photo); a profile that
    does not fit the picture (an RGB profile on CMYK pixels) leaves the pixels as they are."""
    mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        return ImageCms.profileToProfile(image, profile, _srgb(), outputMode=mode)
    except ImageCms.PyCMSError:
        return image if image.mode in {"RGB", "RGBA"} else image.convert(mode)


def shrunk(image: Image.Image, edge: int) -> Image.Image:
    """A new image no longer than ``edge`` on its long side: integer pixel averaging, then bicubic for the rest."""
    scale = min(1.0, edge / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=1.0) if size != image.size else image.copy()


def _decoded(image: Image.Image) -> Image.Image:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise corrupt(f"undecodable: {exc}") from None
    return image


def flatten(image: Image.Image) -> Image.Image:
    """RGB or grayscale without transparency (over white), which JPEG can hold."""
    if image.mode in {"RGB", "L"}:
        return image
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def encode_jpeg(image: Image.Image) -> bytes:
    """A baseline JPEG with no EXIF, XMP, ICC or comment: nothing but pixels."""
    out = io.BytesIO()
    image.info = {}
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return out.getvalue()


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The same JPEG without its APPn and COM segments (JFIF and JFXX thumbnails, Canon's CIFF with the owner's name,
    EXIF, XMP, maker notes, ICC) and without anything after its end-of-image marker (MPF previews, motion photos,
    each with metadata of its own): byte-identical compressed pixels.

    Adobe's APP14 stays when it is the plain 12-byte block: it says how the colours were coded, and decoders need it.
    """
    segments = jpeg_segments(io.BytesIO(data))
    kept = [b"\xff\xd8"]
    for marker, offset, length in segments[:-1]:
        adobe = marker == 0xEE and length == 16 and data[offset + 4:offset + 9] == b"Adobe"
        if adobe or not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            kept.append(data[offset:offset + length])
    _, scan_offset, scan_header_length = segments[-1]
    kept.append(data[scan_offset:_end_of_image(data, scan_offset + scan_header_length)])
    return b"".join(kept)


def _end_of_image(data: bytes, position: int) -> int:
    """Where the picture's EOI marker ends, read from ``position`` in its first scan's compressed data.

    There a 0xFF byte is followed by 0x00 (stuffing), a restart marker or a fill byte; any other marker is either
    EOI or a whole segment between the scans of a progressive JPEG (tables, the next SOS), skipped by its length.
    """
    while (position := data.find(b"\xff", position)) >= 0 and position + 1 < len(data):
        marker = data[position + 1]
        if marker == 0xD9:
            return position + 2
        if marker == 0xFF:
            position += 1
        elif marker == 0x00 or 0xD0 <= marker <= 0xD7:
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return len(data)


def difference_hash(image: Image.Image) -> str:
    """A 64-bit perceptual hash (dHash): near-identical photos differ in few bits."""
    small = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for column in range(8):
            bits = (bits << 1) | (pixels[row * 9 + column] > pixels[row * 9 + column + 1])
    return f"{bits:016x}"


def hash_distance(first: str, second: str) -> int:
    return (int(first, 16) ^ int(second, 16)).bit_count()
