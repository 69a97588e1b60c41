"""Reading and rendering media bytes: sniffing, probing, photo derivatives, metadata-free audio/video copies.

Pure functions over bytes and files: no database, no storage, no Flask. The formats are
told by the bytes themselves, never by a file name or a client's Content-Type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import re
import struct
import warnings
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageCms
from pillow_heif import register_heif_opener

from core.errors import AppError

register_heif_opener()

LARGE_EDGE = 1280
THUMB_EDGE = 320
JPEG_QUALITY = 82
# Capture times without a UTC offset are local time where the photos are taken.
CAMERA_TIMEZONE = ZoneInfo("Asia/Shanghai")
SNIFF_BYTES = 64


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    kind: str
    content_type: str
    extension: str
    pillow_format: str | None = None


FORMATS = {f.name: f for f in (
    Format("jpeg", "photo", "image/jpeg", "jpg", "JPEG"),
    Format("png", "photo", "image/png", "png", "PNG"),
    Format("webp", "photo", "image/webp", "webp", "WEBP"),
    Format("heif", "photo", "image/heic", "heic", "HEIF"),
    Format("aac", "audio", "audio/aac", "aac"),
    Format("mp3", "audio", "audio/mpeg", "mp3"),
    Format("wav", "audio", "audio/wav", "wav"),
    Format("m4a", "audio", "audio/mp4", "m4a"),
    Format("mp4", "video", "video/mp4", "mp4"),
    Format("mov", "video", "video/quicktime", "mov"),
)}
KINDS = ("photo", "audio", "video")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_AUDIO_MP4_BRANDS = {b"M4A ", b"M4B "}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


class MediaRejected(AppError):
    """Bytes that are not accepted; ``status`` and ``code`` are what the client is told."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, status=status, details=details)


def unsupported(details: dict[str, Any] | None = None) -> MediaRejected:
    return MediaRejected(415, "unsupported_media_type",
                         "不支持的文件格式：照片请用 JPEG/PNG/WebP/HEIC，语音请用 AAC/M4A/MP3/WAV，视频请用 MP4/MOV。", details)


def corrupt(detail: str) -> MediaRejected:
    return MediaRejected(422, "corrupt_media", "文件已损坏或不完整。", {"reason": detail})


# --- sniffing ---------------------------------------------------------------------------------

def sniff(head: bytes) -> Format | None:
    """The format these first bytes announce; ISO media files with a generic brand count as video
    until their tracks are read (an audio-only MP4 is then M4A)."""
    if head.startswith(b"\xff\xd8\xff"):
        return FORMATS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["png"]
    if head[:4] == b"RIFF" and head[8:12] in {b"WEBP", b"WAVE"}:
        return FORMATS["webp" if head[8:12] == b"WEBP" else "wav"]
    if head[4:8] == b"ftyp":
        return _sniff_iso_brand(head)
    if head[4:8] in _QUICKTIME_ATOMS:
        return FORMATS["mov"]
    if head.startswith(b"ID3"):
        return FORMATS["mp3"]
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return FORMATS["aac"]
        if head[1] & 0xE0 == 0xE0 and (head[1] >> 1) & 3 == 1:
            return FORMATS["mp3"]
    return None


def _sniff_iso_brand(head: bytes) -> Format | None:
    box_size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    compatible = {head[i:i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _HEIF_BRANDS or (major in {b"mif1", b"msf1"} and compatible & _HEIF_BRANDS):
        return FORMATS["heif"]
    if major in {b"mif1", b"msf1", b"avif", b"avis"}:
        return None
    if major in _AUDIO_MP4_BRANDS:
        return FORMATS["m4a"]
    return FORMATS["mov" if major == b"qt  " else "mp4"]


# --- structure checks (cheap: they read lengths, not pixels or samples) ---------------------------

def check_structure(path: Path, fmt: Format) -> None:
    """Refuse a file whose container is cut short or malformed."""
    with path.open("rb") as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        if fmt.name == "jpeg":
            if jpeg_scan_offset(f) is None or not _has_eoi_after(f, size):
                raise corrupt("truncated_jpeg")
        elif fmt.name == "png":
            _check_png_chunks(f, size)
        elif fmt.name in {"webp", "wav"}:
            riff_size = struct.unpack("<I", f.read(8)[4:8])[0]
            if riff_size + 8 > size:
                raise corrupt("truncated_riff")
        elif fmt.name in {"heif", "m4a", "mp4", "mov"}:
            _check_iso_boxes(f, size)


def jpeg_segments(data: io.BufferedIOBase | io.BytesIO) -> list[tuple[int, int, int]]:
    """(marker, offset, length) of each header segment up to and including the first SOS; [] if malformed.

    Bytes between segments are skipped up to the next marker, as libjpeg does ("extraneous bytes before marker"):
    cameras and editors leave some there, and every decoder reads such a photo.
    """
    segments = []
    data.seek(2)
    while True:
        marker = _next_marker(data)
        length_bytes = data.read(2)
        if marker is None or len(length_bytes) < 2:
            return []
        length = struct.unpack(">H", length_bytes)[0]
        offset = data.tell() - 4
        segments.append((marker, offset, length + 2))
        if marker == 0xDA:
            return segments
        data.seek(offset + length + 2)


def _next_marker(data: Any) -> int | None:
    """The next marker's code, read past anything that is not one (libjpeg's next_marker); None at the end.

    The stream is left just after the code. Read by the chunk: a file of nothing but junk costs no byte-by-byte loop.
    """
    after_ff = False
    while chunk := data.read(4096):
        position = 0
        while True:
            if not after_ff:
                found = chunk.find(b"\xff", position)
                if found < 0:
                    break
                position, after_ff = found + 1, True
            rest = chunk[position:].lstrip(b"\xff")  # fill bytes
            if not rest:
                break
            position, after_ff = len(chunk) - len(rest), False
            if rest[0] != 0x00:  # 0xFF 0x00 is a stuffed byte, not a marker
                data.seek(data.tell() - len(chunk) + position + 1)
                return rest[0]
            position += 1
    return None


def jpeg_scan_offset(f: Any) -> int | None:
    segments = jpeg_segments(f)
    if not segments:
        return None
    marker, offset, length = segments[-1]
    f.seek(offset + length)
    return offset + length


def _has_eoi_after(f: Any, size: int) -> bool:
    """An end-of-image marker somewhere after the current position (a cut-off file has none).

    Looked for from the end backwards: a whole photo ends with one (or with what a phone appends after it, which
    ends with one too), so a single read of the tail answers instead of reading megabytes of a 12 MP photo.
    """
    start, end = f.tell(), size
    while end > start:
        begin = max(start, end - 64 * 1024)
        f.seek(begin)
        if b"\xff\xd9" in f.read(end - begin + 1):  # one byte into the chunk after: a marker across the seam
            return True
        end = begin
    return False


def _check_png_chunks(f: Any, size: int) -> None:
    position = 8
    while position + 8 <= size:
        f.seek(position)
        length, chunk_type = struct.unpack(">I4s", f.read(8))
        position += 12 + length
        if chunk_type == b"IEND":
            return
    raise corrupt("truncated_png")


def _check_iso_boxes(f: Any, size: int) -> None:
    position = 0
    while position < size:
        f.seek(position)
        header = f.read(16)
        if len(header) < 8:
            raise corrupt("truncated_box")
        box_size = struct.unpack(">I", header[:4])[0]
        if box_size == 1:
            if len(header) < 16:  # a 64-bit size announced, and cut off
                raise corrupt("truncated_box")
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:  # runs to the end of the file
            return
        if box_size < 8 or position + box_size > size:
            raise corrupt("truncated_box")
        position += box_size


# --- photos -------------------------------------------------------------------------------------

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
        raise MediaRejected(422, "too_many_pixels", "图片像素过多（疑似解压炸弹）。", {"max_pixels": max_pixels}) from None
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
            large_image = _flatten(large_image)
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
    thumb_image = shrunk(_flatten(large_image), THUMB_EDGE)
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


def _flatten(image: Image.Image) -> Image.Image:
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


# --- audio and video ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StreamMeta:
    format: Format
    duration_s: float
    width: int | None
    height: int | None
    gps: tuple[float, float] | None = None
    taken_at: dt.datetime | None = None


# FFmpeg's demuxer names for the audio formats that ID3 tags or frame headers can announce.
_AV_FORMATS = {"aac": "aac", "mp3": "mp3", "wav": "wav"}


def probe_stream(path: Path, fmt: Format) -> StreamMeta:
    """Duration (and for video the frame size), where and when it was recorded, from the container's headers.

    Refused (415) when the served copy could not be made: a video codec the copy's container cannot hold (H.263
    from an old 3GP phone). Audio it cannot hold (AMR-NB from 3GP) is converted to AAC by the job.
    """
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            playable = _playable(container)
            video = next((s for s in playable if s.type == "video"), None) if fmt.kind != "audio" else None
            audio = next((s for s in playable if s.type == "audio"), None)
            if video is None and audio is None:
                raise corrupt("no_audio_or_video_track")
            duration = _duration(container, video or audio)
            container_name = container.format.name
            size = _displayed_size(container, video) if video is not None else (None, None)
            codecs = {(s.type, s.codec_context.codec.canonical_name) for s in playable}
            tags = {key.lower(): value for key, value in container.metadata.items()}
    except av.FFmpegError as exc:
        raise corrupt(f"unreadable: {type(exc).__name__}") from None
    if fmt.name in {"mp4", "mov", "m4a"}:
        fmt = FORMATS[("mov" if fmt.name == "mov" else "mp4") if video is not None else "m4a"]
    elif fmt.kind == "audio":
        name = next((name for key, name in _AV_FORMATS.items() if key in container_name.split(",")), None)
        if name is None:
            raise unsupported()
        fmt = FORMATS[name]
    muxable = _muxable(_PLAYBACK[fmt.name][0])
    for kind, codec in sorted(codecs):
        if codec not in muxable and (kind != "audio" or _TRANSCODED_AUDIO not in muxable):
            raise unsupported({"codec": codec})
    return StreamMeta(fmt, duration, *size, gps=_recorded_where(tags), taken_at=_recorded_when(tags))


# Where phones write a video's location: Apple's QuickTime key, and the ©xyz atom (Android, older iPhones).
_LOCATION_TAGS = ("com.apple.quicktime.location.iso6709", "location", "location-eng")
# When: Apple's key keeps the local offset; creation_time (the movie header's, in UTC) is what Android writes.
_CAPTURE_TIME_TAGS = ("com.apple.quicktime.creationdate", "creation_time")
_ISO6709 = re.compile(r"([+-])(\d+)(?:\.(\d+))?([+-])(\d+)(?:\.(\d+))?(?:[+-]\d+(?:\.\d+)?)?(?:CRS[\w:]+)?/?")


def _recorded_where(tags: dict[str, str]) -> tuple[float, float] | None:
    for tag in _LOCATION_TAGS:
        if tag in tags and (position := parse_iso6709(tags[tag])) is not None:
            return position
    return None


def parse_iso6709(text: str) -> tuple[float, float] | None:
    """(lat, lng) of an ISO 6709 point ("+36.0671+120.3826+010.000/"; degrees, or ±DDMM(SS) with a fraction of
    the last unit); None when it is not one, or not on Earth."""
    match = _ISO6709.fullmatch(text.strip())
    if match is None:
        return None
    lat = _iso6709_angle(match[1], match[2], match[3], degree_digits=2)
    lng = _iso6709_angle(match[4], match[5], match[6], degree_digits=3)
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lat, lng


def _iso6709_angle(sign: str, digits: str, fraction: str | None, *, degree_digits: int) -> float | None:
    units = [digits[:degree_digits]] + [digits[i:i + 2] for i in range(degree_digits, len(digits), 2)]
    if len(units) > 3 or any(len(unit) != len(units[0]) if i == 0 else len(unit) != 2 for i, unit in enumerate(units)):
        return None
    values = [float(unit) for unit in units]
    values[-1] += float(f"0.{fraction}") if fraction else 0.0
    value = sum(v / 60 ** i for i, v in enumerate(values))
    return -value if sign == "-" else value


def _recorded_when(tags: dict[str, str]) -> dt.datetime | None:
    for tag in _CAPTURE_TIME_TAGS:
        try:
            recorded = dt.datetime.fromisoformat(tags[tag].strip())
        except (KeyError, ValueError):
            continue
        return (recorded if recorded.tzinfo else recorded.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    return None


def _displayed_size(container: Any, video: Any) -> tuple[int, int]:
    """The frame size as the video is shown: upright phone videos store their frames on the side, with a quarter
    turn in the display matrix (see poster_frame). FFmpeg hands that matrix to decoded frames only, so the first
    frame is decoded; a video whose frames do not decode is taken as stored."""
    import av

    width, height = video.codec_context.width, video.codec_context.height
    try:
        frame = next(container.decode(video), None)
    except av.FFmpegError:
        frame = None
    if frame is not None and abs(frame.rotation) == 90:
        return height, width
    return width, height


def _playable(container: Any) -> list[Any]:
    """The audio and video streams; cover art (an "attached picture" stream) is not playable."""
    from av.stream import Disposition

    return [s for s in container.streams
            if s.type in {"audio", "video"} and not s.disposition & Disposition.attached_pic]


def _duration(container: Any, stream: Any) -> float:
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    raise corrupt("unknown_duration")


# The copy that is served: same codecs, no container or stream metadata (no location, no device).
_PLAYBACK = {"mp4": ("mp4", "mp4", "video/mp4"), "mov": ("mp4", "mp4", "video/mp4"),
             "m4a": ("ipod", "m4a", "audio/mp4"), "aac": ("adts", "aac", "audio/aac"),
             "mp3": ("mp3", "mp3", "audio/mpeg"), "wav": ("wav", "wav", "audio/wav")}


def playback_format(fmt: Format) -> tuple[str, str]:
    """(file extension, content type) of the served copy of an audio or video original."""
    _, extension, content_type = _PLAYBACK[fmt.name]
    return extension, content_type


_TRANSCODED_AUDIO = "aac"


@functools.cache
def _muxable(muxer: str) -> frozenset[str]:
    """The codecs (FFmpeg's canonical names) that FFmpeg's ``muxer`` can hold."""
    import av

    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        return frozenset(probe.supported_codecs)


def remux_without_metadata(source: Path, target: Path, fmt: Format) -> None:
    """Copy the audio and video packets into a fresh container, leaving every metadata tag behind; audio the
    container cannot hold (AMR from a 3GP) is decoded and encoded again as AAC (probe_stream refused the rest)."""
    import av

    muxer = _PLAYBACK[fmt.name][0]
    options = {"fflags": "+bitexact", "id3v2_version": "0", "write_id3v1": "0"} if muxer == "mp3" else {"fflags": "+bitexact"}
    if muxer in {"mp4", "ipod"}:
        options["movflags"] = "+faststart"
    muxable = _muxable(muxer)
    try:
        with av.open(str(source), metadata_errors="ignore") as inp, \
                av.open(str(target), "w", format=muxer, options=options) as out:
            streams = _playable(inp)
            copied, encoders = {}, {}
            for stream in streams:
                if stream.codec_context.codec.canonical_name in muxable:
                    copied[stream.index] = out.add_stream_from_template(stream)
                    copied[stream.index].metadata.clear()
                elif stream.type == "audio":
                    encoders[stream.index] = out.add_stream(_TRANSCODED_AUDIO, rate=stream.codec_context.sample_rate,
                                                            layout=stream.codec_context.layout.name)
                else:
                    raise unsupported({"codec": stream.codec_context.codec.canonical_name})
            for packet in inp.demux(streams):
                encoder = encoders.get(packet.stream.index)
                if encoder is not None:
                    for frame in packet.decode():  # the last, empty packet flushes the decoder
                        out.mux(encoder.encode(frame))
                elif packet.dts is not None:
                    packet.stream = copied[packet.stream.index]
                    out.mux(packet)
            for encoder in encoders.values():
                out.mux(encoder.encode(None))
    except (av.FFmpegError, ValueError) as exc:  # ValueError: what the muxer refuses ("does not support")
        raise corrupt(f"unreadable: {type(exc).__name__}") from None


def poster_frame(source: Path) -> bytes | None:
    """A metadata-free JPEG thumbnail of the first video frame, or None when no frame decodes."""
    import av

    try:
        with av.open(str(source), metadata_errors="ignore") as container:
            frame = next(container.decode(video=0), None)
            if frame is None:
                return None
            # Upright phone videos store their frames on the side, with the turn to show them in a display matrix
            # (degrees counter-clockwise, as Pillow turns too); the served copy keeps it, the poster applies it.
            image = frame.to_image().rotate(frame.rotation, expand=True)
    except av.FFmpegError:
        return None
    return encode_jpeg(shrunk(_flatten(image), THUMB_EDGE))
