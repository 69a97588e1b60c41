"""Public copies of photos: faces and licence plates blurred in the boxes a moderator drew.

The copy is made from the large rendition, which already has no metadata and is turned the way the
moderator saw it. Boxes are fractions of the picture's width and height, so that they fit any rendition.
"""

from __future__ import annotations

import dataclasses
import io

from PIL import Image, ImageFilter

from media.processing import THUMB_EDGE, encode_jpeg, shrunk

# Relative to the box's shorter side, with a floor: a number plate's characters or a face's features
# (a few pixels to tens of pixels across) are smeared over several of their own widths.
BLUR_RADIUS_SHARE = 0.25
MIN_BLUR_RADIUS = 12
# A blurred box is widened by this share of its size each way, so that its edge does not show the outline
# of what it hides.
MARGIN_SHARE = 0.1


@dataclasses.dataclass(frozen=True)
class BlurredCopy:
    large: bytes
    thumb: bytes
    width: int
    height: int


def pixel_box(box: list[float] | tuple[float, ...], width: int, height: int) -> tuple[int, int, int, int]:
    """A box of fractions [x, y, w, h] as pixel bounds (left, top, right, bottom) inside the picture, margin added."""
    x, y, w, h = box
    margin_x, margin_y = w * MARGIN_SHARE, h * MARGIN_SHARE
    left, top = max(0, int((x - margin_x) * width)), max(0, int((y - margin_y) * height))
    right = min(width, int(round((x + w + margin_x) * width)))
    bottom = min(height, int(round((y + h + margin_y) * height)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def blur_boxes(image: Image.Image, boxes: list[list[float]]) -> Image.Image:
    """A copy of ``image`` with each box blurred beyond reading."""
    blurred = image.copy()
    for box in boxes:
        bounds = pixel_box(box, image.width, image.height)
        region = blurred.crop(bounds)
        radius = max(MIN_BLUR_RADIUS, BLUR_RADIUS_SHARE * min(region.width, region.height))
        blurred.paste(region.filter(ImageFilter.GaussianBlur(radius)), bounds[:2])
    return blurred


def blurred_copy(large_jpeg: bytes, boxes: list[list[float]]) -> BlurredCopy:
    """The public large and thumbnail JPEGs of a photo's large rendition, blurred in ``boxes``."""
    with Image.open(io.BytesIO(large_jpeg)) as source:
        image = blur_boxes(source.convert("RGB"), boxes)
    return BlurredCopy(large=encode_jpeg(image), thumb=encode_jpeg(shrunk(image, THUMB_EDGE)), width=image.width,
                       height=image.height)
