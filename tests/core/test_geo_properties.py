"""Property tests of the GCJ-02 conversion: the round trip lands within a metre anywhere inside China."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from core.geo import gcj02_to_wgs84, haversine_m, in_mainland_china, wgs84_to_gcj02

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 500)), deadline=None, derandomize=True)
# Mainland China's extent, kept clear of the conversion box's edges.
latitudes = st.floats(min_value=18.0, max_value=53.5)
longitudes = st.floats(min_value=73.5, max_value=135.0)


@FUZZ
@given(latitudes, longitudes)
def test_wgs84_to_gcj02_and_back_is_within_a_metre(lat, lng):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lng))
    assert haversine_m(lat, lng, *back) < 1.0


@FUZZ
@given(latitudes, longitudes)
def test_gcj02_to_wgs84_and_back_is_within_a_metre(lat, lng):
    assert haversine_m(lat, lng, *wgs84_to_gcj02(*gcj02_to_wgs84(lat, lng))) < 1.0


@FUZZ
@given(latitudes, longitudes)
def test_the_offset_is_a_few_hundred_metres_at_most(lat, lng):
    assert haversine_m(lat, lng, *wgs84_to_gcj02(lat, lng)) < 1200


@FUZZ
@given(st.floats(min_value=-90, max_value=90), st.floats(min_value=-180, max_value=180))
def test_outside_china_nothing_moves(lat, lng):
    if not in_mainland_china(lat, lng):
        assert wgs84_to_gcj02(lat, lng) == (lat, lng) == gcj02_to_wgs84(lat, lng)
