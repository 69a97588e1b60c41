from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

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


# What wx.requestSubscribeMessage's success object carries besides the templates' answers.
_CALLBACK_KEYS = ("errMsg", "errCode")


class SubscriptionSchema(Schema):
    """wx.requestSubscribeMessage's success object as the mini-program receives it, either as the body itself or
    under ``results``; its ``errMsg`` is not an answer and is set aside."""

    results = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.String(validate=validate.OneOf(("accept", "reject", "ban", "filter"))),
                          required=True, validate=validate.Length(min=1, max=10),
                          metadata={"description": "wx.requestSubscribeMessage's answer: {templateId: 'accept'|…}"
                                                   " (an errMsg key is allowed and ignored)"})

    @pre_load
    def _the_callback_as_is(self, data: Any, **_: object) -> Any:
        if not isinstance(data, dict):
            return data
        results = data["results"] if "results" in data else data
        if isinstance(results, dict):
            results = {key: value for key, value in results.items() if key not in _CALLBACK_KEYS}
        return {"results": results}


class SubscriptionResultSchema(Schema):
    remaining = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class SubscribeSettingsSchema(Schema):
    template_ids = fields.List(fields.String(), required=True,
                               metadata={"description": "Pass to wx.requestSubscribeMessage({tmplIds})"})
