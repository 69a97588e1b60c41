"""The moderation pages' forms, loaded with core.forms.load_form. They check types only: what a value may be
(a reason's length, a category's name) is the services' to decide, for every caller alike."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma

def checkbox() -> ma.fields.Boolean:
    """A checkbox: "on" when ticked, absent otherwise."""
    return ma.fields.Boolean(load_default=False)


class OptionalId(ma.fields.Integer):
    """An id chosen in a select or typed in, where blank means none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=None, allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:
        return None if value == "" else super()._deserialize(value, attr, data, **kwargs)


class JsonValue(ma.fields.Field):
    """A value the page's script wrote as JSON into a hidden input; blank is an empty list."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return json.loads(value or "[]")
        except ValueError as error:
            raise ma.ValidationError("不是有效的 JSON。") from error


class RevealForm(ma.Schema):
    field = ma.fields.String(required=True)


class ReportActionForm(ma.Schema):
    """An action on a report as the moderator saw it: ``version`` is the version the page showed."""

    version = ma.fields.Integer(required=True)


class RejectForm(ReportActionForm):
    reason = ma.fields.String(load_default="")
    template_id = OptionalId()


class DuplicateForm(ReportActionForm):
    duplicate_of_id = ma.fields.Integer(required=True, error_messages={"required": "请填写原始反映编号。",
                                                                       "invalid": "请填写原始反映编号。"})


class RequestInfoForm(ReportActionForm):
    message = ma.fields.String(load_default="")


class PhotoPublicationForm(ma.Schema):
    """Boxes drawn on the photo as shown (``display_width`` × ``display_height`` pixels), made public or not."""

    boxes = JsonValue(load_default=[])
    display_width = ma.fields.Float(required=True, allow_nan=True)
    display_height = ma.fields.Float(required=True, allow_nan=True)
    is_public = checkbox()


class CategoryForm(ma.Schema):
    id = ma.fields.String(load_default="")
    name = ma.fields.String(load_default="")
    hint = ma.fields.String(load_default="")
    is_active = checkbox()
    is_urgent = checkbox()


class RejectionTemplateForm(ma.Schema):
    id = OptionalId()
    title = ma.fields.String(load_default="")
    text = ma.fields.String(load_default="")
    is_active = checkbox()


class BulkModerationForm(ma.Schema):
    """The reports ticked in the queue, each as "id:version" (the version the moderator saw), and what to do."""

    selected = ma.fields.List(ma.fields.String(), load_default=list)
    decision = ma.fields.String(load_default="")
    reason = ma.fields.String(load_default="")
    template_id = OptionalId()
    # The queue's query string, to go back to the same filtered page.
    queue_query = ma.fields.String(load_default="")


class AssignForm(ma.Schema):
    staff_id = OptionalId()


class BlockForm(ma.Schema):
    reason = ma.fields.String(load_default="")
    # The report page the form was sent from, to go back to.
    report_id = OptionalId()
