from __future__ import annotations

import math
import random

import pytest

from core.geo import (EARTH_RADIUS_M, gcj02_to_wgs84, haversine_m, in_mainland_china, to_wgs84,
                      wgs84_to_gcj02)


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


def test_haversine_is_the_great_circle_distance():
    one_degree = EARTH_RADIUS_M * math.pi / 180
    assert haversine_m(0, 0, 1, 0) == pytest.approx(one_degree)
    assert haversine_m(0, 0, 0, 1) == pytest.approx(one_degree)
    assert haversine_m(60, 10, 60, 11) == pytest.approx(one_degree / 2, rel=1e-3)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(36.07, 120.38, 36.07, 120.38) == 0.0
    assert haversine_m(36.0, 120.0, 39.9, 116.4) == pytest.approx(haversine_m(39.9, 116.4, 36.0, 120.0))
