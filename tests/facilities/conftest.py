from __future__ import annotations

import random
from collections.abc import Callable

import pytest

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
