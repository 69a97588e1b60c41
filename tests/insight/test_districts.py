"""The districts' boundaries under the hot-spot grid: the bundled Qingdao file, a city's own, and how they are drawn."""

from __future__ import annotations

import json
import re

import pytest

from citizen import services as citizen_services
from core import districts
from core.config import Config
from core.config_values import ConfigError
from core.geo import point_in_polygon
from insight import charts, services
from insight.settings import InsightSettings

PATH = re.compile(r'<path class="district" d="([^"]*)"')
TEXT = re.compile(r"<text [^>]*>([^<]+)</text>")


def _rings(district: districts.District) -> list[list[tuple[float, float]]]:
    return [[(lat, lng) for lng, lat in ring] for ring in district.rings]


def test_the_bundled_file_has_each_of_qingdaos_districts_once_around_its_seat():
    bundled = districts.load(districts.QINGDAO_DISTRICTS)
    assert {district.name for district in bundled} == set(citizen_services.district_names())
    by_name = {district.name: district for district in bundled}
    for name, lat, lng in citizen_services.district_seats():  # seats are WGS-84, as the boundaries must be
        holding = [other for other, district in by_name.items()
                   if sum(point_in_polygon(lat, lng, ring) for ring in _rings(district)) % 2]
        assert holding == [name]
    # Simplified: a small file, yet each district more than a rough box.
    assert districts.QINGDAO_DISTRICTS.stat().st_size < 200_000
    assert all(sum(len(ring) for ring in district.rings) >= 100 for district in bundled)


def test_simplify_keeps_what_strays_beyond_the_tolerance():
    line = [(120.0, 36.0), (120.001, 36.00001), (120.002, 36.0), (120.003, 36.01), (120.004, 36.0)]
    assert districts.simplify(line, 0.001) == [(120.0, 36.0), (120.002, 36.0), (120.003, 36.01), (120.004, 36.0)]
    assert districts.simplify(line, 0.0000001) == line


def test_a_citys_own_file_through_the_setting(tmp_path):
    own = tmp_path / "districts.geojson"
    square = [[120.3, 36.0], [120.4, 36.0], [120.4, 36.1], [120.3, 36.1], [120.3, 36.0]]
    feature = {"type": "Feature", "properties": {"name": "新区"},
               "geometry": {"type": "Polygon", "coordinates": [square]}}
    own.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    settings = Config.from_env({"INSIGHT_DISTRICTS_GEOJSON": str(own)}).area(InsightSettings)
    assert settings.insight_districts_geojson == own
    (only,) = districts.load(own)
    assert only.name == "新区" and only.label_point() == pytest.approx((120.35, 36.05))
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [{"geometry": null}]}', encoding="utf-8")
    for bad in (broken, tmp_path / "missing.geojson"):
        with pytest.raises(ConfigError, match="INSIGHT_DISTRICTS_GEOJSON"):
            Config.from_env({"INSIGHT_DISTRICTS_GEOJSON": str(bad)}).check_can_start()


def _map(cells: dict[str, int]) -> charts.Chart:
    return charts.grid_map("m", "热点", services.HotSpotGrid(500, cells),
                           outline=[(35.57, 119.48), (37.15, 119.48), (37.15, 121.05), (35.57, 121.05)],
                           places=citizen_services.district_seats(),
                           districts=districts.load(districts.QINGDAO_DISTRICTS))


def test_the_map_draws_the_districts_in_view_under_the_grid_labelled():
    whole_city = _map({})
    assert len(PATH.findall(whole_city.svg)) == 10
    assert set(citizen_services.district_names()) <= set(TEXT.findall(whole_city.svg))
    # One busy cell in 市南区: the view closes in on it; districts far away are left out, and those in view whose
    # seat is not are labelled in their middle.
    seats = {name: (lat, lng) for name, lat, lng in citizen_services.district_seats()}
    shinan = _map({services.cell_of(*seats["市南区"], 500): 40})
    drawn = len(PATH.findall(shinan.svg))
    assert 1 <= drawn < 10 and "平度市" not in TEXT.findall(shinan.svg) and "市南区" in TEXT.findall(shinan.svg)
    svg = str(shinan.svg)
    assert svg.index('class="district"') < svg.index("<image")  # under the grid
    # Simplified to half a pixel: the whole city's boundaries are a few thousand points, not the file's 6,000.
    assert sum(path.count(",") for path in PATH.findall(whole_city.svg)) < 3000
