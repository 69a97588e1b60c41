"""Public copies of photos: the boxes a moderator drew are blurred beyond reading, the rest is kept."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from media.redaction import blurred_copy, pixel_box

# A plate-sized box on a 640 × 480 picture, in fractions: [x, y, w, h].
PLATE_BOX = [0.25, 0.4, 0.3, 0.1]


def picture_with_text() -> bytes:
    """A street-like picture with black characters on a white plate where PLATE_BOX is."""
    image = Image.new("RGB", (640, 480), (90, 120, 150))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 160, 192, 352, 240
    draw.rectangle((left, top, right, bottom), fill=(255, 255, 255))
    for n in range(8):  # strokes like characters: what must not be readable
        x = left + 8 + n * 23
        draw.rectangle((x, top + 8, x + 3, bottom - 8), fill=(0, 0, 0))
        draw.rectangle((x, top + 8, x + 14, top + 11), fill=(0, 0, 0))
        draw.rectangle((x, bottom - 12, x + 14, bottom - 9), fill=(0, 0, 0))
    draw.rectangle((400, 60, 600, 140), fill=(200, 40, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def high_frequency_energy(image: Image.Image) -> float:
    """The mean of the picture's fine detail (itself less its 2-pixel blur): what makes strokes readable."""
    grey = image.convert("L")
    return ImageStat.Stat(ImageChops.difference(grey, grey.filter(ImageFilter.GaussianBlur(2)))).mean[0]


def test_the_box_is_blurred_beyond_reading_and_the_rest_is_kept():
    source = picture_with_text()
    copy = blurred_copy(source, [PLATE_BOX])
    original, blurred = Image.open(io.BytesIO(source)).convert("RGB"), Image.open(io.BytesIO(copy.large))
    assert blurred.size == original.size == (copy.width, copy.height)
    plate = (160, 192, 352, 240)
    before, after = original.crop(plate), blurred.crop(plate)
    assert ImageStat.Stat(_difference(before, after)).mean[0] > 10, "the box must change"
    # The strokes' fine detail is gone: nearly all of what made them readable is smoothed away.
    assert high_frequency_energy(before) > 20
    assert high_frequency_energy(after) < 0.05 * high_frequency_energy(before)
    # Outside the box (and its margin) the picture is the same, but for JPEG's own noise.
    untouched = (400, 60, 600, 140)
    assert ImageStat.Stat(_difference(original.crop(untouched), blurred.crop(untouched))).mean[0] < 3


def test_without_boxes_the_copy_is_the_picture_and_the_thumbnail_is_small():
    copy = blurred_copy(picture_with_text(), [])
    thumb = Image.open(io.BytesIO(copy.thumb))
    assert max(thumb.size) == 320
    assert not Image.open(io.BytesIO(copy.large)).getexif(), "no metadata in the public copy"


@pytest.mark.parametrize(("box", "expected"), [
    ([0.0, 0.0, 1.0, 1.0], (0, 0, 640, 480)),
    ([0.5, 0.5, 0.5, 0.5], (288, 216, 640, 480)),  # widened by a tenth each way, clipped to the picture
    ([0.999, 0.999, 0.0001, 0.0001], (639, 479, 640, 480)),  # never empty
])
def test_boxes_become_pixel_bounds_inside_the_picture(box, expected):
    assert pixel_box(box, 640, 480) == expected


def _difference(first: Image.Image, second: Image.Image) -> Image.Image:
    return ImageChops.difference(first.convert("L"), second.convert("L"))
