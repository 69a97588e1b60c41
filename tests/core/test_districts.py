"""The district locator: which district holds a point, and how far a point lies from a district."""

from __future__ import annotations

import random

from core import districts
from core.geo import point_in_polygon


def test_the_locator_agrees_with_plain_ray_casting_over_every_ring():
    bundled = districts.load(districts.QINGDAO_DISTRICTS)
    locator = districts.locator()
    rng = random.Random(7)
    for _ in range(2_000):
        lat, lng = rng.uniform(35.5, 37.2), rng.uniform(119.4, 121.1)
        expected = [district.name for district in bundled
                    if sum(point_in_polygon(lng, lat, list(ring)) for ring in district.rings) % 2]
        assert locator.district_at(lat, lng) == (expected[0] if expected else None), (lat, lng)


def test_known_places_and_distances_to_a_boundary():
    locator = districts.locator()
    assert locator.district_at(36.0660, 120.3200) == "市南区"  # 中山路
    assert locator.district_at(36.0900, 120.3700) == "市北区"  # 台东
    assert locator.district_at(31.2304, 121.4737) is None  # 上海人民广场
    assert locator.distance_m("市南区", 36.0900, 120.3700, within_m=100) is None
    assert 0 < locator.distance_m("市北区", 36.0710, 120.3310, within_m=100) < 30
