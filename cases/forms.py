"""The case pages' forms, loaded with ``core.forms.load_form``."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class RetryDeliveriesForm(ma.Schema):
    # Text, not a number: without a delivery_id all are retried, and one that is no id of ours ("abc", 2**31)
    # must retry none rather than all (core.db.database_ids reads it).
    delivery_id = fields.String()
    status = fields.String(load_default=None)  # the page's filter, to go back to


class DeskActionForm(ma.Schema):
    version = fields.Integer(required=True)  # the case's version the page showed: a step on a changed case is refused
    note = fields.String(load_default="")
    department = fields.String(load_default=None)
    # A checkbox: "on" when ticked, absent otherwise.
    public_reply = fields.Function(deserialize=lambda text: text == "on", load_default=False)
    # Where the browser was when the handler sent 处置's photos (navigator.geolocation, WGS-84); the page sends them
    # only once the browser gave a position.
    upload_lat = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    upload_lng = fields.Float(load_default=None, validate=validate.Range(-180, 180))
    upload_accuracy_m = fields.Float(load_default=None, validate=validate.Range(min=0))
