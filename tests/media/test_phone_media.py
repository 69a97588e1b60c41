"""What real phones and cameras send: odd EXIF, stray bytes, APP0 blocks, colour profiles, 3GP, video locations.

Every file here is made in code the way the device makes it (the corpus suite, tests/corpus, runs the real ones).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from media.processing import jpeg_segments
from tests.citizen.helpers import QINGDAO, new_report, upload_photo
from tests.media import samples
from tests.media.conftest import image_of
from tests.media.test_upload import assert_private, ready

OWNER = b"Zhang Wei's camera"


def with_segments_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def app_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def tiff_of(jpeg: bytes) -> int:
    """Where the TIFF header of the EXIF block starts."""
    return jpeg.index(b"Exif\x00\x00") + 6


def exif_with_subdirectory_pointer(tag: int, value: int) -> bytes:
    """An APP1 EXIF block whose only IFD0 entry points to a sub-directory with a signed (SLONG) offset."""
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHIi", tag, 9, 1, value) + struct.pack("<I", 0)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd0


# --- EXIF that no reader can follow -----------------------------------------------------------------

def test_a_tiff_header_with_a_wrong_magic_is_accepted_without_the_metadata(client, resident, upload, run_jobs,
                                                                           fetch):
    exif = samples.camera_exif()
    exif.endian = "<"  # as Canon writes it: "II*\0"
    out = io.BytesIO()
    # A JFIF density in dots per inch, as cameras write it: Pillow then reads the EXIF only when asked.
    samples.picture(640, 480).save(out, "JPEG", exif=exif, dpi=(72, 72))
    data = bytearray(out.getvalue())
    data[tiff_of(bytes(data)) + 2] = 0x13  # "II*\0" becomes "II\x13\0": exiftool warns, Pillow refuses the EXIF
    response = upload(bytes(data))
    assert response.status_code == 201, response.json
    assert response.json["gps"] is None and response.json["taken_at"] is None
    media = ready(client, resident, run_jobs, response)
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).size == (640, 480)
    assert_private(large)


@pytest.mark.parametrize("tag", [0x8769, 0x8825])  # the Exif and the GPS sub-directories
def test_a_sub_directory_pointer_of_minus_8_is_accepted_without_the_metadata(client, resident, upload, run_jobs, tag):
    out = io.BytesIO()
    samples.picture(640, 480).save(out, "JPEG", exif=exif_with_subdirectory_pointer(tag, -8), dpi=(72, 72))
    response = upload(out.getvalue())
    assert response.status_code == 201, response.json
    assert response.json["gps"] is None and response.json["taken_at"] is None
    ready(client, resident, run_jobs, response)


# --- stray bytes between segments ------------------------------------------------------------------------

@pytest.mark.parametrize("stray", [b"\x00\x00", b"\x00" * 12 + b"\xff\x00"])
def test_a_photo_with_stray_bytes_between_segments_is_accepted_as_libjpeg_decodes_it(client, resident, upload,
                                                                                      run_jobs, fetch, stray):
    clean = samples.jpeg(2048, 1536, gps=False)
    _, offset, length = next(s for s in jpeg_segments(io.BytesIO(clean)) if s[0] == 0xDB)
    damaged = clean[:offset + length] + stray + clean[offset + length:]
    decoded = image_of(damaged)  # Pillow (libjpeg) reads it: it is a photo
    assert decoded.tobytes() == image_of(clean).tobytes()
    response = upload(damaged)
    assert response.status_code == 201, response.json
    media = ready(client, resident, run_jobs, response)
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).size == (1280, 960)


# --- APP0 blocks: Canon's CIFF and JFXX thumbnails -----------------------------------------------------------

def test_a_small_photo_loses_its_ciff_and_jfxx_app0_blocks(client, resident, upload, run_jobs, fetch):
    ciff = b"II\x1a\x00\x00\x00HEAPJPGM" + OWNER + b"IMG_0042.JPG 2026:05:04 09:30:15"
    thumbnail = io.BytesIO()
    samples.picture(160, 120).save(thumbnail, "JPEG")
    jfxx = b"JFXX\x00\x10" + thumbnail.getvalue()
    original = with_segments_after_soi(samples.jpeg(640, 480), app_segment(0xE0, ciff), app_segment(0xE0, jfxx))
    media = ready(client, resident, run_jobs, upload(original))
    _, large = fetch(media["urls"]["large"])
    assert image_of(large).tobytes() == image_of(original).tobytes()
    for marker in (b"HEAPJPGM", OWNER, b"IMG_0042", b"JFXX"):
        assert marker not in large
    app0 = [large[o + 4:o + length] for marker, o, length in jpeg_segments(io.BytesIO(large)) if marker == 0xE0]
    assert all(payload.startswith(b"JFIF\x00") and len(payload) == 14 for payload in app0), app0
    assert large.count(b"\xff\xd8") == 1  # no embedded picture left


# --- colour profiles -------------------------------------------------------------------------------------------

def reference_srgb(original: bytes, size: tuple[int, int]) -> Image.Image:
    """PIL.ImageCms's own conversion of the whole picture, then the same reduction."""
    image = image_of(original)
    converted = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"])),
                                          ImageCms.createProfile("sRGB"), outputMode="RGB")
    return converted.resize(size, Image.Resampling.BOX)


@pytest.mark.parametrize("profile", [samples.ADOBE_RGB, samples.DISPLAY_P3], ids=["adobe-rgb", "display-p3"])
@pytest.mark.parametrize(("fmt", "size"), [("JPEG", (640, 480)), ("JPEG", (1600, 1200)), ("PNG", (640, 480)),
                                           ("HEIF", (640, 480))])
def test_wide_gamut_photos_are_converted_to_srgb(client, resident, upload, run_jobs, fetch, profile, fmt, size):
    out = io.BytesIO()
    samples.picture(*size).save(out, fmt, icc_profile=profile, **({"quality": 95} if fmt != "PNG" else {}))
    original = out.getvalue()
    media = ready(client, resident, run_jobs, upload(original))
    _, large_bytes = fetch(media["urls"]["large"])
    large = image_of(large_bytes).convert("RGB")
    assert "icc_profile" not in large.info
    reference = reference_srgb(original, large.size)
    difference = ImageStat.Stat(ImageChops.difference(large, reference)).mean
    assert max(difference) < 3, difference  # JPEG's own loss, no colour shift
    as_if_srgb = image_of(original).convert("RGB").resize(large.size, Image.Resampling.BOX)
    assert max(ImageStat.Stat(ImageChops.difference(as_if_srgb, reference)).mean) > 3  # the profile mattered


# --- 3GP: MPEG-4 video with AMR-NB audio ------------------------------------------------------------------------

def three_gp(path: Path, *, video_codec: str | None = "mpeg4", seconds: float = 2.0) -> bytes:
    """As an older Android phone records: 176×144 MPEG-4 (or H.263) video at 10 fps, AMR-NB audio at 8 kHz mono."""
    fps, size = 10, (176, 144)
    with av.open(str(path), "w", format="3gp") as out:
        video = out.add_stream(video_codec, rate=fps) if video_codec else None
        audio = amr_stream(out)
        if video is not None:
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            for index in range(int(seconds * fps)):
                frame = av.VideoFrame.from_image(samples.picture(*size).rotate(index * 7))
                frame.pts, frame.time_base = index, Fraction(1, fps)
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        mux_amr_tone(out, audio, seconds)
    return path.read_bytes()


def amr_stream(out: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    """Voice as phones record it: AMR-NB, 8 kHz mono, 12.2 kbit/s."""
    audio = out.add_stream("libopencore_amrnb", rate=8000)
    audio.layout, audio.bit_rate = "mono", 12200
    return audio


def mux_amr_tone(out: av.container.OutputContainer, audio: av.audio.stream.AudioStream, seconds: float) -> None:
    """A tone in AMR's 20 ms frames."""
    for start in range(0, int(seconds * 8000), 160):
        frame = av.AudioFrame(format="s16", layout="mono", samples=160)
        frame.planes[0].update(samples.tone(start, 160))
        frame.sample_rate, frame.pts = 8000, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))


def codecs_of(data: bytes) -> dict[str, str]:
    with av.open(io.BytesIO(data)) as container:
        return {stream.type: stream.codec_context.name for stream in container.streams}


def test_a_3gp_video_with_amr_audio_is_served_as_mp4_with_aac(client, resident, upload, run_jobs, fetch, tmp_path):
    original = three_gp(tmp_path / "clip.3gp")
    assert codecs_of(original) == {"video": "mpeg4", "audio": "amrnb"}
    response = upload(original, filename="clip.3gp")
    assert response.status_code == 201, response.json
    assert response.json["kind"] == "video" and abs(response.json["duration_s"] - 2.0) < 0.2
    media = ready(client, resident, run_jobs, response)
    _, playable = fetch(media["urls"]["large"])
    assert codecs_of(playable) == {"video": "mpeg4", "audio": "aac"}
    with av.open(io.BytesIO(playable)) as container:
        assert abs(container.duration / 1e6 - 2.0) < 0.3
        assert sum(1 for _ in container.decode(audio=0)) > 10  # the sound is there, not only a track


def test_a_3gp_voice_note_with_amr_audio_is_served_as_m4a(client, resident, upload, run_jobs, fetch, tmp_path):
    response = upload(three_gp(tmp_path / "voice.3gp", video_codec=None), filename="voice.3gp")
    assert response.status_code == 201, response.json
    assert (response.json["kind"], response.json["content_type"]) == ("audio", "audio/mp4")
    media = ready(client, resident, run_jobs, response)
    _, playable = fetch(media["urls"]["large"])
    assert codecs_of(playable) == {"audio": "aac"}


def test_a_3gp_video_whose_video_cannot_be_kept_is_refused_at_upload(upload, tmp_path, stored_keys):
    before = stored_keys()
    response = upload(three_gp(tmp_path / "clip.3gp", video_codec="h263"), filename="clip.3gp")
    assert response.status_code == 415, response.json
    assert response.json["error"]["code"] == "unsupported_media_type"
    assert response.json["error"]["details"] == {"codec": "h263"}
    assert stored_keys() == before


def test_a_bare_amr_voice_note_is_refused_at_upload(upload, tmp_path, stored_keys):
    """AMR without a 3GP container (#!AMR): no served copy could be made of it, so it is never accepted."""
    path = tmp_path / "voice.amr"
    with av.open(str(path), "w", format="amr") as out:
        mux_amr_tone(out, amr_stream(out), 1.0)
    before = stored_keys()
    response = upload(path.read_bytes(), filename="voice.amr")
    assert (response.status_code, response.json["error"]["code"]) == (415, "unsupported_media_type")
    assert stored_keys() == before


# --- where and when a video was taken ------------------------------------------------------------------------------

def phone_video(path: Path, muxer: str, metadata: dict[str, str], options: dict[str, str] | None = None) -> bytes:
    with av.open(str(path), "w", format=muxer, options=options or {}) as out:
        out.metadata.update(metadata)
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        for index in range(10):
            frame = av.VideoFrame.from_image(samples.picture(160, 120))
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path.read_bytes()


IPHONE_METADATA = {"com.apple.quicktime.location.ISO6709": "+36.0671+120.3826+010.000/",
                   "com.apple.quicktime.creationdate": "2026-05-04T09:30:15+0800",
                   "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15"}
ANDROID_METADATA = {"location": "+36.0671+120.3826/", "creation_time": "2026-05-04T01:30:15.000000Z"}


@pytest.mark.parametrize(("muxer", "metadata", "options"), [
    ("mov", IPHONE_METADATA, {"movflags": "use_metadata_tags"}), ("mp4", ANDROID_METADATA, None)],
    ids=["iphone-mov", "android-mp4"])
def test_a_videos_location_and_capture_time_are_read_and_not_served(client, resident, upload, run_jobs, fetch,
                                                                    tmp_path, muxer, metadata, options):
    original = phone_video(tmp_path / f"clip.{muxer}", muxer, metadata, options)
    with av.open(io.BytesIO(original)) as container:
        assert set(metadata) <= set(container.metadata)
    response = upload(original, filename="clip.bin")
    assert response.status_code == 201, response.json
    assert response.json["gps"] == {"lat": pytest.approx(36.0671, abs=1e-9), "lng": pytest.approx(120.3826, abs=1e-9)}
    assert dt.datetime.fromisoformat(response.json["taken_at"]) == dt.datetime(2026, 5, 4, 1, 30, 15,
                                                                               tzinfo=dt.timezone.utc)
    media = ready(client, resident, run_jobs, response)
    _, playable = fetch(media["urls"]["large"])
    assert_private(playable)
    with av.open(io.BytesIO(playable)) as container:
        kept = dict(container.metadata) | {k: v for s in container.streams for k, v in s.metadata.items()}
        assert not {"location", "com.apple.quicktime.location.ISO6709", "creation_time"} & set(kept), kept


def test_a_video_taken_far_from_the_report_is_flagged_as_a_photo_would_be(app, client, resident, upload, run_jobs,
                                                                          tmp_path):
    from citizen import services as citizen_services

    beijing = phone_video(tmp_path / "far.mp4", "mp4", {"location": "+39.9042+116.4074/"})
    media_id = upload(beijing, filename="far.mp4").json["id"]
    report = new_report(client, resident, location=QINGDAO, media_ids=[upload_photo(client, resident), media_id])
    run_jobs()
    with app.app_context():
        checked = citizen_services.get_report(report["id"])
        assert "evidence_far_away" in checked.flags
        assert checked.checks["evidence"] == [{"media_id": media_id, "distance_m": pytest.approx(550_700, rel=0.01)}]


# --- what wx.chooseMedia hands over from an iPhone: HEVC, upright -----------------------------------------------

@pytest.mark.parametrize(("muxer", "content_type"), [("mov", "video/quicktime"), ("mp4", "video/mp4")])
def test_an_upright_hevc_phone_video_is_served_as_recorded(client, resident, upload, run_jobs, fetch, tmp_path, muxer,
                                                          content_type):
    recorded = samples.encoded(tmp_path / f"hevc.{muxer}", muxer, audio_codec="aac", video_codec="libx265",
                               metadata={"location": "+36.0671+120.3826/"})
    original = samples.turned_upright(recorded)
    response = upload(original, filename="hevc.bin")
    assert response.status_code == 201, response.json
    assert (response.json["content_type"], response.json["width"], response.json["height"]) == (content_type, 240, 320)
    media = ready(client, resident, run_jobs, response)
    _, playable = fetch(media["urls"]["large"])
    assert codecs_of(playable) == {"video": "hevc", "audio": "aac"}
    with av.open(io.BytesIO(playable)) as container:
        assert next(container.decode(video=0)).rotation in {90, -90}  # still shown upright
    assert_private(playable)
