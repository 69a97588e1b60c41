"""Facility kinds: which residents see, the snapshot used to validate, counts and densities."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable

import sqlalchemy as sa

from core.db import db, get_or_not_found
from core.errors import ValidationFailed
from core.services import Actor, record_audit
from facilities import spatial
from facilities.models import ALL_SHOWN_SCOPE, Facility, FacilityDensity, FacilityKind

KIND_SNAPSHOT_TTL_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class KindInfo:
    code: str
    name: str
    shown_to_residents: bool
    is_extension: bool

    @classmethod
    def of(cls, kind: FacilityKind) -> KindInfo:
        return cls(kind.code, kind.name, kind.shown_to_residents, kind.is_extension)


@dataclasses.dataclass(frozen=True)
class KindSnapshot:
    """The kinds as this process last read them: used to validate."""

    kinds: dict[str, KindInfo]
    loaded_at: float


_snapshot_lock = threading.Lock()
# Per engine (or connection, in tests): the object itself is the key (rendering a URL costs more than the lookup).
_snapshots: dict[sa.Engine | sa.Connection, KindSnapshot] = {}


def kind_snapshot(*, refresh: bool = False) -> KindSnapshot:
    key = db.engine
    snapshot = _snapshots.get(key)
    if refresh or snapshot is None or time.monotonic() - snapshot.loaded_at > KIND_SNAPSHOT_TTL_SECONDS:
        kinds = {kind.code: KindInfo.of(kind) for kind in db.session.scalars(sa.select(FacilityKind))}
        snapshot = KindSnapshot(kinds, time.monotonic())
        with _snapshot_lock:
            _snapshots[key] = snapshot
    return snapshot


def list_kinds() -> list[FacilityKind]:
    return list(db.session.scalars(sa.select(FacilityKind).order_by(FacilityKind.code)))


def resident_kind(code: str | None) -> str | None:
    """``code`` if residents may search that kind; ValidationFailed names the parameter otherwise."""
    if code is None:
        return None
    snapshot = kind_snapshot()
    if code not in snapshot.kinds:
        snapshot = kind_snapshot(refresh=True)
    kind = snapshot.kinds.get(code)
    if kind is None or not kind.shown_to_residents:
        raise ValidationFailed("设施类型不存在。", code="unknown_kind",
                               details={"fields": {"query": {"kind": ["unknown or not offered to residents"]}}})
    return code


def set_kind_shown(actor: Actor, code: str, shown: bool) -> FacilityKind:
    kind = get_or_not_found(FacilityKind, code, "设施类型不存在。")
    before = kind.shown_to_residents
    kind.shown_to_residents = shown
    db.session.execute(sa.update(Facility).where(Facility.kind_code == code).values(shown=shown))
    _refresh_shown_densities()
    record_audit(actor, "facility_kind.update", "facility_kind", code,
                 before={"shown_to_residents": before}, after={"shown_to_residents": shown})
    return kind


def refresh_kind_stats(codes: Iterable[str] | None = None) -> None:
    """Recount the facilities in service per kind and per coarse cell (all kinds, or only ``codes``)."""
    targets = None if codes is None else sorted(set(codes))
    in_service = Facility.status == "in_service"
    if targets is not None:
        in_service = in_service & Facility.kind_code.in_(targets)
    coarse_cell = Facility.cell.op("/")(_CELLS_PER_DENSITY_CELL)
    stale = sa.delete(FacilityDensity).where(FacilityDensity.scope != ALL_SHOWN_SCOPE)
    db.session.execute(stale if targets is None else stale.where(FacilityDensity.scope.in_(targets)))
    db.session.execute(sa.insert(FacilityDensity).from_select(
        ["scope", "cell", "facility_count"],
        sa.select(Facility.kind_code, coarse_cell, sa.func.count()).where(in_service)
        .group_by(Facility.kind_code, coarse_cell)))
    counts = dict(db.session.execute(
        sa.select(FacilityDensity.scope, sa.func.sum(FacilityDensity.facility_count))
        .where(FacilityDensity.scope != ALL_SHOWN_SCOPE).group_by(FacilityDensity.scope)).all())
    kinds = db.session.scalars(sa.select(FacilityKind) if targets is None
                               else sa.select(FacilityKind).where(FacilityKind.code.in_(targets)))
    for kind in kinds:
        kind.facility_count = counts.get(kind.code, 0)
    _refresh_shown_densities()


def _refresh_shown_densities() -> None:
    """The counts over every kind shown to residents, from the per-kind counts."""
    db.session.execute(sa.delete(FacilityDensity).where(FacilityDensity.scope == ALL_SHOWN_SCOPE))
    per_kind = sa.orm.aliased(FacilityDensity)
    db.session.execute(sa.insert(FacilityDensity).from_select(
        ["scope", "cell", "facility_count"],
        sa.select(sa.literal(ALL_SHOWN_SCOPE), per_kind.cell, sa.func.sum(per_kind.facility_count))
        .join(FacilityKind, FacilityKind.code == per_kind.scope).where(FacilityKind.shown_to_residents)
        .group_by(per_kind.cell)))


_CELLS_PER_DENSITY_CELL = 4 ** (spatial.MAX_LEVEL - spatial.DENSITY_LEVEL)


@dataclasses.dataclass(frozen=True)
class DensityMap:
    """A scope's facility counts per coarse cell as this process last read them (facility_densities)."""

    counts: dict[int, int]  # by the cell's code
    densest_around: dict[tuple[int, int], int]  # by (cx, cy): the largest count of the cell and its 8 neighbours
    loaded_at: float

    @classmethod
    def of(cls, counts: dict[int, int]) -> DensityMap:
        densest_around: dict[tuple[int, int], int] = {}
        for code, count in counts.items():
            cx, cy = spatial.cell_xy(code)
            for around in ((cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)):
                if densest_around.get(around, 0) < count:
                    densest_around[around] = count
        return cls(counts, densest_around, time.monotonic())

    def per_m2(self, lat: float, lng: float) -> float:
        """The density of the densest coarse cell around the point: overestimated (a finer first level, maybe
        a second round) rather than underestimated (a coarse first block with far too many rows)."""
        densest = self.densest_around.get(spatial.density_cell(lat, lng), 0)
        return densest / spatial.cell_area_m2(spatial.DENSITY_LEVEL, lat)


_density_maps: dict[tuple[sa.Engine | sa.Connection, str], DensityMap] = {}


def density_map(kind_code: str | None, *, refresh: bool = False) -> DensityMap:
    """The counts of a kind's facilities, or (None) of every kind shown to residents; reread every
    KIND_SNAPSHOT_TTL_SECONDS."""
    scope = kind_code or ALL_SHOWN_SCOPE
    key = (db.engine, scope)
    density = _density_maps.get(key)
    if refresh or density is None or time.monotonic() - density.loaded_at > KIND_SNAPSHOT_TTL_SECONDS:
        counts = db.session.execute(sa.select(FacilityDensity.cell, FacilityDensity.facility_count)
                                    .where(FacilityDensity.scope == scope))
        density = DensityMap.of(dict(counts.all()))
        with _snapshot_lock:
            _density_maps[key] = density
    return density
