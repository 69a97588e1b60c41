from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cases.services import EXTERNAL_STATUSES


class CaseUpdateSchema(Schema):
    update_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                              metadata={"description": "Unique per update; a repeat is a no-op"})
    report_id = fields.Integer(load_default=None, metadata={"description": "Our report id (the idempotency key)"})
    case_id = fields.String(load_default=None, validate=validate.Length(max=64),
                            metadata={"description": "Or the case system's own id, as it answered the delivery"})
    status = fields.String(required=True, validate=validate.OneOf(EXTERNAL_STATUSES))
    note = fields.String(load_default=None, validate=validate.Length(max=400),
                         metadata={"description": "An officer's note: internal (staff only) unless `public` is true"})
    public = fields.Boolean(load_default=False,
                            metadata={"description": "The note is a public reply: shown to the resident on the "
                                                     "timeline and, masked, in the Open311 feed"})
    photo_urls = fields.List(fields.Url(schemes={"http", "https"}), load_default=list,
                             validate=validate.Length(max=9),
                             metadata={"description": "Resolution photos, fetched from allow-listed hosts"})
    occurred_at = fields.AwareDateTime(load_default=None, metadata={
        "description": "When the case system made the update (ISO 8601 with its offset); absent: as of its receipt. "
                       "An update older than one already applied to the report is kept but changes nothing"})

    @validates_schema
    def _one_reference(self, data: dict, **_: object) -> None:
        if data.get("report_id") is None and not data.get("case_id"):
            raise ValidationError("report_id or case_id is required", field_name="report_id")


class CaseUpdateResultSchema(Schema):
    applied = fields.Boolean(required=True, metadata={"description": "False for a repeated update (no-op)"})
    report_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "The report's status afterwards"})
    superseded = fields.Boolean(required=True, metadata={
        "description": "True when the update is older than one already applied: recorded, nothing changed"})


class SubscriptionSchema(Schema):
    results = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.String(validate=validate.OneOf(("accept", "reject", "ban", "filter"))),
                          required=True, validate=validate.Length(min=1, max=10),
                          metadata={"description": "wx.requestSubscribeMessage's answer: {templateId: 'accept'|…}"})


class SubscriptionResultSchema(Schema):
    remaining = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class SubscribeSettingsSchema(Schema):
    template_ids = fields.List(fields.String(), required=True,
                               metadata={"description": "Pass to wx.requestSubscribeMessage({tmplIds})"})
