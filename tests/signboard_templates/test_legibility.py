"""Legibility: every template's name stands out from the board behind it (WCAG 2 contrast, at preview size)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageColor

from signboard_templates import rendering
from signboard_templates.catalogue import load_catalogue

CATALOGUE = load_catalogue()
# WCAG 2's minimum for normal text (1.4.3, AA); a sign read from across the street deserves no less.
MINIMUM_RATIO = 4.5
# The worst decile of the background behind the name: a few spotlight or frame pixels may fall short, not more.
WORST_SHARE = 0.10


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def name_contrast(template) -> float:  # noqa: ANN001
    """The contrast of the name's colour against the worst decile of the board's pixels behind the name."""
    category = CATALOGUE.category(template.category)
    size = rendering.board_pixels(template.default_width_m, template.default_height_m)
    board = rendering.draw_board(template, category, size)
    text = ImageColor.getrgb(template.text_colour)
    behind = board.image.crop(board.text_box).resize((120, 40), Image.Resampling.BOX)
    ratios = sorted(contrast_ratio(text, pixel) for pixel in behind.get_flattened_data())
    return ratios[int(len(ratios) * WORST_SHARE)]


def test_the_measure_tells_legible_from_illegible():
    assert contrast_ratio((255, 255, 255), (0, 0, 0)) == pytest.approx(21)
    assert contrast_ratio((0xC8, 0xA0, 0x48), (0x80, 0x80, 0x80)) < 2  # gold on grey brick
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("template", CATALOGUE.templates, ids=lambda t: t.id)
def test_every_templates_name_stands_out_from_its_board(template):
    assert name_contrast(template) >= MINIMUM_RATIO
