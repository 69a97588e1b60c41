"""Real media files made on the spot: photos with EXIF, voice notes and videos encoded through FFmpeg."""

from __future__ import annotations

import io
import math
import struct
import wave
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

# 36°4'1.23456"N 120°22'57.654321"E: the May Fourth Square, Qingdao.
LAT = 36 + 4 / 60 + 1.23456 / 3600
LNG = 120 + 22 / 60 + 57.654321 / 3600
TAKEN = "2026:05:04 09:30:15"  # local time; the EXIF offset says +08:00


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A picture with structure, so that derivatives and hashes mean something."""
    image = Image.new("RGB", (width, height), (90, 140, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height // 2, width, height), fill=(60, 120, 50))
    draw.ellipse((width // 10, height // 10, width // 3, height // 3), fill=(250, 220, 60))
    draw.rectangle((width // 2, height // 3, width // 2 + width // 6, height - height // 8), fill=(180, 40, 40))
    return image.convert(mode)


def camera_exif(orientation: int = 1, gps: bool = True) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Huawei"
    exif[0x0110] = "SerialSecret-X9"
    exif[0x0112] = orientation
    exif[0x8769] = {0x9003: TAKEN, 0x9011: "+08:00", 0x927C: b"MAKERNOTE-SECRET" * 4}
    if gps:
        exif[0x8825] = {1: "N", 2: (IFDRational(36, 1), IFDRational(4, 1), IFDRational(123456, 100000)),
                        3: "E", 4: (IFDRational(120, 1), IFDRational(22, 1), IFDRational(57654321, 1000000))}
    return exif


def jpeg(width: int = 1600, height: int = 1200, *, orientation: int = 1, gps: bool = True, quality: int = 90) -> bytes:
    out = io.BytesIO()
    picture(width, height).save(out, "JPEG", quality=quality, exif=camera_exif(orientation, gps),
                                icc_profile=b"ICC-PROFILE-WITH-DEVICE-NAME")
    return out.getvalue()


def photo(fmt: str, width: int = 800, height: int = 600) -> bytes:
    """PNG, WebP or HEIF, each carrying the camera's EXIF."""
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    picture(width, height, mode).save(out, fmt, exif=camera_exif())
    return out.getvalue()


def svg() -> bytes:
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def tone(start: int, count: int) -> bytes:
    """Signed 16-bit mono samples of a sine tone."""
    return b"".join(int(8000 * math.sin(i / 8)).to_bytes(2, "little", signed=True) for i in range(start, start + count))


def wav(seconds: float = 1.5, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone(0, int(seconds * rate)))
    return out.getvalue()


def encoded(path: Path, muxer: str, *, audio_codec: str | None = None, video_codec: str | None = None,
            seconds: float = 2.0, size: tuple[int, int] = (320, 240), metadata: dict[str, str] | None = None) -> bytes:
    """A real file of ``seconds`` through FFmpeg: a tone and/or moving colour bars."""
    rate, fps = 44100, 10
    with av.open(str(path), "w", format=muxer) as out:
        out.metadata.update(metadata or {})
        video = out.add_stream(video_codec, rate=fps) if video_codec else None
        if video is not None:
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
        audio = out.add_stream(audio_codec, rate=rate) if audio_codec else None
        if video is not None:
            for index in range(int(seconds * fps)):
                frame = av.VideoFrame.from_image(picture(*size).rotate(index * 7))
                frame.pts, frame.time_base = index, Fraction(1, fps)
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        if audio is not None:
            frame_size = 1152
            for start in range(0, int(seconds * rate), frame_size):
                frame = av.AudioFrame(format="s16", layout="mono", samples=frame_size)
                frame.planes[0].update(tone(start, frame_size))
                frame.sample_rate, frame.pts = rate, start
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return path.read_bytes()


def turned_upright(mp4: bytes) -> bytes:
    """The video as a phone held upright records it: frames stored landscape, with a display matrix (in the video
    track's tkhd box) saying to turn them 90° clockwise when shown."""
    data = bytearray(mp4)
    position = 0
    while (position := data.find(b"tkhd", position + 1)) > 0:
        version = data[position + 4]
        matrix = position + 8 + (32 if version == 1 else 20) + 16  # past the times, track id, duration, layer…
        if int.from_bytes(data[matrix + 36:matrix + 40], "big"):  # the video track's (audio has no width)
            data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    return bytes(data)


def _s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def matrix_profile(description: str, red: tuple[float, float, float], green: tuple[float, float, float],
                   blue: tuple[float, float, float], gamma: float) -> bytes:
    """An ICC v2 RGB matrix/TRC display profile (D50 colorants), as cameras embed Adobe RGB or Display P3."""
    def xyz(values: tuple[float, ...]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15fixed16(v) for v in values)

    desc_text = description.encode("ascii") + b"\x00"
    tags = [(b"desc", b"desc\x00\x00\x00\x00" + struct.pack(">I", len(desc_text)) + desc_text + b"\x00" * 78),
            (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)), (b"bXYZ", xyz(blue)),
            (b"rTRC", b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256))),
            (b"cprt", b"text\x00\x00\x00\x00no copyright, made in a test\x00")]
    tags += [(b"gTRC", tags[5][1]), (b"bTRC", tags[5][1])]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(24) + struct.pack(">I", 0) + _s15fixed16(0.9642) + _s15fixed16(1.0)
              + _s15fixed16(0.8249) + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + body


ADOBE_RGB = matrix_profile("Adobe RGB (1998)", (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609),
                           (0.1492, 0.0632, 0.7446), 563 / 256)
DISPLAY_P3 = matrix_profile("Display P3", (0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419),
                            (0.1571, 0.0666, 0.7841), 2.2)
