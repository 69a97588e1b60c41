from __future__ import annotations

import math
import random

import pytest

from core.geo import (EARTH_RADIUS_M, box_to_wgs84, gcj02_box_to_wgs84, gcj02_to_wgs84, haversine_m,
                      in_mainland_china, to_wgs84, wgs84_to_gcj02)


def test_gcj02_shifts_points_in_china_by_a_few_hundred_metres_and_leaves_others_alone():
    lat, lng = 36.0671, 120.3826  # Qingdao, Wusi Square
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    assert 100 < haversine_m(lat, lng, gcj_lat, gcj_lng) < 700
    assert wgs84_to_gcj02(48.8584, 2.2945) == (48.8584, 2.2945)  # Paris
    assert gcj02_to_wgs84(-33.8568, 151.2153) == (-33.8568, 151.2153)  # Sydney


def test_the_published_reference_point_converts_as_other_implementations_do():
    # Beijing, Tiananmen: the widely published pair of coordtransform's test.
    gcj_lat, gcj_lng = wgs84_to_gcj02(39.90923, 116.397428)
    assert gcj_lat == pytest.approx(39.91063, abs=2e-5)
    assert gcj_lng == pytest.approx(116.40367, abs=2e-5)


def test_gcj02_to_wgs84_inverts_the_forward_transform_to_under_a_centimetre():
    rng = random.Random(7)
    for _ in range(500):
        lat, lng = rng.uniform(18.0, 53.0), rng.uniform(74.0, 134.0)
        assert in_mainland_china(lat, lng)
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lng))
        assert haversine_m(lat, lng, *back) < 0.01


def test_to_wgs84_accepts_both_datums_and_refuses_others():
    point = wgs84_to_gcj02(36.07, 120.38)
    assert to_wgs84(36.07, 120.38, "wgs84") == (36.07, 120.38)
    assert haversine_m(36.07, 120.38, *to_wgs84(*point, "gcj02")) < 0.01
    with pytest.raises(ValueError):
        to_wgs84(36.07, 120.38, "bd09")


@pytest.mark.parametrize("window", [
    (36.0, 120.3, 36.1, 120.45),  # central Qingdao
    (35.6, 119.5, 37.2, 121.1),  # the whole city
    (39.8, 116.2, 40.0, 116.5),  # Beijing
    (54.9, 136.9, 56.9, 138.9),  # across the north-east corner of the area GCJ-02 applies to
    (48.0, 2.0, 49.0, 3.0),  # Paris: no shift
])
def test_a_gcj02_box_becomes_the_wgs84_box_holding_all_of_it_and_little_more(window):
    south, west, north, east = window
    box_south, box_west, box_north, box_east = gcj02_box_to_wgs84(*window)
    rng = random.Random(11)
    on_edges = [(lat, lng) for t in (n / 400 for n in range(401))
                for lat, lng in ((south, west + (east - west) * t), (north, west + (east - west) * t),
                                 (south + (north - south) * t, west), (south + (north - south) * t, east))]
    inside = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(2000)]
    for lat, lng in on_edges + inside:
        wgs_lat, wgs_lng = gcj02_to_wgs84(lat, lng)
        assert box_south <= wgs_lat <= box_north and box_west <= wgs_lng <= box_east, (lat, lng)
    # No wider than the window widened by the largest shift GCJ-02 makes (about a kilometre).
    assert box_south >= south - 0.012 and box_west >= west - 0.012
    assert box_north <= north + 0.012 and box_east <= east + 0.012


def test_a_city_map_window_in_gcj02_is_widened_by_a_few_metres_only():
    south, west, north, east = 36.05, 120.36, 36.07, 120.39  # a phone's map of Wusi Square
    corners = [gcj02_to_wgs84(lat, lng) for lat in (south, north) for lng in (west, east)]
    box_south, box_west, box_north, box_east = gcj02_box_to_wgs84(south, west, north, east)
    assert 0 <= min(lat for lat, _ in corners) - box_south < 5 / 111_320
    assert 0 <= box_north - max(lat for lat, _ in corners) < 5 / 111_320
    assert 0 <= min(lng for _, lng in corners) - box_west < 5 / 90_000
    assert 0 <= box_east - max(lng for _, lng in corners) < 5 / 90_000


def test_box_to_wgs84_takes_both_datums_and_refuses_others():
    assert box_to_wgs84(36.0, 120.3, 36.1, 120.45, "wgs84") == (36.0, 120.3, 36.1, 120.45)
    assert box_to_wgs84(36.0, 120.3, 36.1, 120.45, "gcj02") == gcj02_box_to_wgs84(36.0, 120.3, 36.1, 120.45)
    with pytest.raises(ValueError):
        box_to_wgs84(36.0, 120.3, 36.1, 120.45, "bd09")


def test_haversine_is_the_great_circle_distance():
    one_degree = EARTH_RADIUS_M * math.pi / 180
    assert haversine_m(0, 0, 1, 0) == pytest.approx(one_degree)
    assert haversine_m(0, 0, 0, 1) == pytest.approx(one_degree)
    assert haversine_m(60, 10, 60, 11) == pytest.approx(one_degree / 2, rel=1e-3)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(36.07, 120.38, 36.07, 120.38) == 0.0
    assert haversine_m(36.0, 120.0, 39.9, 116.4) == pytest.approx(haversine_m(39.9, 116.4, 36.0, 120.0))
