from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema

from core.geo import in_both_datums, to_wgs84
from core.links import public_url
from core.schemas import coord_type_field, not_blank
from signboard_templates import credit_code, services
from signboard_templates.models import STATUSES
from signboard_templates.rules import BUILDING_KINDS, MOUNT_POSITIONS


def preview_url(template_id: str, shop_name: str, width_m: float | None = None, height_m: float | None = None) -> str:
    sizes = {"width_m": f"{width_m:g}", "height_m": f"{height_m:g}"} if width_m and height_m else {}
    return url_for("signboards.preview", template_id=template_id, shop_name=shop_name, **sizes)


def certificate_url(number: str) -> str:
    return public_url(url_for("signboard_certificates.certificate", number=number))


def _shop_name(value: str) -> None:
    problem = services.shop_name_problem(value)
    if problem:
        raise ValidationError(problem)


def _check_proportions(data: dict[str, Any], width_field: str, height_field: str) -> None:
    width, height = data.get(width_field), data.get(height_field)
    problem = services.sign_proportion_problem(width, height) if width and height else None
    if problem:
        raise ValidationError(problem, height_field)


def _metres(low: float, high: float, **kwargs: Any) -> fields.Float:
    return fields.Float(validate=validate.Range(min=low, max=high), **kwargs)


class TemplateQuerySchema(Schema):
    category = fields.String()
    material = fields.String()
    lighting = fields.String()


class SizeRulesSchema(Schema):
    height_min_m = fields.Float()
    height_max_m = fields.Float()
    max_thickness_m = fields.Float()
    min_clearance_m = fields.Float()


class TemplateSchema(Schema):
    id = fields.String()
    category = fields.String()
    name = fields.String()
    layout = fields.String()
    colours = fields.Function(lambda t: {"background": t.background, "text": t.text_colour, "accent": t.accent})
    typeface_weight = fields.String()
    material = fields.String()
    lighting = fields.String()
    mount = fields.String()
    size_rules = fields.Nested(SizeRulesSchema)
    default_size = fields.Function(lambda t: {"width_m": t.default_width_m, "height_m": t.default_height_m})
    sample_preview_url = fields.Function(lambda t: preview_url(t.id, services.get_category(t.category).sample_name))


class FacetValueSchema(Schema):
    value = fields.String()
    label = fields.String()
    count = fields.Integer()


class TemplateListSchema(Schema):
    catalogue_version = fields.String()
    total = fields.Integer()
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetValueSchema)))
    templates = fields.List(fields.Nested(TemplateSchema))


class CategorySchema(Schema):
    code = fields.String()
    name = fields.String()
    sample_name = fields.String()
    template_count = fields.Function(lambda c: len(services.catalogue().in_category(c.code)))
    gallery_url = fields.Function(lambda c: url_for("signboards.gallery", code=c.code))


class PreviewQuerySchema(Schema):
    shop_name = fields.String(required=True, validate=_shop_name)
    width_m = _metres(0.2, 30)
    height_m = _metres(0.2, 10)

    @validates_schema
    def _proportions(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_proportions(data, "width_m", "height_m")


class GalleryQuerySchema(Schema):
    shop_name = fields.String(validate=_shop_name)


class RuleSchema(Schema):
    code = fields.String()
    title = fields.String()
    explanation = fields.String()
    severity = fields.String()


class RuleSetSchema(Schema):
    city = fields.String()
    version = fields.String()
    rules = fields.List(fields.Nested(RuleSchema))
    mount_positions = fields.Dict(keys=fields.String(), values=fields.String())
    building_kinds = fields.Dict(keys=fields.String(), values=fields.String())


class ApplicationInputSchema(Schema):
    shop_name = fields.String(required=True, validate=_shop_name,
                              metadata={"description": "The name on the signboard"})
    licence_name = fields.String(required=True, validate=[validate.Length(min=2, max=100), not_blank],
                                 metadata={"description": "The name on the business licence"})
    credit_code = fields.String(required=True, metadata={"description": "Unified social credit code (GB 32100)"})
    category = fields.String(required=True)
    address = fields.String(required=True, validate=[validate.Length(min=4, max=200), not_blank])
    latitude = fields.Float(required=True, validate=validate.Range(min=-90, max=90),
                            metadata={"description": "In `coord_type`'s datum; answered as stored, in WGS-84"})
    longitude = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    coord_type = coord_type_field()
    facade_width_m = _metres(0.5, 100, required=True)
    facade_height_m = _metres(1, 30, required=True)
    facade_photo_media_id = fields.Integer(required=True, validate=validate.Range(min=1))
    floor = fields.Integer(required=True, validate=validate.Range(min=1, max=200))
    building_storeys = fields.Integer(required=True, validate=validate.Range(min=1, max=200))
    pedestrian_street = fields.Boolean(required=True)
    single_owner_building = fields.Boolean(load_default=False)
    building_kind = fields.String(load_default="ordinary", validate=validate.OneOf(list(BUILDING_KINDS)))
    template_id = fields.String(required=True)
    sign_width_m = _metres(0.2, 30, required=True)
    sign_height_m = _metres(0.2, 10, required=True)
    sign_thickness_m = _metres(0.01, 2, required=True)
    protrusion_m = _metres(0, 5, required=True)
    mount_height_m = _metres(0, 100, required=True, metadata={"description": "Bottom of the sign above the pavement"})
    mount_position = fields.String(load_default="lintel", validate=validate.OneOf(list(MOUNT_POSITIONS)))

    @validates("credit_code")
    def _credit_code(self, value: str, **kwargs: Any) -> None:
        problem = credit_code.problem(value)
        if problem:
            raise ValidationError(problem)

    @validates_schema
    def _proportions(self, data: dict[str, Any], **kwargs: Any) -> None:
        # The application's preview link draws the sign at this size.
        _check_proportions(data, "sign_width_m", "sign_height_m")

    @post_load
    def _as_stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The shop's place in WGS-84, as every coordinate is stored."""
        data["latitude"], data["longitude"] = to_wgs84(data["latitude"], data["longitude"], data.pop("coord_type"))
        return data


class CheckSchema(Schema):
    code = fields.String()
    title = fields.String()
    severity = fields.String()
    passed = fields.Boolean()
    message = fields.String()


class CheckResultSchema(Schema):
    can_submit = fields.Boolean()
    checks = fields.List(fields.Nested(CheckSchema))


class EventSchema(Schema):
    occurred_at = fields.DateTime()
    actor_kind = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    comment = fields.String(allow_none=True)


class ApplicationSchema(ApplicationInputSchema):
    id = fields.Integer()
    coord_type = fields.Constant("wgs84", metadata={"description": "The datum of latitude and longitude answered"})
    location = fields.Function(lambda a: in_both_datums(a.latitude, a.longitude),
                               metadata={"description": "The shop's place in both datums: {wgs84, gcj02}"})
    status = fields.String(metadata={"enum": list(STATUSES)})
    status_label = fields.String()
    revision = fields.Integer()
    checks = fields.List(fields.Nested(CheckSchema))
    rules_version = fields.String()
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    reviewer_comment = fields.String(allow_none=True)
    certificate_number = fields.String(allow_none=True)
    certificate_url = fields.Function(lambda a: certificate_url(a.certificate_number) if a.certificate_number else None)
    approved_design = fields.Dict(allow_none=True)
    preview_url = fields.Function(lambda a: preview_url(a.template_id, a.shop_name, a.sign_width_m, a.sign_height_m))
    events = fields.List(fields.Nested(EventSchema))
    created_at = fields.DateTime()
