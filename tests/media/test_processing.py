"""The byte-level pieces: sniffing, EXIF reading, metadata stripping, hashing."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from media import processing
from tests.media import samples


@pytest.mark.parametrize(("head", "name"), [
    (b"\xff\xd8\xff\xe1", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heif"),
    (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "heif"),
    (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom", "m4a"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "mov"),
    (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mov"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x23", "mp3"),
    (b"\xff\xfb\x90\x00", "mp3"),
    (b"\xff\xf1\x50\x80", "aac"),
])
def test_formats_are_told_by_their_first_bytes(head, name):
    assert processing.sniff(head).name == name


@pytest.mark.parametrize("head", [
    b"<svg xmlns=", b"<?xml version", b"GIF89a", b"%PDF-1.7", b"PK\x03\x04", b"\x00\x00\x00\x1cftypavif",
    b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", b"BM", b"", b"\xff",
])
def test_everything_else_is_unknown(head):
    assert processing.sniff(head) is None


def test_southern_and_western_coordinates_are_negative():
    exif = Image.Exif()
    exif[0x8825] = {1: "S", 2: (IFDRational(33, 1), IFDRational(52, 1), IFDRational(0, 1)),
                    3: "W", 4: (IFDRational(151, 1), IFDRational(12, 1), IFDRational(36, 1))}
    image = Image.new("RGB", (10, 10))
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    meta = processing.photo_meta(Image.open(out))
    assert meta.gps == pytest.approx((-(33 + 52 / 60), -(151 + 12 / 60 + 36 / 3600)), abs=1e-9)


def test_a_photo_without_exif_has_no_gps_or_time():
    out = io.BytesIO()
    Image.new("RGB", (30, 20)).save(out, "PNG")
    meta = processing.photo_meta(Image.open(out))
    assert (meta.gps, meta.taken_at, meta.orientation, meta.width) == (None, None, 1, 30)


def test_stripping_keeps_every_compressed_byte_of_the_picture():
    original = samples.jpeg(300, 200)
    stripped = processing.strip_jpeg_metadata(original)
    assert len(stripped) < len(original) and b"SerialSecret" not in stripped and b"ICC-PROFILE" not in stripped
    assert stripped.endswith(original[original.index(b"\xff\xda"):])
    assert Image.open(io.BytesIO(stripped)).tobytes() == Image.open(io.BytesIO(original)).tobytes()


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"restart_marker_blocks": 4},
                                     {"progressive": True, "restart_marker_rows": 1}])
def test_stripping_ends_at_the_pictures_own_end_through_every_scan(options):
    out = io.BytesIO()
    samples.picture(300, 200).save(out, "JPEG", quality=90, exif=samples.camera_exif(), **options)
    picture = out.getvalue()
    stripped = processing.strip_jpeg_metadata(picture + samples.jpeg(100, 80))
    assert stripped.endswith(picture[picture.index(b"\xff\xda"):]) and b"SerialSecret" not in stripped


def test_every_exif_orientation_turns_the_picture_upright():
    upright = processing.render_photo(samples.jpeg(1600, 1200, orientation=1), processing.FORMATS["jpeg"], 10**8)
    for orientation, size in ((3, (1280, 960)), (6, (960, 1280)), (8, (960, 1280))):
        rendition = processing.render_photo(samples.jpeg(1600, 1200, orientation=orientation),
                                            processing.FORMATS["jpeg"], 10**8)
        assert Image.open(io.BytesIO(rendition.large)).size == size
        assert rendition.meta.orientation == orientation
    assert Image.open(io.BytesIO(upright.large)).size == (1280, 960)


def test_the_perceptual_hash_tells_different_pictures_apart():
    first = processing.difference_hash(samples.picture(320, 240))
    rotated = processing.difference_hash(samples.picture(320, 240).rotate(90))
    assert processing.hash_distance(first, first) == 0
    assert processing.hash_distance(first, rotated) > 10


@pytest.mark.parametrize(("text", "expected"), [
    ("+36.0671+120.3826+010.000/", (36.0671, 120.3826)),  # iPhone: degrees and an altitude
    ("+36.0671+120.3826/", (36.0671, 120.3826)),  # Android's ©xyz
    ("-33.8568+151.2153/", (-33.8568, 151.2153)),
    ("+3604.026+12022.956/", (36 + 4.026 / 60, 120 + 22.956 / 60)),  # degrees and minutes
    ("+360401.2+1202257.6/", (36 + 4 / 60 + 1.2 / 3600, 120 + 22 / 60 + 57.6 / 3600)),  # and seconds
    ("+36.0671+120.3826CRSWGS_84/", (36.0671, 120.3826)),
    ("+00.0000+000.0000/", None), ("+95.0+120.0/", None), ("+36.0671/", None), ("Qingdao", None), ("", None),
    ("+360.671+120.3826/", None)])
def test_iso_6709_points_as_phones_write_them(text, expected):
    found = processing.parse_iso6709(text)
    assert found == (None if expected is None else (pytest.approx(expected[0], abs=1e-12),
                                                    pytest.approx(expected[1], abs=1e-12)))
