"""The signboard catalogue: 108 templates in 6 categories, kept as versioned JSON data files.

The files under ``data/`` are the source of truth; this module loads them, checks every
field, and answers queries. No Flask here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
TEMPLATES_DIR = DATA_DIR / "templates"
SCHEMA_VERSION = 1
TEMPLATES_PER_CATEGORY = 18
MOUNTS = ("lintel", "projecting")
_COLOUR = re.compile(r"^#[0-9A-F]{6}$")
_ID = re.compile(r"^[a-z_]+-\d{2}$")


class CatalogueError(ValueError):
    """The data files do not describe a valid catalogue; the message lists every problem."""


@dataclasses.dataclass(frozen=True)
class Category:
    code: str
    name: str
    emblem: str
    sample_name: str
    position: int


@dataclasses.dataclass(frozen=True)
class SizeRules:
    height_min_m: float
    height_max_m: float
    max_thickness_m: float
    min_clearance_m: float


@dataclasses.dataclass(frozen=True)
class Template:
    id: str
    category: str
    name: str
    layout: str
    background: str
    text_colour: str
    accent: str
    typeface_weight: str
    material: str
    lighting: str
    mount: str
    margin_x: float
    margin_y: float
    size_rules: SizeRules
    default_width_m: float
    default_height_m: float

    @property
    def design_key(self) -> tuple[str, ...]:
        """What makes two designs look different: the layout and its three colours."""
        return (self.layout, self.background, self.text_colour, self.accent)


@dataclasses.dataclass(frozen=True)
class Catalogue:
    version: str
    categories: tuple[Category, ...]
    templates: tuple[Template, ...]
    layouts: dict[str, str]
    materials: dict[str, str]
    lighting: dict[str, str]
    weights: dict[str, str]

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def template(self, template_id: str) -> Template | None:
        return self._by_id.get(template_id)

    @functools.cached_property
    def _by_id(self) -> dict[str, Template]:
        return {t.id: t for t in self.templates}

    def in_category(self, code: str) -> list[Template]:
        return [t for t in self.templates if t.category == code]

    def search(self, *, category: str | None = None, material: str | None = None,
               lighting: str | None = None) -> list[Template]:
        return [t for t in self.templates
                if (category is None or t.category == category)
                and (material is None or t.material == material)
                and (lighting is None or t.lighting == lighting)]

    def facets(self, *, category: str | None = None, material: str | None = None,
               lighting: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Counts per value of each filter, given the other two filters (the usual faceted search)."""
        filters = {"category": category, "material": material, "lighting": lighting}
        labels = {"category": {c.code: c.name for c in self.categories}, "material": self.materials,
                  "lighting": self.lighting}
        result: dict[str, list[dict[str, Any]]] = {}
        for facet, names in labels.items():
            others = {key: value for key, value in filters.items() if key != facet}
            counts = Counter(getattr(t, facet) for t in self.search(**others))
            result[facet] = [{"value": value, "label": label, "count": counts.get(value, 0)}
                             for value, label in names.items()]
        return result


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _number(raw: dict[str, Any], key: str, where: str, problems: list[str]) -> float:
    value = raw.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        problems.append(f"{where}: {key} must be a positive number")
        return 0.0
    return float(value)


def _template(raw: dict[str, Any], category: str, meta: dict[str, Any], problems: list[str]) -> Template:
    where = f"template {raw.get('id', '?')}"
    for key, choices in (("layout", meta["layouts"]), ("material", meta["materials"]),
                         ("lighting", meta["lighting"]), ("typeface_weight", meta["weights"]), ("mount", MOUNTS)):
        if raw.get(key) not in choices:
            problems.append(f"{where}: {key} {raw.get(key)!r} is not one of {sorted(choices)}")
    if not _ID.match(str(raw.get("id", ""))) or not str(raw.get("id", "")).startswith(category + "-"):
        problems.append(f"{where}: id must be '{category}-NN'")
    if not str(raw.get("name", "")).strip():
        problems.append(f"{where}: name is required")
    colours = raw.get("colours", {})
    for key in ("background", "text", "accent"):
        if not _COLOUR.match(str(colours.get(key, ""))):
            problems.append(f"{where}: colours.{key} must be #RRGGBB")
    if colours.get("background") == colours.get("text"):
        problems.append(f"{where}: text and background colours are the same")
    margins = raw.get("margins", {})
    for key in ("horizontal", "vertical"):
        if not 0 < margins.get(key, 0) < 0.3:
            problems.append(f"{where}: margins.{key} must be between 0 and 0.3 of the board")
    rules_raw = raw.get("size_rules", {})
    size_rules = SizeRules(*(_number(rules_raw, key, where, problems) for key in
                             ("height_min_m", "height_max_m", "max_thickness_m", "min_clearance_m")))
    if size_rules.height_min_m > size_rules.height_max_m:
        problems.append(f"{where}: height_min_m is above height_max_m")
    default = raw.get("default_size", {})
    width, height = _number(default, "width_m", where, problems), _number(default, "height_m", where, problems)
    if not size_rules.height_min_m <= height <= size_rules.height_max_m:
        problems.append(f"{where}: the default height breaks the template's own size rules")
    return Template(
        id=str(raw.get("id")), category=category, name=str(raw.get("name", "")).strip(), layout=str(raw.get("layout")),
        background=str(colours.get("background")), text_colour=str(colours.get("text")),
        accent=str(colours.get("accent")), typeface_weight=str(raw.get("typeface_weight")),
        material=str(raw.get("material")), lighting=str(raw.get("lighting")), mount=str(raw.get("mount")),
        margin_x=float(margins.get("horizontal", 0)), margin_y=float(margins.get("vertical", 0)),
        size_rules=size_rules, default_width_m=width, default_height_m=height)


def build_catalogue(meta: dict[str, Any], files: Iterable[dict[str, Any]]) -> Catalogue:
    """A checked catalogue from the category file and the per-category template files."""
    problems: list[str] = []
    categories = tuple(Category(**raw) for raw in sorted(meta["categories"], key=lambda c: c["position"]))
    known = {c.code for c in categories}
    templates: list[Template] = []
    versions = {meta["version"]}
    for data in files:
        if data.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"{data.get('category')}: schema_version must be {SCHEMA_VERSION}")
        if data.get("category") not in known:
            problems.append(f"unknown category file {data.get('category')!r}")
            continue
        versions.add(str(data.get("version")))
        templates.extend(_template(raw, data["category"], meta, problems) for raw in data.get("templates", []))
    per_category = Counter(t.category for t in templates)
    for code in sorted(known):
        if per_category[code] != TEMPLATES_PER_CATEGORY:
            problems.append(f"category {code} has {per_category[code]} templates, not {TEMPLATES_PER_CATEGORY}")
    for label, key in (("id", lambda t: t.id), ("name", lambda t: (t.category, t.name)),
                       ("design", lambda t: t.design_key)):
        repeated = [value for value, n in Counter(map(key, templates)).items() if n > 1]
        if repeated:
            problems.append(f"repeated template {label}: {repeated}")
    if problems:
        raise CatalogueError("; ".join(problems))
    digest = hashlib.sha256(json.dumps([meta, *[dataclasses.asdict(t) for t in templates]],
                                       sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
    return Catalogue(version=f"{'+'.join(sorted(versions))}-{digest}", categories=categories,
                     templates=tuple(templates), layouts=dict(meta["layouts"]), materials=dict(meta["materials"]),
                     lighting=dict(meta["lighting"]), weights=dict(meta["weights"]))


@functools.cache
def load_catalogue() -> Catalogue:
    meta = _read(DATA_DIR / "categories.json")
    return build_catalogue(meta, (_read(path) for path in sorted(TEMPLATES_DIR.glob("*.json"))))
