"""Mutation fuzzing of whole photos: camera-like files with their EXIF bytes and JPEG segment structure damaged
the ways real files are (flipped bytes, wrong lengths and offsets, stray bytes, lost, doubled or swapped segments,
cut-off ends). Every one is accepted and rendered, or refused with MediaRejected: never another exception, which the
app would answer with a 500.

Fixed seed (derandomized). `make test` runs FUZZ_EXAMPLES (default a few dozen); `make fuzz` runs thousands, and adds
the real files of CORPUS_DIR (the Makefile: ../shared/corpus) as seeds when that directory is there.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from media import processing
from media.processing import MediaRejected
from tests.media import samples

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_PIXELS = 4_000_000  # small enough that a damaged frame header claiming more is refused before any decoding


def _with_thumbnail_and_comment() -> bytes:
    """EXIF with an IFD1 thumbnail, an XMP block and a comment: more structure for the mutations to break."""
    exif = samples.camera_exif(orientation=6)
    thumbnail = io.BytesIO()
    samples.picture(160, 120).save(thumbnail, "JPEG")
    out = io.BytesIO()
    samples.picture(640, 480).save(out, "JPEG", exif=exif, icc_profile=b"ICC-PROFILE", comment=b"a comment",
                                   xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", dpi=(72, 72))
    return out.getvalue()


def _seeds() -> list[bytes]:
    made = [samples.jpeg(640, 480, orientation=6), samples.jpeg(320, 240, gps=False), _with_thumbnail_and_comment(),
            samples.photo("PNG", 64, 48), samples.photo("WEBP", 64, 48), samples.photo("HEIF", 64, 48)]
    corpus = Path(os.environ["CORPUS_DIR"]) if os.environ.get("CORPUS_DIR") else None
    if corpus is not None and corpus.is_dir():
        made += [path.read_bytes() for path in sorted(corpus.rglob("*"))
                 if path.suffix.lower() in {".jpg", ".jpeg", ".heic", ".heif"} and path.stat().st_size < 4_000_000]
    return made


SEEDS = _seeds()
_mutation = st.one_of(
    st.tuples(st.just("exif_byte"), st.integers(0, 4095), st.integers(0, 255)),
    st.tuples(st.just("exif_word"), st.integers(0, 4095), st.sampled_from([0, 0xFFFF, 0xFFF8, 0x7FFF, 1, 9, 13])),
    st.tuples(st.just("stray_bytes"), st.integers(0, 31), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("segment_length"), st.integers(0, 31), st.integers(0, 0xFFFF)),
    st.tuples(st.just("drop_segment"), st.integers(0, 31), st.just(0)),
    st.tuples(st.just("double_segment"), st.integers(0, 31), st.just(0)),
    st.tuples(st.just("swap_segments"), st.integers(0, 31), st.integers(0, 31)),
    st.tuples(st.just("cut"), st.integers(1, 1000), st.just(0)),
    st.tuples(st.just("any_byte"), st.integers(0, 1 << 20), st.integers(0, 255)),
)


def mutated(data: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    out = bytearray(data)
    for kind, where, what in mutations:
        segments = processing.jpeg_segments(io.BytesIO(bytes(out))) if out[:2] == b"\xff\xd8" else []
        exif_start = bytes(out).find(b"Exif\x00\x00")
        if kind in {"exif_byte", "exif_word"} and exif_start >= 0:
            position = min(exif_start + 6 + where, len(out) - 2)
            if kind == "exif_byte":
                out[position] = what
            else:
                out[position:position + 2] = what.to_bytes(2, "big")
        elif kind == "any_byte" and out:
            out[where % len(out)] = what
        elif kind == "cut":
            del out[max(2, len(out) - where * max(1, len(out) // 1000)):]
        elif segments:
            marker, offset, length = segments[where % len(segments)]
            if kind == "stray_bytes":
                out[offset:offset] = what
            elif kind == "segment_length":
                out[offset + 2:offset + 4] = what.to_bytes(2, "big")
            elif kind == "drop_segment" and marker != 0xDA:
                del out[offset:offset + length]
            elif kind == "double_segment":
                out[offset:offset] = out[offset:offset + length]
            elif kind == "swap_segments":
                other_marker, other_offset, other_length = segments[what % len(segments)]
                first, second = sorted([(offset, length), (other_offset, other_length)])
                if first[0] + first[1] <= second[0] and 0xDA not in {marker, other_marker}:
                    a, b = bytes(out[first[0]:first[0] + first[1]]), bytes(out[second[0]:second[0] + second[1]])
                    out[second[0]:second[0] + second[1]] = a
                    out[first[0]:first[0] + first[1]] = b
    return bytes(out)


def process_as_the_app_does(tmp_path: Path, data: bytes) -> None:
    """What an upload and its job do with the bytes: sniff, check, read the headers, render."""
    fmt = processing.sniff(data[:processing.SNIFF_BYTES])
    if fmt is None:
        raise processing.unsupported()
    path = tmp_path / "upload"
    path.write_bytes(data)
    processing.check_structure(path, fmt)
    with processing.open_photo(path, fmt, MAX_PIXELS) as image:
        processing.photo_meta(image)
    rendition = processing.render_photo(data, fmt, MAX_PIXELS)
    for derivative in (rendition.large, rendition.thumb):
        served = Image.open(io.BytesIO(derivative))
        assert served.format == "JPEG" and not served.getexif() and "icc_profile" not in served.info


@FUZZ
@given(st.sampled_from(range(len(SEEDS))), st.lists(_mutation, min_size=1, max_size=4))
def test_damaged_real_photos_are_rendered_or_refused_never_an_error(tmp_path_factory, seed, mutations):
    data = mutated(SEEDS[seed], mutations)
    try:
        process_as_the_app_does(tmp_path_factory.mktemp("fuzz"), data)
    except MediaRejected as rejected:
        assert 400 <= rejected.status < 500 and rejected.code
