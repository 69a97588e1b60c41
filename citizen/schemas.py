from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from citizen.services.public_map import PUBLIC_STATUSES
from core.admin import SHANGHAI
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


class TimelineMediaSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "photo, video or audio (a voice message)"})
    urls = fields.Dict(required=True)


class TimelineEntrySchema(Schema):
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    at = fields.DateTime(required=True)
    by = fields.String(required=True, metadata={
        "description": "Who made the step: resident (the resident's own reply or reopening), staff, case_system, "
                       "system"})
    note = fields.String(required=True)
    photos = fields.List(fields.Dict(), required=True, metadata={
        "description": "Signed links of the photos of this step (the case system's resolution photos, the "
                       "resident's reply or reopening)"})
    media = fields.List(fields.Nested(TimelineMediaSchema), required=True, metadata={
        "description": "Every photo, video and voice message of this step"})


class ReportMediaSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    purpose = fields.String(required=True)
    urls = fields.Dict(required=True)


RELATIONS = ("reporter", "merged", "me_too")


class FollowedReportSchema(Schema):
    """A report as one resident reads it: their own whole, or one they follow as the public reads it (masked
    text, public photos, status changes and public replies) with their own rating."""

    id = fields.Integer(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(RELATIONS), metadata={
        "description": "reporter: my report; merged: my report was merged into this one; me_too: I added my voice "
                      "(附议)"})
    me_too_count = fields.Integer(required=True, metadata={"description": "Residents who added their voice (附议)"})
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
    awaiting_information = fields.Boolean(required=True, metadata={
        "description": "Staff asked me for more information (要求补充信息) and wait for my answer: "
                       "POST /reports/{id}/reply (always false on a report I only follow)"})
    rating = fields.Integer(allow_none=True, metadata={"description": "My rating (a follower's is their own)"})
    rating_comment = fields.String(allow_none=True)


class ReportSchema(FollowedReportSchema):
    original = fields.Nested(FollowedReportSchema, allow_none=True, metadata={
        "description": "A report merged as a duplicate (status duplicate): the original it was merged into, whose "
                       "status, timeline and messages its reporter follows (and may rate once resolved)"})


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


_MEDIA_IDS_DESCRIPTION = ("Ids from POST /media of the resident's own photos (0–9), at most one video and one voice "
                          "message, none used elsewhere")


class ReplySchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "The answer to the moderator's question (not blank)",
        "example": "垃圾堆在香港中路与燕儿岛路路口东南角的绿化带旁，已补拍近景照片。"})
    media_ids = fields.List(fields.Integer(strict=True), load_default=list, validate=validate.Length(max=11),
                            metadata={"description": _MEDIA_IDS_DESCRIPTION, "example": [1042, 1043]})


class ReopenSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "Why the problem is not solved (not blank); the case system's staff read it",
        "example": "只清理了路口西侧，东侧绿化带旁的垃圾仍在。"})
    media_ids = fields.List(fields.Integer(strict=True), load_default=list, validate=validate.Length(max=11),
                            metadata={"description": _MEDIA_IDS_DESCRIPTION, "example": [1077]})


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


class PublicVersionSchema(Schema):
    """What anyone may read of a report: no resident, masked text, a rounded position, only public photos."""

    category = fields.Nested(ProblemCategoryBriefSchema, required=True)
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    location = fields.Dict(required=True, metadata={
        "description": "Rounded to about 100 m, in the requested coordinates"})
    description = fields.String(required=True, metadata={"description": "The public text: phone numbers, identity "
                                                                         "card numbers and plates masked"})
    thumbnail_url = fields.String(allow_none=True,
                                  metadata={"description": "The first public photo's blurred thumbnail"})
    photos = fields.List(fields.Dict(), required=True,
                         metadata={"description": "Signed links (large, thumb) of the photos a moderator made "
                                                  "public, blurred where they showed faces or plates"})
    reported_on = fields.Date(required=True)


class NearbyReportSchema(PublicVersionSchema):
    id = fields.Integer(required=True, metadata={"description": "For 附议: POST /reports/{id}/me-too"})
    me_too_count = fields.Integer(required=True)
    relation = fields.String(allow_none=True, required=True, validate=validate.OneOf(RELATIONS), metadata={
        "description": "Mine (reporter), followed (merged, me_too) or null"})
    distance_m = fields.Integer(required=True)


class NearbySchema(Schema):
    items = fields.List(fields.Nested(NearbyReportSchema), required=True)


class ExportSchema(Schema):
    exported_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    resident = fields.Dict(required=True, metadata={"description": "The account as stored"})
    data = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                       metadata={"description": "By package: the resident's reports, media (with signed links), "
                                                "signboard applications…"})


# The widest map window answered (degrees, either way): Qingdao is about 1.6 across.
MAX_WINDOW_DEGREES = 4.0


class PublicReportsArgsSchema(PageArgsSchema):
    south = fields.Float(required=True, validate=validate.Range(min=-90, max=90),
                         metadata={"description": "The map window's southern edge (wx map getRegion: southwest)"})
    west = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    north = fields.Float(required=True, validate=validate.Range(min=-90, max=90),
                         metadata={"description": "The window's northern edge (getRegion: northeast)"})
    east = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    coord_type = coord_type_field()
    zoom = fields.Integer(load_default=None, validate=validate.Range(min=3, max=20), metadata={
        "description": "The map's scale (3–20); from 16 on the reports themselves, below clusters. Without it the "
                       "window's size decides (reports when it is under about 2 km across)"})
    status = DelimitedList(fields.String(validate=validate.OneOf(PUBLIC_STATUSES)), load_default=(),
                           metadata={"description": "Comma-separated; default every public status"})
    category = DelimitedList(fields.String(validate=validate.Length(min=1, max=8)), load_default=(),
                             validate=validate.Length(max=20),
                             metadata={"description": "Comma-separated category ids (B0301,S0101); default all"})
    since = fields.AwareDateTime(load_default=None, default_timezone=SHANGHAI, metadata={
        "description": "Reported at or after (ISO 8601; a date or a time without offset is Beijing time)"})
    until = fields.AwareDateTime(load_default=None, default_timezone=SHANGHAI,
                                 metadata={"description": "Reported before (as since)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100),
                           metadata={"description": "Reports per page (zoomed in)"})

    @validates_schema
    def _window_and_period(self, data: dict, **_kwargs: object) -> None:
        errors = {}
        if data["north"] <= data["south"]:
            errors["north"] = ["must be north of south"]
        elif data["north"] - data["south"] > MAX_WINDOW_DEGREES:
            errors["north"] = [f"the window is at most {MAX_WINDOW_DEGREES:g} degrees high"]
        if data["east"] <= data["west"]:
            errors["east"] = ["must be east of west"]
        elif data["east"] - data["west"] > MAX_WINDOW_DEGREES:
            errors["east"] = [f"the window is at most {MAX_WINDOW_DEGREES:g} degrees wide"]
        if data["since"] and data["until"] and data["until"] <= data["since"]:
            errors["until"] = ["must be after since"]
        if errors:
            raise ValidationError(errors)


class PublicReportSchema(PublicVersionSchema):
    id = fields.Integer(required=True)


class MapBoundsSchema(Schema):
    south = fields.Float(required=True)
    west = fields.Float(required=True)
    north = fields.Float(required=True)
    east = fields.Float(required=True)


class ReportClusterSchema(Schema):
    count = fields.Integer(required=True)
    lat = fields.Float(required=True, metadata={"description": "The reports' mean position, rounded to about 100 m"})
    lng = fields.Float(required=True)
    bounds = fields.Nested(MapBoundsSchema, required=True, metadata={"description": "The grid cell"})


class PublicReportsSchema(Schema):
    mode = fields.String(required=True, metadata={"description": "clusters (zoomed out) or reports (zoomed in)"})
    coord_type = fields.String(required=True)
    level = fields.Integer(required=True, metadata={"description": "Grid level: cells of 360 / 2**level degrees"})
    total = fields.Integer(allow_none=True, required=True,
                           metadata={"description": "Clusters: the reports counted (the sum of the counts)"})
    clusters = fields.List(fields.Nested(ReportClusterSchema), required=True)
    items = fields.List(fields.Nested(PublicReportSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Reports: pass back as cursor for the next page"})
