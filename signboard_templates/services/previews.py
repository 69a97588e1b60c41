"""Previews of a template with the shop's name, and a category's gallery: drawn once per distinct content and
kept in a process-wide cache."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import threading

from PIL import Image, ImageDraw

from core.errors import ValidationFailed
from signboard_templates import rendering
from signboard_templates.catalogue import Template
from signboard_templates.services.templates import catalogue, clean_name, get_category, get_template, shop_name_problem

class PngCache:
    """The most recently used rendered images, by content key; shared by a process's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


preview_cache = PngCache(512)


@dataclasses.dataclass(frozen=True)
class PreviewSpec:
    template: Template
    shop_name: str
    width_m: float
    height_m: float

    @property
    def etag(self) -> str:
        return _content_key("preview", self.template.id, self.shop_name, f"{self.width_m:g}", f"{self.height_m:g}")


def _content_key(*parts: str) -> str:
    material = "\x1f".join((rendering.RENDERER_VERSION, catalogue().version, *parts))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def preview_spec(template_id: str, shop_name: str, width_m: float | None = None,
                 height_m: float | None = None) -> PreviewSpec:
    template = get_template(template_id)
    problem = shop_name_problem(shop_name)
    if problem:
        raise ValidationFailed(problem, code="invalid_shop_name", details={"fields": {"shop_name": [problem]}})
    return PreviewSpec(template, clean_name(shop_name), width_m or template.default_width_m,
                       height_m or template.default_height_m)


def preview_png(spec: PreviewSpec) -> bytes:
    """The preview image, drawn once per distinct content and then served from the cache."""
    cached = preview_cache.get(spec.etag)
    if cached is None:
        category = get_category(spec.template.category)
        cached = rendering.png_bytes(rendering.render(spec.template, category, spec.shop_name, spec.width_m,
                                                      spec.height_m))
        preview_cache.put(spec.etag, cached)
    return cached


GALLERY_COLUMNS = 3
GALLERY_CELL = (300, 210)
GALLERY_BOARD = (280, 160)


def gallery_etag(category_code: str, shop_name: str | None) -> str:
    category = get_category(category_code)
    return _content_key("gallery", category.code, shop_name or category.sample_name)


def gallery_png(category_code: str, shop_name: str | None = None) -> bytes:
    """One picture of every template in a category, numbered, for the mini-program's picker."""
    key = gallery_etag(category_code, shop_name)
    cached = preview_cache.get(key)
    if cached is not None:
        return cached
    category = get_category(category_code)
    name = clean_name(shop_name) if shop_name else category.sample_name
    templates = catalogue().in_category(category.code)
    rows = -(-len(templates) // GALLERY_COLUMNS)
    cell_w, cell_h = GALLERY_CELL
    sheet = Image.new("RGB", (cell_w * GALLERY_COLUMNS, cell_h * rows), "#F4F6F9")
    draw = ImageDraw.Draw(sheet)
    label_font = rendering.font("regular", 16)
    for index, template in enumerate(templates):
        row, column = divmod(index, GALLERY_COLUMNS)
        board = rendering.render(template, category, name, template.default_width_m, template.default_height_m,
                                 long_side=480)
        board.thumbnail(GALLERY_BOARD, Image.Resampling.LANCZOS)
        x = column * cell_w + (cell_w - board.width) // 2
        y = row * cell_h + 10 + (GALLERY_BOARD[1] - board.height) // 2
        sheet.paste(board, (x, y))
        draw.text((column * cell_w + cell_w / 2, row * cell_h + 10 + GALLERY_BOARD[1] + 18),
                  f"{index + 1:02d} {template.name}", font=label_font, fill="#1F2933", anchor="mm")
    png = rendering.png_bytes(sheet)
    preview_cache.put(key, png)
    return png
