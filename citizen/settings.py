"""Photo My City's settings: where reports are accepted, the thresholds of the automatic checks, the limits on
reporting, and how long residents' data is kept."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from core.config import Config
from core.config_values import ConfigError, decimal_setting, integer_setting, settings_repr

# Qingdao's administrative extent, roughly, as (lat, lng) WGS-84 vertices.
QINGDAO_SERVICE_AREA: tuple[tuple[float, float], ...] = (
    (35.57, 119.48), (35.57, 120.30), (35.90, 120.60), (36.05, 120.98), (36.45, 121.05),
    (36.95, 120.95), (37.15, 120.60), (37.15, 119.85), (36.75, 119.48),
)


@dataclasses.dataclass(frozen=True)
class CitizenSettings:
    service_area: tuple[tuple[float, float], ...] = QINGDAO_SERVICE_AREA
    duplicate_radius_m: float = 50.0
    duplicate_window_days: int = 7
    evidence_max_distance_m: float = 500.0
    evidence_max_age_days: int = 3
    reports_per_resident_per_hour: int = 20
    reports_per_ip_per_hour: int = 60
    nearby_radius_m: float = 500.0
    queue_counts_ttl_seconds: float = 10.0
    # A resident unhappy with a closed report may reopen it this many days after it closed, this many times.
    reopen_window_days: int = 30
    reopens_per_report: int = 2
    # How long an answer of the public reports map is served from the cache: a status change shows within this
    # (0: not cached). Never more than half the signed media links' lifetime (the answers hold such links).
    public_reports_cache_seconds: int = 30
    # Retention (days): report IP addresses, media of finished reports, residents who no longer sign in.
    retention_report_ip_days: int = 90
    retention_finished_report_media_days: int = 730
    retention_inactive_resident_days: int = 1095

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CitizenSettings:
        return cls(
            service_area=_polygon(env.get("SERVICE_AREA_POLYGON")) or QINGDAO_SERVICE_AREA,
            # Distances divide by the duplicate radius: zero would fail the first report filed where another is.
            duplicate_radius_m=decimal_setting(env, cls, "duplicate_radius_m", positive=True),
            duplicate_window_days=integer_setting(env, cls, "duplicate_window_days", minimum=0),
            evidence_max_distance_m=decimal_setting(env, cls, "evidence_max_distance_m"),
            evidence_max_age_days=integer_setting(env, cls, "evidence_max_age_days", minimum=0),
            reports_per_resident_per_hour=integer_setting(env, cls, "reports_per_resident_per_hour"),
            reports_per_ip_per_hour=integer_setting(env, cls, "reports_per_ip_per_hour"),
            nearby_radius_m=decimal_setting(env, cls, "nearby_radius_m", positive=True),
            queue_counts_ttl_seconds=decimal_setting(env, cls, "queue_counts_ttl_seconds"),
            reopen_window_days=integer_setting(env, cls, "reopen_window_days"),
            reopens_per_report=integer_setting(env, cls, "reopens_per_report", minimum=0),
            public_reports_cache_seconds=integer_setting(env, cls, "public_reports_cache_seconds", minimum=0),
            # A retention of 0 days (or fewer) would forget every resident and delete every finished report's media.
            **{name: integer_setting(env, cls, name) for name in _RETENTION},
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        return []


_RETENTION = tuple(field.name for field in dataclasses.fields(CitizenSettings) if field.name.startswith("retention_"))


def _polygon(value: str | None) -> tuple[tuple[float, float], ...] | None:
    """SERVICE_AREA_POLYGON: a JSON list of [lat, lng] WGS-84 vertices."""
    if not value:
        return None
    try:
        vertices = tuple((float(lat), float(lng)) for lat, lng in json.loads(value))
    except (ValueError, TypeError):
        vertices = ()
    # A NaN fails both range checks; [lng, lat] pairs for Qingdao fail the latitude's.
    if len(vertices) < 3 or not all(-90 <= lat <= 90 and -180 <= lng <= 180 for lat, lng in vertices):
        raise ConfigError("SERVICE_AREA_POLYGON must be a JSON list of at least three [lat, lng] WGS-84 vertices, "
                          "latitude first, e.g. [[35.57, 119.48], [35.57, 120.30], [37.15, 120.60]]")
    return vertices


SETTINGS = CitizenSettings
