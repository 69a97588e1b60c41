"""Single facilities: reading one, editing and disabling it, the admin's queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from citizen.facts import component_category_id
from core.db import db, get_or_not_found
from core.errors import Conflict, NotFound, ValidationFailed
from core.geo import wgs84_to_gcj02
from core.services import Actor, record_audit
from facilities.models import Facility, FacilityImport, FacilityImportRejection
from facilities.services.fields import FIELD_CHECKS
from facilities.services.kinds import refresh_kind_stats
from facilities.services.lookup import FacilityView, kinds_of


def get_facility(facility_id: int, *, for_residents: bool = True) -> Facility:
    facility = db.session.get(Facility, facility_id)
    if facility is None or (for_residents and (not facility.shown or facility.status == "removed")):
        raise NotFound("设施不存在。")
    return facility


def gcj02_of(facility: Facility | FacilityView) -> tuple[float, float]:
    return wgs84_to_gcj02(facility.lat, facility.lng)


def report_prefill(facility: Facility | FacilityView) -> dict[str, Any]:
    """What a problem report about this facility starts from: its id, category and place, as report submission
    takes them. The city's extension kinds (class 21) have no report category: the resident picks one."""
    gcj_lat, gcj_lng = gcj02_of(facility)
    kind = kinds_of([facility.kind_code])[facility.kind_code]
    category_code = None if kind.is_extension else component_category_id(kind.code)
    return {"facility_id": facility.id, "category_code": category_code, "category_name": facility.kind_name,
            "lat": gcj_lat, "lng": gcj_lng, "coord_type": "gcj02", "address": facility.address,
            "district": facility.district}


EDITABLE_FIELDS = ("name", "address", "district", "opening_hours", "status", "attributes")


def _audit_view(facility: Facility) -> dict[str, Any]:
    return {name: getattr(facility, name) for name in EDITABLE_FIELDS}


def update_facility(actor: Actor, facility: Facility, *, expected_updated_at: str | None = None,
                    **changes: Any) -> Facility:
    """``expected_updated_at``: the facility's updated_at (isoformat) as the editor saw it; a facility changed
    since (another admin's save, an import) is refused rather than overwritten with what the editor last saw."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("不可修改的字段。",
                               details={"fields": {name: ["not editable"] for name in sorted(unknown)}})
    values = _validated_fields(changes)
    if expected_updated_at is not None:
        # A save committing meanwhile is waited for and seen.
        db.session.refresh(facility, with_for_update={"of": Facility})
        if facility.updated_at.isoformat() != expected_updated_at:
            raise Conflict("该设施已被他人修改，请刷新后重新编辑。", code="facility_changed")
    before = _audit_view(facility)
    for name, value in values.items():
        setattr(facility, name, value)
    after = _audit_view(facility)
    if after != before:
        db.session.flush()
        refresh_kind_stats([facility.kind_code])
        record_audit(actor, "facility.update", "facility", facility.id,
                     before={k: v for k, v in before.items() if after[k] != v},
                     after={k: v for k, v in after.items() if before[k] != v})
    return facility


def disable_facility(actor: Actor, facility: Facility) -> Facility:
    return update_facility(actor, facility, status="removed")


def _validated_fields(changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            values[name] = FIELD_CHECKS[name](value)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed("提交的数据未通过校验。", details={"fields": errors})
    return values


def facility_query(*, text: str | None = None, kind: str | None = None, status: str | None = None,
                   sample: bool | None = None) -> sa.Select[tuple[Facility]]:
    query = sa.select(Facility).order_by(Facility.id.desc())
    if text:
        pattern = f"%{text}%"
        query = query.where(sa.or_(Facility.name.like(pattern), Facility.source_id == text,
                                   Facility.address.like(pattern)))
    if kind:
        query = query.where(Facility.kind_code == kind)
    if status:
        query = query.where(Facility.status == status)
    if sample is not None:
        query = query.where(Facility.is_sample.is_(sample))
    return query


def import_history_query() -> sa.Select[tuple[FacilityImport]]:
    return sa.select(FacilityImport).order_by(FacilityImport.id.desc())


def get_import(import_id: int) -> FacilityImport:
    return get_or_not_found(FacilityImport, import_id, "导入记录不存在。")


def import_rejections_query(import_id: int) -> sa.Select[tuple[FacilityImportRejection]]:
    """The rows an import refused, in the file's order."""
    return (sa.select(FacilityImportRejection).where(FacilityImportRejection.import_id == import_id)
            .order_by(FacilityImportRejection.line, FacilityImportRejection.id))
