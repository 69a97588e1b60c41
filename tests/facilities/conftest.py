from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from core import districts
from facilities import imports, services
from facilities.imports import RowContext, facility_values

# A 12 km x 12 km box over central Qingdao, WGS-84.
BOX = (36.02, 36.13, 120.30, 120.44)


@pytest.fixture
def scatter(app_ctx) -> Callable[..., list[dict]]:
    """Upsert random facilities (and refresh the kind statistics); returns their values."""

    def make(count: int, kinds: tuple[str, ...] = ("0301", "0203", "0305"), *, seed: int = 1,
             box: tuple[float, float, float, float] = BOX, prefix: str = "rnd", **extra: object) -> list[dict]:
        rng = random.Random(seed)
        context = RowContext({code: info.shown_to_residents for code, info in services.kind_snapshot().kinds.items()},
                             None, "wgs84")
        rows = [facility_values({"source_id": f"{prefix}-{seed}-{n}", "kind": rng.choice(kinds),
                                 "name": f"设施{n}", "lat": rng.uniform(box[0], box[1]),
                                 "lng": rng.uniform(box[2], box[3]), **extra}, context) for n in range(count)]
        imports.upsert_rows(rows)
        services.refresh_kind_stats()
        services.kind_snapshot(refresh=True)
        return rows

    return make


def facility_file(count: int, *, seed: int = 3, prefix: str = "up", bad_rows: tuple[str, ...] = ()) -> str:
    """A CSV of ``count`` toilets at random points of Qingdao's city districts, each tagged with the district it lies
    in (as the city's survey files are), then ``bad_rows`` (CSV lines without their newline)."""
    rng = random.Random(seed)
    locator = districts.locator()
    lines = ["source_id,kind,name,lat,lng,address,district,opening_hours"]
    while len(lines) <= count:
        lat, lng = rng.uniform(36.05, 36.20), rng.uniform(120.30, 120.50)
        district = locator.district_at(lat, lng)
        if district is not None:
            number = len(lines)
            lines.append(f"{prefix}-{number},0301,公厕{number}号,{lat:.6f},{lng:.6f},示例路{number}号,{district},"
                         f"06:00-22:00")
    return "\n".join([*lines, *bad_rows]) + "\n"
