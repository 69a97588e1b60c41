"""The catalogue's templates and categories, and what a shop name and a board's size may be."""

from __future__ import annotations

import unicodedata

from core.errors import NotFound
from signboard_templates import rendering
from signboard_templates.catalogue import Catalogue, Category, Template, load_catalogue

MAX_NAME_LENGTH = 20
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def catalogue() -> Catalogue:
    return load_catalogue()


def get_template(template_id: str) -> Template:
    template = catalogue().template(template_id)
    if template is None:
        raise NotFound("招牌模板不存在。", code="template_not_found")
    return template


def get_category(code: str) -> Category:
    category = catalogue().category(code)
    if category is None:
        raise NotFound("业态分类不存在。", code="category_not_found")
    return category


def shop_name_problem(name: str) -> str | None:
    """Why a shop name cannot go on a signboard, in plain Chinese; None when it can."""
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        return "店名不能为空。"
    if len(name.strip()) > MAX_NAME_LENGTH:
        return f"店名不能超过 {MAX_NAME_LENGTH} 个字符。"
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in name):
        return "店名含有控制字符或不可见字符。"
    missing = rendering.undrawable(name)
    if missing:
        listed = "、".join(f"“{char}”（U+{ord(char):04X}）" for char in missing)
        return f"店名含有招牌字体无法显示的字符：{listed}，请删去或换用常用汉字、字母或数字。"
    return None


def sign_proportion_problem(width_m: float, height_m: float) -> str | None:
    """Why a board of this size cannot be previewed, in plain Chinese; None when it can.

    Every place that takes a sign's size for a sign that will be previewed refuses what this refuses, so that no
    accepted application has a preview link that answers 422.
    """
    if max(width_m / height_m, height_m / width_m) > rendering.MAX_ASPECT_RATIO:
        return f"招牌宽高比不能超过 {rendering.MAX_ASPECT_RATIO}:1。"
    return None


def clean_name(name: str) -> str:
    """A shop or licence name as it is stored, drawn and compared: NFC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).split())
