"""The catalogue: 108 valid templates kept as data files, 18 per category, visibly different designs."""

from __future__ import annotations

import copy
import json
from collections import Counter
from itertools import combinations

import pytest
from PIL import ImageChops, ImageStat

from signboard_templates import rendering
from signboard_templates.catalogue import (DATA_DIR, TEMPLATES_DIR, CatalogueError, build_catalogue,
                                           load_catalogue)


def _files() -> tuple[dict, list[dict]]:
    meta = json.loads((DATA_DIR / "categories.json").read_text(encoding="utf-8"))
    files = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(TEMPLATES_DIR.glob("*.json"))]
    return meta, files


def test_the_data_files_hold_108_valid_templates_18_per_category():
    catalogue = load_catalogue()
    assert len(catalogue.templates) == 108
    assert [c.name for c in catalogue.categories] == ["餐饮", "零售", "生活服务", "休闲娱乐", "医药健康", "教育文化"]
    assert Counter(t.category for t in catalogue.templates) == {c.code: 18 for c in catalogue.categories}
    for template in catalogue.templates:
        rules = template.size_rules
        assert rules.height_min_m <= template.default_height_m <= rules.height_max_m
        assert rules.max_thickness_m <= 0.3 and rules.min_clearance_m >= 2.0
    assert len({t.layout for t in catalogue.templates}) == 8
    assert catalogue.version.startswith("2026.12.1-")


@pytest.mark.parametrize("breakage, expected", [
    (lambda files: files[0]["templates"].pop(), "has 17 templates"),
    (lambda files: files[0]["templates"][0]["colours"].update(text="red"), "colours.text must be #RRGGBB"),
    (lambda files: files[0]["templates"][1].update(layout="blimp"), "layout 'blimp' is not one of"),
    (lambda files: files[0]["templates"][1]["colours"].update(files[0]["templates"][0]["colours"]) or
     files[0]["templates"][1].update(layout=files[0]["templates"][0]["layout"]), "repeated template design"),
    (lambda files: files[0]["templates"][2]["size_rules"].update(height_min_m=2.0), "height_min_m is above"),
])
def test_a_broken_data_file_is_refused_with_the_reason(breakage, expected):
    meta, files = _files()
    files = copy.deepcopy(files)
    breakage(files)
    with pytest.raises(CatalogueError, match=expected):
        build_catalogue(meta, files)


def test_designs_within_a_category_look_different():
    catalogue = load_catalogue()
    for category in catalogue.categories:
        images = {t.id: rendering.render(t, category, "青岛老店", 4.0, 1.0, long_side=200)
                  for t in catalogue.in_category(category.code)}
        for (a, image_a), (b, image_b) in combinations(images.items(), 2):
            difference = sum(ImageStat.Stat(ImageChops.difference(image_a, image_b)).mean) / 3
            assert difference > 8, f"{a} and {b} look alike"


def test_the_catalogue_api_filters_with_facets(client):
    response = client.get("/api/v1/signboard-templates?category=catering&lighting=internal")
    assert response.status_code == 200
    body = response.json
    assert body["total"] == len(body["templates"]) > 0
    assert all(t["category"] == "catering" and t["lighting"] == "internal" for t in body["templates"])
    categories = {f["value"]: f["count"] for f in body["facets"]["category"]}
    assert categories["catering"] == body["total"] and sum(categories.values()) > body["total"]
    lighting = {f["value"]: f["count"] for f in body["facets"]["lighting"]}
    assert sum(lighting.values()) == 18
    everything = client.get("/api/v1/signboard-templates").json
    assert everything["total"] == 108
    assert {f["label"] for f in everything["facets"]["material"]} >= {"铝塑板", "亚克力灯箱", "不锈钢字"}


def test_one_template_and_an_unknown_one(client):
    template = client.get("/api/v1/signboard-templates/healthcare-04").json
    assert template["category"] == "healthcare" and template["size_rules"]["height_max_m"] == 1.2
    assert template["sample_preview_url"].startswith("/api/v1/signboard-templates/healthcare-04/preview.png?")
    missing = client.get("/api/v1/signboard-templates/nope-01")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "template_not_found"


def test_categories_list_their_gallery(client):
    categories = client.get("/api/v1/signboard-categories").json
    assert [c["template_count"] for c in categories] == [18] * 6
    assert categories[0]["gallery_url"] == "/api/v1/signboard-categories/catering/gallery.png"
