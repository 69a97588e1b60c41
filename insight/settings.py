"""Insight's settings: the hot-spot grid's cell size, the time limit for disposal, the district score's weights and
the least data it needs, the districts' boundaries on the map, the Chromium that prints monthly reports to PDF (how
many at once, in all processes together), and where the command writes them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

from core.config import DEFAULT_VAR_DIR, Config
from core.config_values import ConfigError, integer_setting, settings_repr
from core.districts import QINGDAO_DISTRICTS, DistrictsFileError, load

RANKING_MEASURES = ("handled", "speed", "satisfaction")


@dataclasses.dataclass(frozen=True)
class InsightSettings:
    insight_grid_m: int = 500
    insight_close_limit_hours: int = 72
    insight_ranking_weights: tuple[tuple[str, float], ...] = (("handled", 0.4), ("speed", 0.3), ("satisfaction", 0.3))
    # A district is ranked on at least this many reports closed in the month, its satisfaction on at least this
    # many ratings: fewer, and it is listed as having too little data (never scored 0).
    insight_ranking_min_sample: int = 5
    # A department's 考核 measure (on-time, rework, return rates; satisfaction) is scored on at least this many desk
    # cases closed in the period (ratings, for satisfaction): fewer is shown as too little data, never ranked.
    insight_department_min_sample: int = 10
    # The districts' boundaries drawn under the hot-spot grid (GeoJSON, WGS-84; see insight.districts).
    insight_districts_geojson: Path = QINGDAO_DISTRICTS
    insight_chromium: str = "chromium"
    insight_output_dir: Path = DEFAULT_VAR_DIR / "reports"
    pdf_prints_at_once: int = 2

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InsightSettings:
        return cls(
            insight_grid_m=integer_setting(env, cls, "insight_grid_m"),
            insight_close_limit_hours=integer_setting(env, cls, "insight_close_limit_hours"),
            insight_ranking_weights=_weights(env.get("INSIGHT_RANKING_WEIGHTS")) or cls.insight_ranking_weights,
            insight_ranking_min_sample=integer_setting(env, cls, "insight_ranking_min_sample"),
            insight_department_min_sample=integer_setting(env, cls, "insight_department_min_sample"),
            insight_districts_geojson=Path(env.get("INSIGHT_DISTRICTS_GEOJSON") or cls.insight_districts_geojson),
            insight_chromium=env.get("INSIGHT_CHROMIUM") or cls.insight_chromium,
            insight_output_dir=Path(env.get("INSIGHT_OUTPUT_DIR") or cls.insight_output_dir),
            pdf_prints_at_once=integer_setting(env, cls, "pdf_prints_at_once"),
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        try:
            load(self.insight_districts_geojson)
        except DistrictsFileError as exc:
            return [f"INSIGHT_DISTRICTS_GEOJSON: {exc}"]
        return []


def _weights(value: str | None) -> tuple[tuple[str, float], ...] | None:
    """INSIGHT_RANKING_WEIGHTS: "handled=0.4,speed=0.3,satisfaction=0.3" (measures left out weigh 0)."""
    if not value:
        return None
    weights = dict.fromkeys(RANKING_MEASURES, 0.0)
    for part in value.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in weights:
            raise ConfigError(f"INSIGHT_RANKING_WEIGHTS: unknown measure {name.strip()!r};"
                              f" use {', '.join(RANKING_MEASURES)}")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            weights[name.strip()] = math.nan
    if not all(math.isfinite(weight) and weight >= 0 for weight in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError("INSIGHT_RANKING_WEIGHTS: weights are numbers ≥ 0 and not all 0")
    return tuple(weights.items())


SETTINGS = InsightSettings
