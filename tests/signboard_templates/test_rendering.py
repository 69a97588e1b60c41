"""Previews: every template fits short, long and mixed names on the board, in real CJK glyphs."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from signboard_templates import rendering
from signboard_templates.catalogue import load_catalogue

CATALOGUE = load_catalogue()
NAMES = {"short": "老王", "long": "青岛市市南区老王海鲜大酒楼总店", "mixed": "Starbucks 星巴克咖啡"}


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


@pytest.mark.parametrize("template", CATALOGUE.templates, ids=lambda t: t.id)
def test_every_template_renders_every_kind_of_name_inside_its_text_box(template):
    category = CATALOGUE.category(template.category)
    size = rendering.board_pixels(template.default_width_m, template.default_height_m, 480)
    for kind, name in NAMES.items():
        blank = rendering.draw_board(template, category, size)
        board = rendering.draw_board(template, category, size)
        rendering.draw_name(board, template, name)
        changed = ImageChops.difference(blank.image, board.image).getbbox()
        assert changed is not None, f"{kind}: nothing drawn"
        # On the pixels: every pixel the name changed lies inside the text box (margins and logo area kept).
        assert _inside(changed, blank.text_box), f"{kind}: ink {changed} leaves the text box {blank.text_box}"
        width, height = changed[2] - changed[0], changed[3] - changed[1]
        box_w, box_h = blank.text_box[2] - blank.text_box[0], blank.text_box[3] - blank.text_box[1]
        # Fitted, not lost: the name fills the box in at least one direction.
        assert width >= 0.5 * box_w or height >= 0.5 * box_h, f"{kind}: {width}x{height} in {box_w}x{box_h}"


def test_two_names_render_differently_in_real_glyphs():
    template = CATALOGUE.template("retail-01")
    category = CATALOGUE.category("retail")
    first = rendering.render(template, category, "青岛啤酒", 4, 1, 400)
    second = rendering.render(template, category, "崂山矿泉", 4, 1, 400)
    assert ImageChops.difference(first, second).getbbox() is not None
    # A font without CJK draws one identical box per character: distinct characters must differ.
    glyphs = [rendering.font("bold", 64).getmask(char) for char in "青岛啤酒"]
    assert len({bytes(glyph) for glyph in glyphs}) == 4
    assert all(glyph.getbbox() for glyph in glyphs)


@pytest.mark.parametrize("width_m, height_m", [(6, 0.9), (3, 1.2), (0.7, 2.4), (12, 0.6)])
def test_the_picture_has_the_board_aspect_ratio(width_m, height_m):
    width, height = rendering.board_pixels(width_m, height_m)
    assert abs(width / height - width_m / height_m) < 0.02 * (width_m / height_m)
    assert min(width, height) >= rendering.MIN_SHORT_SIDE_PX


def test_a_long_name_on_a_short_board_wraps_onto_two_lines():
    template = CATALOGUE.template("catering-07")
    board = rendering.draw_board(template, CATALOGUE.category("catering"), rendering.board_pixels(2.0, 1.2))
    ink = rendering.draw_name(board, template, "青岛市市南区老王海鲜大酒楼总店")
    one_line_height = rendering.font("bold", 40).getbbox("青")[3]
    assert ink[3] - ink[1] > one_line_height


def test_an_upright_board_stacks_the_characters():
    template = CATALOGUE.template("leisure-17")
    board = rendering.draw_board(template, CATALOGUE.category("leisure"), rendering.board_pixels(0.7, 2.4))
    assert board.upright
    ink = rendering.draw_name(board, template, "悦动健身")
    assert ink[3] - ink[1] > 2 * (ink[2] - ink[0])


# Characters whose glyph forms differ between the mainland (SC) and Taiwan (TC) standards in Noto Sans CJK. (直, 说
# and 写, named in the issue, are drawn alike by both faces of this font version: the first assertion below would
# fail for them.)
REGIONAL_FORMS = "骨令角递次反"


def _reference_glyph(family: str, char: str, weight: int) -> Image.Image:
    """The glyph drawn straight from one face of the font file, found by its name, as a normalised mask."""
    index = next(i for i in range(5) if ImageFont.truetype(rendering.FONT_FILE, 10, index=i).getname()[0] == family)
    face = ImageFont.truetype(rendering.FONT_FILE, 200, index=index)
    face.set_variation_by_axes([weight])
    mask = Image.new("L", (260, 260), 0)
    ImageDraw.Draw(mask).text((130, 130), char, font=face, fill=255, anchor="mm")
    return _normalised(mask)


def _normalised(mask: Image.Image) -> Image.Image:
    return mask.crop(mask.getbbox()).resize((96, 96), Image.Resampling.BILINEAR).point(lambda v: 255 if v > 127 else 0)


def _mismatch(first: Image.Image, second: Image.Image) -> float:
    return sum(1 for v in ImageChops.difference(first, second).get_flattened_data() if v) / (96 * 96)


@pytest.mark.parametrize("char", REGIONAL_FORMS)
def test_a_preview_draws_the_mainland_glyph_forms(char):
    template = CATALOGUE.template("catering-03")  # flat, unlit, no shadow: the name's ink alone changes pixels
    category = CATALOGUE.category(template.category)
    size = rendering.board_pixels(1.2, 1.2, 480)
    blank = rendering.draw_board(template, category, size)
    board = rendering.draw_board(template, category, size)
    rendering.draw_name(board, template, char)
    ink = ImageChops.difference(blank.image, board.image).convert("L").point(lambda v: 255 if v > 40 else 0)
    drawn = _normalised(ink)
    weight = rendering.WEIGHTS[template.typeface_weight]
    simplified, traditional = _reference_glyph("Noto Sans CJK SC", char, weight), _reference_glyph(
        "Noto Sans CJK TC", char, weight)
    # The two regions' forms really differ, so the comparison below can tell which one was drawn.
    assert _mismatch(simplified, traditional) > 0.08
    assert _mismatch(drawn, simplified) < 0.5 * _mismatch(drawn, traditional)
    assert _mismatch(drawn, simplified) < 0.05
