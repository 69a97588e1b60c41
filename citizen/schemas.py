from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

from core.db import MAX_DATABASE_ID
from core.schemas import coord_type_field, not_blank


class WeChatLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "The code from wx.login()"})


class DevLoginSchema(Schema):
    openid = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ResidentSchema(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class SessionSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_at = fields.DateTime(required=True)
    resident = fields.Nested(ResidentSchema, required=True)


class ProblemCategorySchema(Schema):
    id = fields.String(required=True, metadata={"description": "Kind letter + 4-digit code: B0301, S0101"})
    code = fields.String(required=True, metadata={"description": "The 4-digit standard code"})
    kind = fields.String(required=True, metadata={"description": "component (部件) or event (事件)"})
    class_code = fields.String(required=True)
    class_name = fields.String(required=True)
    name = fields.String(required=True)
    hint = fields.String(required=True)


class ProblemCategoryClassSchema(Schema):
    kind = fields.String(required=True)
    class_code = fields.String(required=True)
    name = fields.String(required=True)
    categories = fields.List(fields.Nested(ProblemCategorySchema), required=True)


class ProblemCategoryTreeSchema(Schema):
    classes = fields.List(fields.Nested(ProblemCategoryClassSchema), required=True)


class LocationInSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lng = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    coord_type = coord_type_field()


class ReportCreateSchema(Schema):
    category_code = fields.String(required=True, validate=validate.Length(min=1, max=8))
    description = fields.String(required=True, validate=[validate.Length(min=1, max=500), not_blank])
    location = fields.Nested(LocationInSchema, required=True)
    address = fields.String(load_default="", validate=validate.Length(max=200))
    media_ids = fields.List(fields.Integer(strict=True), required=True, validate=validate.Length(min=1, max=11))


class IdempotencyHeaderSchema(Schema):
    idempotency_key = fields.String(required=True, data_key="Idempotency-Key",
                                    validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"),
                                    metadata={"description": "A fresh random key per report (8–64 characters)"})


class LocationOutSchema(Schema):
    wgs84 = fields.Dict(required=True)
    gcj02 = fields.Dict(required=True)


class TimelineEntrySchema(Schema):
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    at = fields.DateTime(required=True)
    note = fields.String(required=True)
    photos = fields.List(fields.Dict(), required=True, metadata={
        "description": "Signed links of the case system's photos for this step (resolution)"})


class ReportMediaSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    purpose = fields.String(required=True)
    urls = fields.Dict(required=True)


class ReportSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    category = fields.Nested(ProblemCategorySchema, required=True)
    description = fields.String(required=True)
    address = fields.String(required=True)
    district = fields.String(allow_none=True)
    location = fields.Nested(LocationOutSchema, required=True)
    created_at = fields.DateTime(required=True)
    media = fields.List(fields.Nested(ReportMediaSchema), required=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema), required=True)
    reject_reason = fields.String(allow_none=True)
    rating = fields.Integer(allow_none=True)
    rating_comment = fields.String(allow_none=True)


class ReportPageSchema(Schema):
    items = fields.List(fields.Nested(ReportSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# ASCII digits: \d and int() also take other scripts' digits.
_ID_DIGITS = re.compile(r"^[0-9]{1,10}$")


def _within_database_ids(value: str) -> None:
    # marshmallow runs this even after the pattern refused the value ("abc"): only digits it took are read.
    if _ID_DIGITS.match(value) and int(value) > MAX_DATABASE_ID:
        raise ValidationError(f"at most {MAX_DATABASE_ID}")


class PageArgsSchema(Schema):
    # Ids are 32-bit in the database: a longer cursor would be a 500 on PostgreSQL, not a 422.
    cursor = fields.String(load_default=None, validate=[validate.Regexp(_ID_DIGITS), _within_database_ids])
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=50))


class RatingSchema(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=500))


class NearbyArgsSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lng = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    coord_type = coord_type_field()
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=50),
                           metadata={"description": "How many of the nearest to return"})


class ProblemCategoryBriefSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)


class NearbyReportSchema(Schema):
    category = fields.Nested(ProblemCategoryBriefSchema, required=True)
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    location = fields.Dict(required=True, metadata={
        "description": "Rounded to about 100 m, in the requested coordinates"})
    description = fields.String(required=True, metadata={"description": "The public text: phone numbers, identity "
                                                                         "card numbers and plates masked"})
    distance_m = fields.Integer(required=True)
    thumbnail_url = fields.String(allow_none=True,
                                  metadata={"description": "The first public photo's blurred thumbnail"})
    photos = fields.List(fields.Dict(), required=True,
                         metadata={"description": "Signed links (large, thumb) of the photos a moderator made "
                                                  "public, blurred where they showed faces or plates"})
    reported_on = fields.Date(required=True)


class NearbySchema(Schema):
    items = fields.List(fields.Nested(NearbyReportSchema), required=True)


class ExportSchema(Schema):
    exported_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    resident = fields.Dict(required=True, metadata={"description": "The account as stored"})
    data = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                       metadata={"description": "By package: the resident's reports, media (with signed links), "
                                                "signboard applications…"})
