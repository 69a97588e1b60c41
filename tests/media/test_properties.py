"""Property tests of sniffing and metadata parsing: arbitrary bytes and hostile EXIF never crash them."""

from __future__ import annotations

import datetime as dt
import io
import os
import struct

import pytest
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st
from PIL import Image

from media import processing
from media.processing import FORMATS, MediaRejected
from tests.common.media_files import EXIF_IFD, GPS_IFD

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 200)), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SIGNATURES = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n", "mp3": b"ID3", "webp": b"RIFF\0\0\0\0WEBP",
              "mp4": b"\x00\x00\x00\x18ftypisom"}
OFFSET_0011 = 0x9011


@FUZZ
@given(st.binary(max_size=processing.SNIFF_BYTES))
def test_sniffing_any_bytes_answers_a_format_or_none(head):
    found = processing.sniff(head)
    assert found is None or found in FORMATS.values()


@FUZZ
@given(st.sampled_from(sorted(SIGNATURES)), st.binary(max_size=processing.SNIFF_BYTES))
def test_a_signature_decides_whatever_follows(name, tail):
    assert processing.sniff(SIGNATURES[name] + tail) is FORMATS[name]


@FUZZ
@given(st.sampled_from(sorted(SIGNATURES)), st.binary(min_size=0, max_size=2048))
def test_checking_and_opening_garbage_is_refused_never_a_crash(tmp_path_factory, name, tail):
    path = tmp_path_factory.mktemp("fuzz") / "file"
    path.write_bytes(SIGNATURES[name] + tail)
    fmt = FORMATS[name]
    try:
        processing.check_structure(path, fmt)
        if fmt.kind == "photo":
            with processing.open_photo(path, fmt, 50_000_000) as image:
                processing.photo_meta(image)
        else:
            processing.probe_stream(path, fmt)
    except MediaRejected as rejected:
        assert rejected.status in {413, 415, 422}


@pytest.mark.parametrize(("name", "data"), [
    ("jpeg", b"\xff\xd8\xff" + b"\xff" * 6),  # fill bytes to the end of the file
    ("mp4", b"\x00\x00\x00\x01ftypisom"),  # a 64-bit box size, cut off
])
def test_files_that_crashed_the_checks_are_refused(tmp_path, name, data):
    path = tmp_path / "file"
    path.write_bytes(data)
    with pytest.raises(MediaRejected):
        processing.check_structure(path, FORMATS[name])


def _jpeg_with_exif(gps: dict, details: dict) -> Image.Image:
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update(gps)
    exif.get_ifd(EXIF_IFD).update(details)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "JPEG", exif=exif.tobytes())
    return Image.open(io.BytesIO(out.getvalue()))


_ratios = st.tuples(*[st.floats(allow_nan=True, allow_infinity=True, width=32)] * 3)
_refs = st.sampled_from(["N", "S", "E", "W", "", "x", "\x00"])
_stamps = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1)).map(lambda d: d.strftime("%Y:%m:%d %H:%M:%S")),
    st.text(max_size=25))
_offsets = st.one_of(st.none(), st.sampled_from(["+08:00", "-12:00", "+14:00", "Z", "+99:99"]), st.text(max_size=8))


@FUZZ
@given(_ratios, _refs, _ratios, _refs, _stamps, _offsets)
@example((0.0, 0.0, 0.0), "N", (0.0, 0.0, 0.0), "E", "0001:01:01 00:00:00", "+08:00")  # crashed with OverflowError
def test_hostile_exif_gives_valid_coordinates_and_times_or_none(lat, lat_ref, lng, lng_ref, stamp, offset):
    details = {0x9003: stamp} | ({OFFSET_0011: offset} if offset is not None else {})
    try:
        image = _jpeg_with_exif({1: lat_ref, 2: lat, 3: lng_ref, 4: lng}, details)
    except (ValueError, TypeError, OverflowError, struct.error):
        reject()  # Pillow cannot write this EXIF: not an input a camera could send
    meta = processing.photo_meta(image)
    if meta.gps is not None:
        assert -90 <= meta.gps[0] <= 90 and -180 <= meta.gps[1] <= 180
    if meta.taken_at is not None:
        assert meta.taken_at.utcoffset() is not None
