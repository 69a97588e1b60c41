"""Previews: every template fits short, long and mixed names on the board, in real CJK glyphs."""

from __future__ import annotations

import pytest
from PIL import ImageChops

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
