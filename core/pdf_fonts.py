"""Noto Sans CJK for Chromium's PDF: cut down to the page's characters and given TrueType outlines.

Chromium's PDF writer (Skia) embeds a font as a real CID font (Type 0, subsetted, searchable) only when its
outlines are TrueType (``glyf``); Noto Sans CJK's outlines are CFF (an OpenType ``.otf``), which Skia draws as
Type 3 fonts instead — a hundred and more of them, a bitmap-like procedure per glyph that viewers select and
search poorly. So before each print the two weights are subsetted to the characters of the page (keeping the
layout features: the ``locl`` forms for ``lang="zh-CN"`` among them) and their cubic outlines converted to
quadratic ones: a few hundred glyphs, and Skia subsets them further as it embeds them.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import cvttf_NotoSansCJK_Bold
import cvttf_NotoSansCJK_Regular
from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

# fontTools reports every table it subsets at INFO: a dozen lines a print, of no use in the application's logs.
logging.getLogger("fontTools").setLevel(logging.WARNING)
# Noto Sans CJK (regular and bold) from the project's Python install: no system font is needed. Its family is named
# TC, but each face holds every region's glyph forms; a page in lang="zh-CN" gets the mainland ones (locl).
FONT_FILES = (cvttf_NotoSansCJK_Regular.get_TTF_path(), cvttf_NotoSansCJK_Bold.get_TTF_path())
FONT_FAMILY = "Noto Sans CJK TC"
# How far (in font units of 1000 an em) a quadratic curve may stray from the cubic it replaces.
MAX_CURVE_ERROR = 1.0
# maxp version 1.0 fields that only hinted TrueType fonts use: none here.
_HINTING_LIMITS = ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs", "maxStackElements",
                   "maxSizeOfInstructions", "maxComponentElements")


def _options() -> subset.Options:
    options = subset.Options()  # fontTools' layout features: the regional forms (locl) among them, not the alternates
    options.name_IDs = ["*"]  # the family name fontconfig and the page's CSS know it by
    options.notdef_outline = True
    return options


def _to_truetype(font: TTFont) -> None:
    """CFF outlines → TrueType (glyf) outlines, in place."""
    glyph_set, order = font.getGlyphSet(), font.getGlyphOrder()
    glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, MAX_CURVE_ERROR, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"], font["loca"] = glyf, newTable("loca")
    for table in ("CFF ", "VORG"):  # VORG gives vertical origins of CFF fonts only
        if table in font:
            del font[table]
    maxp = font["maxp"]
    maxp.tableVersion, maxp.maxZones = 0x00010000, 1
    for field in _HINTING_LIMITS:
        setattr(maxp, field, 0)
    font["post"].formatType = 3.0  # no glyph names: a PDF has no use for them
    font.sfntVersion = "\0\1\0\0"


@functools.lru_cache(maxsize=8)
def subset_font(source: str, characters: frozenset[str]) -> bytes:
    """The font at ``source`` with the glyphs of ``characters``, as TrueType; a report printed again (previewed,
    then downloaded) is cut once."""
    font = TTFont(source, lazy=True)
    subsetter = subset.Subsetter(_options())
    subsetter.populate(text="".join(sorted(characters)))
    subsetter.subset(font)
    _to_truetype(font)
    data = io.BytesIO()
    font.save(data)
    font.close()
    return data.getvalue()


def write_subsets(text: str, directory: Path) -> list[Path]:
    """Each weight of Noto Sans CJK with the glyphs ``text`` needs, as a TrueType font in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in FONT_FILES:
        path = directory / f"{Path(source).stem}.ttf"
        path.write_bytes(subset_font(source, frozenset(text)))
        written.append(path)
    return written
