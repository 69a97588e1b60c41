"""Audio and video: probing their streams and metadata, metadata-free playable copies and poster frames."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import re
from pathlib import Path
from typing import Any

from media.processing.formats import FORMATS, Format, corrupt, unsupported
from media.processing.photos import THUMB_EDGE, encode_jpeg, flatten, shrunk

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
    options = {"fflags": "+bitexact"}
    if muxer == "mp3":
        options |= {"id3v2_version": "0", "write_id3v1": "0"}
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
    return encode_jpeg(shrunk(flatten(image), THUMB_EDGE))
