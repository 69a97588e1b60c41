from __future__ import annotations

import dataclasses
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

from core.db import utcnow
from core.geo import in_both_datums
from core.schemas import coord_type_field
from facilities import services
from facilities.models import FACILITY_STATUSES

class KindSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Component code; equals the report category code"})
    name = fields.String(required=True)
    class_name = fields.String(required=True)
    shown_to_residents = fields.Boolean(required=True)
    is_extension = fields.Boolean(required=True, metadata={"description": "A city extension kind (class 21)"})


class NearestQuerySchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lng = fields.Float(required=True, validate=validate.Range(-180, 180))
    coord_type = coord_type_field()
    kind = fields.String(load_default=None, validate=validate.Length(min=1, max=8),
                         metadata={"description": "A kind code from /facility-kinds; absent: every kind shown"})
    limit = fields.Integer(load_default=5, validate=validate.Range(1, services.MAX_NEAREST_LIMIT))
    radius_m = fields.Float(load_default=2_000, validate=validate.Range(1, services.MAX_RADIUS_M))
    open_now = fields.Boolean(load_default=False, metadata={"description": "Only facilities open now (Beijing time)"})


class BBoxField(fields.String):
    """``minLng,minLat,maxLng,maxLat`` -> a tuple of four floats."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN003, ANN202
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            min_lng, min_lat, max_lng, max_lat = (float(part) for part in text.split(","))
        except ValueError:
            raise ValidationError("expected minLng,minLat,maxLng,maxLat") from None
        if not (-180 <= min_lng < max_lng <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValidationError("corners out of range or not in min,max order")
        return min_lng, min_lat, max_lng, max_lat


class MapQuerySchema(Schema):
    bbox = BBoxField(required=True, metadata={"description": "minLng,minLat,maxLng,maxLat"})
    coord_type = coord_type_field()
    kind = fields.String(load_default=None, validate=validate.Length(min=1, max=8))

    @validates_schema
    def _not_too_large(self, data, **kwargs):  # noqa: ANN001, ANN003, ANN202
        min_lng, min_lat, max_lng, max_lat = data.get("bbox", (0, 0, 0, 0))
        if max_lng - min_lng > 2 or max_lat - min_lat > 2:
            raise ValidationError("at most 2 degrees on each side", "bbox")


class AttributesSchema(Schema):
    free = fields.Boolean()
    accessible = fields.Boolean()
    baby_changing = fields.Boolean()
    genders = fields.List(fields.String(validate=validate.OneOf(services.GENDER_FACILITIES)))


class FacilitySchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.Function(lambda f: {"code": f.kind_code, "name": f.kind_name}, required=True)
    name = fields.String(required=True)
    location = fields.Function(lambda f: in_both_datums(f.lat, f.lng), required=True)
    address = fields.String(required=True)
    district = fields.String(required=True)
    opening_hours = fields.String(allow_none=True, metadata={"description": "HH:MM-HH:MM[,…], Beijing time"})
    open_now = fields.Function(lambda f: services.is_open(f.opening_hours, utcnow()), required=True)
    attributes = fields.Nested(AttributesSchema, required=True)
    status = fields.String(required=True, validate=validate.OneOf(FACILITY_STATUSES))
    is_sample = fields.Boolean(required=True, metadata={"description": "Generated sample data (embedded default)"})
    updated_at = fields.DateTime(required=True)
    report = fields.Function(services.report_prefill, required=True,
                             metadata={"description": "Pre-fills a problem report about this facility"})


_VIEW_FIELDS = tuple(field.name for field in dataclasses.fields(services.FacilityView))


class _Nearby:
    """A facility seen through a nearest result: its own fields plus the distance.

    The fields are copied, not looked up through __getattr__: marshmallow first asks every object for
    __getitem__, and a __getattr__ fallback made each of those questions an exception.
    """

    def __init__(self, result: services.NearestResult) -> None:
        self.__dict__.update((name, getattr(result.facility, name)) for name in _VIEW_FIELDS)
        self.distance_m = result.distance_m


class NearbyFacilitySchema(FacilitySchema):
    distance_m = fields.Float(required=True, metadata={"description": "Great-circle distance from the query point"})

    @pre_dump
    def _unwrap(self, result: services.NearestResult, **kwargs: Any) -> _Nearby:
        return _Nearby(result)


class NearestResponseSchema(Schema):
    query = fields.Dict(required=True)
    facilities = fields.List(fields.Nested(NearbyFacilitySchema), required=True)


class ClusterSchema(Schema):
    location = fields.Function(lambda c: in_both_datums(c.lat, c.lng), required=True)
    count = fields.Integer(required=True)


class MapResponseSchema(Schema):
    total = fields.Integer(required=True)
    clustered = fields.Function(lambda view: bool(view.clusters), required=True)
    facilities = fields.List(fields.Nested(FacilitySchema), required=True)
    clusters = fields.List(fields.Nested(ClusterSchema), required=True)
