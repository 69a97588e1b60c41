"""The case pages' forms, loaded with ``core.forms.load_form``."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from cases.services import LIMITED_STEPS
from core.forms import Checkbox


class RetryDeliveriesForm(ma.Schema):
    # Text, not a number: without a delivery_id all are retried, and one that is no id of ours ("abc", 2**31)
    # must retry none rather than all (core.db.database_ids reads it).
    delivery_id = fields.String()
    status = fields.String(load_default=None)  # the page's filter, to go back to


class DeskActionForm(ma.Schema):
    version = fields.Integer(required=True)  # the case's version the page showed: a step on a changed case is refused
    note = fields.String(load_default="")
    # Text, read with core.db.database_ids: the select's placeholder sends "" when no department was chosen.
    department_id = fields.String(load_default="")
    # A checkbox: "on" when ticked, absent otherwise.
    public_reply = fields.Function(deserialize=lambda text: text == "on", load_default=False)
    # Where the browser was when the handler sent 处置's photos (navigator.geolocation, WGS-84); the page sends them
    # only once the browser gave a position.
    upload_lat = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    upload_lng = fields.Float(load_default=None, validate=validate.Range(-180, 180))
    upload_accuracy_m = fields.Float(load_default=None, validate=validate.Range(min=0))


class DepartmentForm(ma.Schema):
    name = fields.String(load_default="")
    kind = fields.String(load_default="")
    is_active = Checkbox()


class RoutingRuleForm(ma.Schema):
    category_prefix = fields.String(load_default="")
    district = fields.String(load_default="")


class DepartmentMembersForm(ma.Schema):
    staff_ids = fields.List(fields.Integer(), load_default=list)


def _time_limit_fields() -> dict[str, fields.Field]:
    """Each limited step's hours and whether they are working hours, as the limits page sends them."""
    step_fields: dict[str, fields.Field] = {}
    for step in LIMITED_STEPS:
        step_fields[f"{step}_hours"] = fields.Float(required=True, error_messages={
            "required": "请填写时限。", "invalid": "时限须为数字（小时，可带小数）。"})
        step_fields[f"{step}_working"] = Checkbox()
    return step_fields


# One scope's limits (default, urgent, a class or a category); "reset" drops the scope's own values.
TimeLimitForm = ma.Schema.from_dict({"scope": fields.String(load_default=""), "reset": Checkbox(),
                                     **_time_limit_fields()}, name="TimeLimitForm")


class CalendarDayForm(ma.Schema):
    day = fields.Date(required=True,
                      error_messages={"required": "请选择日期。", "invalid": "日期格式应为 YYYY-MM-DD。"})
    is_workday = Checkbox()  # ticked: a 调休 working day; else a holiday
    name = fields.String(load_default="")
    remove = Checkbox()


class WorkingWeekForm(ma.Schema):
    # The ticked working days (ISO weekdays: Monday 1 … Sunday 7); none ticked sends none.
    weekdays = fields.List(fields.Integer(error_messages={"invalid": "工作日须为周一至周日。"}), load_default=list)
    # The working periods, one row of the page each: its start and end (HH:MM), a row left blank sending "".
    opens = fields.List(fields.String(), load_default=list)
    closes = fields.List(fields.String(), load_default=list)
    reset = Checkbox()  # back to the shipped working week
