"""Signboard previews drawn with Pillow in Noto Sans CJK SC (installed as a Python dependency).

Shop signs hang on the mainland, so names are drawn in the Simplified Chinese face of the collection: its glyph
forms (骨, 直, 说, 令, 写, 角…) are the mainland's, where the TC face draws Taiwan's.

A preview is drawn in two stages: the board (everything that depends on the template and
the size only) and then the shop's name, fitted into the board's text box. The name is
shrunk, or wrapped onto two lines (two columns on an upright board), so that its ink never
leaves the text box, which already excludes the template's margins and logo area.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math

from pathlib import Path

import manimgx_fonts_cjk
from fontTools.ttLib import TTCollection
from PIL import Image, ImageDraw, ImageFont

from signboard_templates.catalogue import Category, Template

# Bump when the drawing changes, so that cached previews and ETags change with it.
RENDERER_VERSION = "2"
# One variable-weight collection of the JP, KR, SC, TC and HK faces.
FONT_FILE = str(Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc")
FONT_FAMILY = "Noto Sans CJK SC"
WEIGHTS = {"regular": 400, "bold": 700}
LONG_SIDE_PX = 960
MIN_SHORT_SIDE_PX = 96
MAX_SIDE_PX = 3200
# The longest side over the shortest that a board may have and still be drawn readably within MAX_SIDE_PX.
MAX_ASPECT_RATIO = 30
_REFERENCE_SIZE = 100
_LINE_GAP = 0.15
_WRAP_GAIN = 1.25
Box = tuple[int, int, int, int]


def face_index(family: str) -> int:
    """The index in the collection of the face named ``family`` (e.g. "Noto Sans CJK SC")."""
    return _face_indexes()[family]


@functools.cache
def _face_indexes() -> dict[str, int]:
    names: dict[str, int] = {}
    index = 0
    while True:
        try:
            names[ImageFont.truetype(FONT_FILE, 10, index=index).getname()[0]] = index
        except OSError:
            return names
        index += 1


def collection_font(family: str, weight: int, size: int) -> ImageFont.FreeTypeFont:
    """A face of the collection at a weight of its axis (400 regular, 700 bold)."""
    face = ImageFont.truetype(FONT_FILE, max(1, size), index=face_index(family),
                              layout_engine=ImageFont.Layout.BASIC)
    face.set_variation_by_axes([weight])
    return face


@functools.cache
def _character_map() -> frozenset[int]:
    with TTCollection(FONT_FILE, lazy=True) as collection:
        return frozenset(collection.fonts[face_index(FONT_FAMILY)]["cmap"].getBestCmap())


def undrawable(text: str) -> list[str]:
    """The characters of ``text`` the signboard font has no glyph for (emoji, rare ideographs), each once."""
    drawable = _character_map()
    return list(dict.fromkeys(char for char in text if ord(char) not in drawable))


@functools.lru_cache(maxsize=256)
def font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    return collection_font(FONT_FAMILY, WEIGHTS[weight], size)


def board_pixels(width_m: float, height_m: float, long_side: int = LONG_SIDE_PX) -> tuple[int, int]:
    """Pixel size with the board's own aspect ratio: the long side ``long_side``, the short one readable."""
    scale = long_side / max(width_m, height_m)
    if min(width_m, height_m) * scale < MIN_SHORT_SIDE_PX:
        scale = MIN_SHORT_SIDE_PX / min(width_m, height_m)
    scale = min(scale, MAX_SIDE_PX / max(width_m, height_m))
    return max(1, round(width_m * scale)), max(1, round(height_m * scale))


@dataclasses.dataclass
class Board:
    image: Image.Image
    text_box: Box
    upright: bool
    shadow: int


def _inset(box: Box, dx: float, dy: float) -> Box:
    x0, y0, x1, y1 = box
    return round(x0 + dx), round(y0 + dy), round(x1 - dx), round(y1 - dy)


def _emblem(draw: ImageDraw.ImageDraw, box: Box, template: Template, emblem: str, *, round_mark: bool) -> None:
    """The placeholder for the merchant's logo: the category's mark, in a disc or on the accent block."""
    x0, y0, x1, y1 = box
    side = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if round_mark:
        draw.ellipse((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), fill=template.accent,
                     outline=template.text_colour, width=max(1, side // 30))
    draw.text((cx, cy), emblem, font=font("bold", max(1, int(side * 0.55))), fill=template.background, anchor="mm")


def _spotlights(image: Image.Image, template: Template) -> None:
    width, height = image.size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    count = max(2, width // 240) if width >= height else 1
    unit = max(2, min(width, height) // 14)
    for i in range(count):
        x = width * (i + 0.5) / count
        draw.ellipse((x - unit * 3, -unit * 2, x + unit * 3, unit * 4), fill=(255, 255, 255, 46))
        draw.rectangle((x - unit, 0, x + unit, unit // 2), fill=(60, 60, 60, 255))
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


def _glow(image: Image.Image, box: Box) -> None:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    x0, y0, x1, y1 = box
    ImageDraw.Draw(overlay).ellipse((x0 - (x1 - x0) * 0.1, y0, x1 + (x1 - x0) * 0.1, y1), fill=(255, 255, 255, 38))
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


def draw_board(template: Template, category: Category, size: tuple[int, int]) -> Board:
    """Everything but the name: background, layout furniture, logo area and lighting."""
    width, height = size
    emblem = category.emblem
    image = Image.new("RGB", size, template.background)
    draw = ImageDraw.Draw(image)
    upright = height > width * 1.2
    short = min(width, height)
    mx, my = template.margin_x * width, template.margin_y * height
    full: Box = (0, 0, width, height)
    layout = template.layout
    if layout == "horizontal_band":
        strip = max(2, round(height * 0.06))
        draw.rectangle((0, 0, width, strip), fill=template.accent)
        draw.rectangle((0, height - strip, width, height), fill=template.accent)
        text_box = _inset((0, strip, width, height - strip), mx, my)
    elif layout == "logo_left":
        side = round(min(height - 2 * my, width * 0.3))
        logo = (round(mx), round((height - side) / 2), round(mx) + side, round((height + side) / 2))
        _emblem(draw, logo, template, emblem, round_mark=True)
        text_box = (logo[2] + round(mx), round(my), round(width - mx), round(height - my))
    elif layout == "double_row":
        rule_y = round(height * 0.68)
        draw.rectangle((mx, rule_y, width - mx, rule_y + max(2, height // 40)), fill=template.accent)
        sub = font(template.typeface_weight, max(1, round(height * 0.16)))
        draw.text((width / 2, (rule_y + height) / 2 + height * 0.01), " · ".join(category.name), font=sub,
                  fill=template.accent, anchor="mm")
        text_box = (round(mx), round(my), round(width - mx), rule_y - round(height * 0.05))
    elif layout == "lightbox":
        border = max(3, round(short * 0.06))
        draw.rounded_rectangle(full, radius=border * 2, fill=template.accent)
        inner = _inset(full, border, border)
        draw.rounded_rectangle(inner, radius=border, fill=template.background)
        text_box = _inset(inner, mx, my)
    elif layout == "channel_letters":
        joint = max(1, short // 60)
        for y in range(0, height, max(4, short // 5)):
            draw.line((0, y, width, y), fill=template.accent, width=joint)
        rail = max(3, round(short * 0.07))
        draw.rectangle((mx / 2, (height - rail) / 2, width - mx / 2, (height + rail) / 2), fill=template.accent)
        text_box = _inset(full, mx, my)
    elif layout == "framed":
        outer = max(3, round(short * 0.05))
        draw.rectangle(full, outline=template.accent, width=outer)
        inner_frame = _inset(full, outer * 2, outer * 2)
        draw.rectangle(inner_frame, outline=template.accent, width=max(1, outer // 3))
        for cx, cy in ((0, 0), (width, 0), (0, height), (width, height)):
            draw.rectangle((cx - outer * 2, cy - outer * 2, cx + outer * 2, cy + outer * 2), fill=template.accent)
        text_box = _inset(inner_frame, mx, my)
    elif layout == "split_band":
        block = (0, 0, round(width * 0.22), height) if not upright else (0, 0, width, round(height * 0.22))
        draw.rectangle(block, fill=template.accent)
        _emblem(draw, _inset(block, short * 0.12, short * 0.12), template, emblem, round_mark=False)
        rest = (block[2], 0, width, height) if not upright else (0, block[3], width, height)
        draw.rectangle((rest[0], height - max(2, height // 30), width, height), fill=template.accent)
        text_box = _inset(rest, mx, my)
    else:  # vertical
        cap = max(4, round(height * 0.05))
        draw.rectangle((0, 0, width, cap), fill=template.accent)
        draw.rectangle((0, height - cap, width, height), fill=template.accent)
        draw.rectangle(_inset(full, width * 0.06, cap * 1.5), outline=template.text_colour, width=max(1, short // 80))
        text_box = _inset((0, cap, width, height - cap), mx, my)
    if template.lighting == "front_lit":
        _spotlights(image, template)
    elif template.lighting == "internal":
        _glow(image, text_box)
    shadow = max(1, round(short * 0.015)) if template.lighting == "halo_lit" or layout == "channel_letters" else 0
    return Board(image=image, text_box=text_box, upright=upright, shadow=shadow)


@dataclasses.dataclass(frozen=True)
class _Placed:
    text: str
    x: float
    y: float


def _split_candidates(name: str) -> list[list[str]]:
    if " " in name.strip():
        words = name.split()
        return [[" ".join(words[:i]), " ".join(words[i:])] for i in range(1, len(words))]
    middle = len(name) // 2
    cuts = [i for i in (middle, middle - 1, middle + 1) if 0 < i < len(name)
            and not (name[i - 1].isascii() and name[i - 1].isalnum() and name[i].isascii() and name[i].isalnum())]
    return [[name[:i], name[i:]] for i in cuts]


def _line_layout(lines: list[str], weight: str, size: int, box: Box, align: str) -> tuple[list[_Placed], Box] | None:
    """Where each line goes at this font size, or None when the lines do not fit in the box."""
    face = font(weight, size)
    boxes = [face.getbbox(line) for line in lines]
    gap = round(size * _LINE_GAP)
    total = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    x0, y0, x1, y1 = box
    if total > y1 - y0 or max(b[2] - b[0] for b in boxes) > x1 - x0:
        return None
    top = y0 + ((y1 - y0) - total) // 2
    placed, ink = [], [x1, y1, x0, y0]
    for line, (left, upper, right, lower) in zip(lines, boxes, strict=True):
        x = x0 - left if align == "left" else x0 + ((x1 - x0) - (right - left)) // 2 - left
        placed.append(_Placed(line, x, top - upper))
        ink = [min(ink[0], x + left), min(ink[1], top), max(ink[2], x + right), max(ink[3], top + lower - upper)]
        top += lower - upper + gap
    return placed, (ink[0], ink[1], ink[2], ink[3])


def _largest_fitting(lines: list[str], weight: str, box: Box, align: str) -> tuple[int, list[_Placed], Box]:
    reference = font(weight, _REFERENCE_SIZE)
    widest = max(reference.getbbox(line)[2] - reference.getbbox(line)[0] for line in lines) or 1
    tall = sum(reference.getbbox(line)[3] - reference.getbbox(line)[1] for line in lines) or 1
    tall += _REFERENCE_SIZE * _LINE_GAP * (len(lines) - 1)
    size = max(1, math.floor(_REFERENCE_SIZE * min((box[2] - box[0]) / widest, (box[3] - box[1]) / tall)))
    while size > 1:
        fitted = _line_layout(lines, weight, size, box, align)
        if fitted is not None:
            return size, *fitted
        size -= max(1, size // 20)
    fitted = _line_layout(lines, weight, 1, box, align)
    return (1, *fitted) if fitted else (0, [], box)


def _horizontal(name: str, weight: str, box: Box, align: str) -> tuple[int, list[_Placed], Box]:
    best_size, best_placed, best_ink = _largest_fitting([name], weight, box, align)
    single = best_size
    for lines in _split_candidates(name) if len(name) >= 4 else []:
        size, placed, ink = _largest_fitting(lines, weight, box, align)
        if size >= single * _WRAP_GAIN and size > best_size:
            best_size, best_placed, best_ink = size, placed, ink
    return best_size, best_placed, best_ink


def _upright(name: str, weight: str, box: Box) -> tuple[int, list[_Placed], Box]:
    """Characters stacked top to bottom; a long name takes a second column, read right to left."""
    chars = [c for c in name if not c.isspace()]
    x0, y0, x1, y1 = box
    best: tuple[int, int] = (0, 1)
    for columns in (1, 2):
        per_column = math.ceil(len(chars) / columns)
        size = math.floor(min((x1 - x0) / (columns + 0.2 * (columns - 1)), (y1 - y0) / (per_column * 1.08)))
        if size > best[0] * (_WRAP_GAIN if columns > 1 else 1):
            best = (size, columns)
    size, columns = best
    while size > 1:
        face = font(weight, size)
        per_column = math.ceil(len(chars) / columns)
        pitch_x, pitch_y = size * 1.2, size * 1.08
        left = (x0 + x1) / 2 + pitch_x * (columns - 1) / 2
        top = y0 + ((y1 - y0) - pitch_y * per_column) / 2
        placed, ink = [], [x1, y1, x0, y0]
        for index, char in enumerate(chars):
            column, row = divmod(index, per_column)
            cx, cy = left - column * pitch_x, top + pitch_y * (row + 0.5)
            x_min, y_min, x_max, y_max = face.getbbox(char, anchor="mm")
            placed.append(_Placed(char, cx, cy))
            ink = [min(ink[0], cx + x_min), min(ink[1], cy + y_min), max(ink[2], cx + x_max), max(ink[3], cy + y_max)]
        if ink[0] >= x0 and ink[1] >= y0 and ink[2] <= x1 and ink[3] <= y1:
            return size, placed, (round(ink[0]), round(ink[1]), round(ink[2]), round(ink[3]))
        size -= max(1, size // 20)
    return 0, [], box


def draw_name(board: Board, template: Template, name: str) -> Box:
    """Draws the name into the board's text box; returns the box its ink (and shadow) covers."""
    x0, y0, x1, y1 = board.text_box
    box = (x0, y0, x1 - board.shadow, y1 - board.shadow)
    weight = template.typeface_weight
    draw = ImageDraw.Draw(board.image)
    if board.upright:
        size, placed, ink = _upright(name, weight, box)
        anchor = "mm"
    else:
        size, placed, ink = _horizontal(name, weight, box, "left" if template.layout == "logo_left" else "center")
        anchor = "la"
    if not placed:
        return ink
    face = font(weight, size)
    for item in placed:
        if board.shadow:
            draw.text((item.x + board.shadow, item.y + board.shadow), item.text, font=face, fill=template.accent,
                      anchor=anchor)
        draw.text((item.x, item.y), item.text, font=face, fill=template.text_colour, anchor=anchor)
    return ink[0], ink[1], ink[2] + board.shadow, ink[3] + board.shadow


def render(template: Template, category: Category, name: str, width_m: float, height_m: float,
           long_side: int = LONG_SIDE_PX) -> Image.Image:
    board = draw_board(template, category, board_pixels(width_m, height_m, long_side))
    draw_name(board, template, name)
    return board.image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()
