from __future__ import annotations

from marshmallow import Schema, fields, validate

from media.models import MEDIA_STATUSES
from media.processing import KINDS


class GpsSchema(Schema):
    lat = fields.Float(required=True, metadata={"description": "WGS-84 latitude from the photo's EXIF"})
    lng = fields.Float(required=True)


class MediaSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(KINDS)})
    status = fields.String(required=True, metadata={"enum": list(MEDIA_STATUSES)})
    content_type = fields.String(required=True, metadata={"description": "Detected from the bytes"})
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration_s = fields.Float(allow_none=True)
    taken_at = fields.DateTime(allow_none=True)
    gps = fields.Nested(GpsSchema, allow_none=True)
    urls = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                       metadata={"description": "Short-lived signed links: large, thumb (once processed)"})


class UploadFormSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class DirectUploadRequestSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    content_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    sha256 = fields.String(required=True, validate=validate.Length(equal=64))


class SignedUploadSchema(Schema):
    url = fields.String(required=True)
    method = fields.String(required=True, metadata={"enum": ["POST"]})
    fields_ = fields.Dict(data_key="fields", attribute="fields", keys=fields.String(), values=fields.String(),
                          required=True, metadata={"description": "Send as form fields before the file"})
    file_field = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class DirectUploadSchema(Schema):
    media = fields.Nested(MediaSchema, required=True)
    upload = fields.Nested(SignedUploadSchema, allow_none=True,
                           metadata={"description": "null when these bytes were already uploaded"})
