"""The formats we take, told by their first bytes, and cheap structure checks that read lengths, not pixels."""

from __future__ import annotations

import dataclasses
import io
import struct
from pathlib import Path
from typing import Any

from core.errors import AppError

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
                         "不支持的文件格式：照片请用 JPEG/PNG/WebP/HEIC，语音请用 AAC/M4A/MP3/WAV，视频请用 MP4/MOV。",
                         details)


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
