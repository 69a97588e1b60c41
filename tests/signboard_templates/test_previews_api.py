"""The preview and gallery endpoints: PNG of the right size, cached by content, 422 for bad names."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from PIL import Image

from signboard_templates import rendering
from signboard_templates.services import previews


def _image(response) -> Image.Image:  # noqa: ANN001
    return Image.open(io.BytesIO(response.data))


def test_a_preview_is_a_png_with_the_board_proportions_and_cache_headers(client):
    response = client.get("/api/v1/signboard-templates/catering-01/preview.png?shop_name=老王海鲜&width_m=6&height_m=1")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = _image(response)
    assert image.width / image.height == pytest.approx(6, rel=0.02)
    assert response.headers["ETag"] and "max-age" in response.headers["Cache-Control"]


def test_a_repeat_with_the_etag_is_304_and_draws_nothing(client, monkeypatch):
    url = "/api/v1/signboard-templates/retail-03/preview.png?shop_name=" + quote("邻里便利店")
    first = client.get(url)
    monkeypatch.setattr(rendering, "render", lambda *a, **k: pytest.fail("drew again"))
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"] and not again.data
    cached = client.get(url)
    assert cached.status_code == 200 and cached.data == first.data


def test_different_names_and_sizes_have_different_etags(client):
    base = "/api/v1/signboard-templates/retail-03/preview.png?shop_name="
    etags = {client.get(base + name).headers["ETag"] for name in ("甲店", "乙店", "甲店&width_m=3&height_m=1")}
    assert len(etags) == 3


def test_the_default_size_is_the_templates(client):
    image = _image(client.get("/api/v1/signboard-templates/education-17/preview.png?shop_name=书香"))
    assert image.height > image.width


@pytest.mark.parametrize("name", ["", "   ", "一二三四五六七八九十一二三四五六七八九十一", "老王\x07海鲜",
                                  "老王\u202e海鲜"])
def test_bad_names_get_422(client, name):
    response = client.get("/api/v1/signboard-templates/catering-01/preview.png?shop_name=" + quote(name))
    assert response.status_code == 422
    assert "shop_name" in response.json["error"]["details"]["fields"]["query"]


def test_a_twenty_character_name_is_fine(client):
    name = "一二三四五六七八九十一二三四五六七八九十"
    assert client.get("/api/v1/signboard-templates/catering-01/preview.png?shop_name=" + quote(name)).status_code == 200


@pytest.mark.parametrize("query", ["width_m=0&height_m=1", "width_m=40&height_m=1", "width_m=10&height_m=0.2"])
def test_impossible_sizes_get_422(client, query):
    response = client.get(f"/api/v1/signboard-templates/catering-01/preview.png?shop_name=x&{query}")
    assert response.status_code == 422


def test_an_unknown_template_is_404(client):
    assert client.get("/api/v1/signboard-templates/nope-99/preview.png?shop_name=x").status_code == 404


def test_each_category_has_a_gallery_of_its_18_templates(client):
    response = client.get("/api/v1/signboard-categories/healthcare/gallery.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = _image(response)
    assert image.size == (previews.GALLERY_CELL[0] * 3, previews.GALLERY_CELL[1] * 6)
    named = client.get("/api/v1/signboard-categories/healthcare/gallery.png?shop_name=" + quote("仁心药房"))
    assert named.headers["ETag"] != response.headers["ETag"]
    assert client.get("/api/v1/signboard-categories/nope/gallery.png").status_code == 404


@pytest.mark.parametrize("name, missing", [("🍺啤酒屋", ["🍺"]), ("老王🦐海鲜🦐🍺", ["🦐", "🍺"]),
                                           ("咖啡\U0002B81D", ["\U0002B81D"])])
def test_a_name_the_font_cannot_draw_is_refused_naming_the_characters(client, name, missing):
    for url in ("/api/v1/signboard-templates/catering-01/preview.png?shop_name=",
                "/api/v1/signboard-categories/catering/gallery.png?shop_name="):
        response = client.get(url + quote(name))
        assert response.status_code == 422
        message = response.json["error"]["details"]["fields"]["query"]["shop_name"][0]
        assert all(f"“{char}”（U+{ord(char):04X}）" in message for char in missing), message
        assert "啤" not in message and "咖" not in message


def test_the_font_coverage_check_accepts_what_it_draws():
    assert rendering.undrawable("Café 老王·海鲜（总店）No.1 & ①") == []
    assert rendering.undrawable("🍺啤酒🍺屋") == ["🍺"]
