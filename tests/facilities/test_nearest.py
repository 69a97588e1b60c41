"""The nearest query gives exactly the brute-force answer, and open_now follows Beijing time."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
import sqlalchemy as sa

from core.db import db
from core.services import SYSTEM_ACTOR
from facilities import imports, services, spatial
from facilities.imports import RowContext, facility_values
from facilities.services import lookup
from facilities.models import ALL_SHOWN_SCOPE, Facility, FacilityDensity
from tests.facilities.conftest import BOX
from tests.facilities.reference import brute_force_nearest

BEIJING = dt.timezone(dt.timedelta(hours=8))


def _query_points(rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Inside the box, on and just beyond its edges and corners."""
    points = [(rng.uniform(BOX[0], BOX[1]), rng.uniform(BOX[2], BOX[3])) for _ in range(count)]
    points += [(BOX[0], BOX[2]), (BOX[1], BOX[3]), (BOX[0] - 0.01, rng.uniform(BOX[2], BOX[3])),
               (rng.uniform(BOX[0], BOX[1]), BOX[3] + 0.015), (BOX[1] + 0.03, BOX[3] + 0.03)]
    return points


@pytest.mark.parametrize("kind", ["0301", "0203", None])
def test_nearest_equals_brute_force_on_random_data(scatter, kind):
    scatter(600)
    rng = random.Random(42)
    for lat, lng in _query_points(rng, 40):
        limit = rng.choice([1, 5, 17, 50])
        radius = rng.choice([150.0, 800.0, 2_000.0, 10_000.0])
        expected = brute_force_nearest(lat, lng, kind=kind, limit=limit, radius_m=radius)
        assert services.nearest_hits(lat, lng, kind=kind, limit=limit, radius_m=radius) == expected


def test_the_answer_does_not_depend_on_the_density_estimate(scatter):
    scatter(400)
    for lat, lng in _query_points(random.Random(3), 15):
        fetch = lookup._candidate_fetcher(lat, lng, "0301", False)
        expected = brute_force_nearest(lat, lng, kind="0301", limit=5, radius_m=5_000)
        for density in (0.0, 1e-12, 1e-7, 1e-3, 10.0):
            hits, _ = spatial.nearest(lat, lng, limit=5, radius_m=5_000, density_per_m2=density, fetch=fetch)
            assert hits == expected


def test_ties_are_broken_by_id_and_each_facility_counts_once(scatter):
    rows = scatter(12, ("0301",), box=(36.07, 36.07, 120.38, 120.38))  # all on one spot
    hits = services.nearest_hits(36.0701, 120.3801, kind="0301", limit=5)
    ids = sorted(db.session.scalars(sa.select(Facility.id).where(
        Facility.source_id.in_([row["source_id"] for row in rows]))))
    assert [hit.id for hit in hits] == ids[:5]
    assert len({hit.distance_m for hit in hits}) == 1


def test_a_kind_with_nothing_in_range_gives_an_empty_answer(scatter):
    scatter(50, ("0203",))
    scatter(3, ("0301",), seed=9, box=(36.40, 36.41, 120.60, 120.61))  # 40 km away
    assert services.nearest_hits(36.07, 120.38, kind="0301", radius_m=10_000) == []
    assert services.nearest_hits(36.07, 120.38, kind="2108", radius_m=10_000) == []  # no nursing rooms at all
    assert services.nearest_hits(36.07, 120.38, kind="0301", radius_m=10_000) == brute_force_nearest(
        36.07, 120.38, kind="0301", radius_m=10_000)


def test_facilities_out_of_service_and_hidden_kinds_are_not_found(scatter):
    scatter(30, ("0301",), status="under_repair")
    scatter(30, ("0101",), seed=2)  # manhole covers: not shown to residents
    assert services.nearest_hits(36.07, 120.38, kind="0301", radius_m=10_000) == []
    assert services.nearest_hits(36.07, 120.38, radius_m=10_000) == []
    assert len(services.nearest_hits(36.07, 120.38, kind="0101", radius_m=10_000)) == 5


def test_nearest_far_from_everything_and_near_the_poles_still_terminates(scatter):
    scatter(20)
    assert services.nearest_hits(-33.86, 151.21, radius_m=10_000) == []
    assert services.nearest_hits(89.999, 0.0, radius_m=10_000) == []
    assert services.nearest_hits(-90.0, 180.0, radius_m=10_000) == []


@pytest.mark.parametrize(("hours", "local_time", "open_"), [
    ("22:00-06:00", "23:30", True), ("22:00-06:00", "00:00", True), ("22:00-06:00", "05:59", True),
    ("22:00-06:00", "06:00", False), ("22:00-06:00", "12:00", False), ("22:00-06:00", "21:59", False),
    ("06:00-22:00", "06:00", True), ("06:00-22:00", "22:00", False), ("00:00-24:00", "23:59", True),
    ("08:00-11:30,13:30-17:00", "12:00", False), ("08:00-11:30,13:30-17:00", "16:59", True),
    (None, "03:00", True),
])
def test_opening_hours_are_judged_in_beijing_time_across_midnight(hours, local_time, open_):
    hour, minute = map(int, local_time.split(":"))
    at = dt.datetime(2026, 1, 15, hour, minute, tzinfo=BEIJING).astimezone(dt.timezone.utc)
    assert services.is_open(hours, at) is open_


@pytest.mark.parametrize("hours", ["6:00-22:00", "06:00-06:00", "25:00-02:00", "06:00-24:30", "always", "06:00"])
def test_malformed_opening_hours_are_refused(hours):
    with pytest.raises(ValueError):
        services.parse_opening_hours(hours)


def test_open_now_skips_closed_facilities_and_finds_farther_open_ones(app_ctx):
    context = RowContext({"0301": True}, None, "wgs84")
    spots = [("night", "22:00-06:00", 36.0700), ("day", "06:00-22:00", 36.0710), ("always", None, 36.0720)]
    imports.upsert_rows([facility_values({"source_id": f"hours-{name}", "kind": "0301", "name": name,
                                          "lat": lat, "lng": 120.38, "opening_hours": hours}, context)
                         for name, hours, lat in spots])
    names = {f.id: f.name for f in db.session.scalars(sa.select(Facility).where(Facility.source_id.like("hours-%")))}

    def open_names(local_hour: int) -> list[str]:
        at = dt.datetime(2026, 1, 15, local_hour, 30, tzinfo=BEIJING)
        hits = services.nearest_hits(36.0700, 120.38, kind="0301", open_now=True, now=at)
        assert hits == brute_force_nearest(36.0700, 120.38, kind="0301", open_now=True, now=at)
        return [names[hit.id] for hit in hits]

    assert open_names(23) == ["night", "always"]
    assert open_names(2) == ["night", "always"]
    assert open_names(12) == ["day", "always"]
    assert [names[h.id] for h in services.nearest_hits(36.0700, 120.38, kind="0301")] == ["night", "day", "always"]


def _coarse_counts(rows: list[dict], kinds: set[str]) -> dict[int, int]:
    shift = spatial.MAX_LEVEL - spatial.DENSITY_LEVEL
    counts: dict[int, int] = {}
    for row in rows:
        if row["kind_code"] in kinds and row["status"] == "in_service":
            x, y = spatial.grid_xy(row["lat"], row["lng"])
            code = spatial.cell_code(spatial.DENSITY_LEVEL, x >> shift, y >> shift)
            counts[code] = counts.get(code, 0) + 1
    return counts


def _stored_counts(scope: str) -> dict[int, int]:
    return dict(db.session.execute(sa.select(FacilityDensity.cell, FacilityDensity.facility_count)
                                   .where(FacilityDensity.scope == scope)).all())


def test_densities_count_the_facilities_in_service_per_coarse_cell_per_kind_and_for_shown_kinds(scatter):
    wide = (35.6, 37.1, 119.5, 121.0)  # many coarse cells
    rows = scatter(300, ("0301", "0203", "0101"), box=wide)  # 0101 (manhole covers) is not shown to residents
    rows += scatter(40, ("0301",), seed=2, box=wide, status="under_repair")
    assert _stored_counts("0301") == _coarse_counts(rows, {"0301"})
    assert _stored_counts("0101") == _coarse_counts(rows, {"0101"})
    assert _stored_counts(ALL_SHOWN_SCOPE) == _coarse_counts(rows, {"0301", "0203"})
    assert services.density_map("0301", refresh=True).counts == _coarse_counts(rows, {"0301"})

    services.set_kind_shown(SYSTEM_ACTOR, "0301", False)
    assert _stored_counts(ALL_SHOWN_SCOPE) == _coarse_counts(rows, {"0203"})

    facility = db.session.scalars(sa.select(Facility).where(Facility.kind_code == "0203",
                                                            Facility.status == "in_service")).first()
    services.disable_facility(SYSTEM_ACTOR, facility)
    still = [row for row in rows if row["source_id"] != facility.source_id]
    assert _stored_counts("0203") == _coarse_counts(still, {"0203"})
    assert _stored_counts(ALL_SHOWN_SCOPE) == _coarse_counts(still, {"0203"})


def test_the_local_density_is_the_densest_coarse_cell_around_the_point(scatter):
    scatter(200, ("0301",), box=(36.060, 36.062, 120.380, 120.382))  # one dense spot
    density = services.density_map("0301", refresh=True)
    at_the_spot = density.per_m2(36.061, 120.381)
    assert at_the_spot == 200 / spatial.cell_area_m2(spatial.DENSITY_LEVEL, 36.061)
    next_cell = spatial.cell_side_m(spatial.DENSITY_LEVEL) / spatial.METRES_PER_DEGREE
    assert density.per_m2(36.061 + next_cell, 120.381) > 0  # a neighbour of the spot's cell
    assert density.per_m2(36.061 + 3 * next_cell, 120.381) == 0.0
    assert services.nearest_hits(36.061 + 3 * next_cell, 120.381, kind="0301", radius_m=10_000) == (
        brute_force_nearest(36.061 + 3 * next_cell, 120.381, kind="0301", radius_m=10_000))


def test_cell_codes_and_coordinates_convert_both_ways():
    rng = random.Random(11)
    for level in (0, 1, spatial.DENSITY_LEVEL, spatial.MAX_LEVEL):
        for _ in range(50):
            cx, cy = rng.randrange(1 << level), rng.randrange(1 << level)
            assert spatial.cell_xy(spatial.cell_code(level, cx, cy)) == (cx, cy)


def test_the_level_for_a_cell_width_is_the_finest_whose_cells_are_that_wide():
    rng = random.Random(12)
    widths = [spatial.cell_side_m(level) for level in range(spatial.MAX_LEVEL + 1)]
    for cell_m, lat in [(10 ** rng.uniform(-1, 8), rng.uniform(-90, 90)) for _ in range(2_000)] + [
            (width, lat) for width in widths for lat in (0.0, 36.0, 89.9999, 90.0)]:
        level = spatial.level_for(cell_m, lat)
        shrink = max(math.cos(math.radians(lat)), 1e-6)
        assert level == 0 or spatial.cell_side_m(level) * shrink >= cell_m
        assert level == spatial.MAX_LEVEL or spatial.cell_side_m(level + 1) * shrink < cell_m
