"""Admin forms: declared as marshmallow schemas in each package's ``forms.py``, loaded here.

A form that does not load raises ``FormInvalid``, whose ``fields`` has the shape of the API's
``details.fields`` (``{field: [messages]}``); the admin templates show each message next to its field
with the ``field_errors`` macro of ``admin/_form.html``. Core's own pages (sign-in, staff accounts)
declare theirs at the end of this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import MultiDict

from core.errors import ValidationFailed

FORM_INVALID_MESSAGE = "表单填写有误，请按提示修改。"


class FormInvalid(ValidationFailed):
    """The form did not load: the page is shown again with ``fields`` next to the inputs (HTTP 422)."""

    def __init__(self, fields: Mapping[str, list[str]], message: str = FORM_INVALID_MESSAGE) -> None:
        self.fields = {name: list(messages) for name, messages in fields.items()}
        super().__init__(message, details={"fields": self.fields})


class Checkbox(ma.fields.Field):
    """A checkbox: ticked sends "on", unticked sends nothing at all."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        return value == "on"


def load_form(schema: ma.Schema, form: MultiDict[str, str]) -> dict[str, Any]:
    """``form`` (a request's form) as ``schema`` loads it. Fields declared ``List`` take every value the form
    sent under their name; the others take the first. Unknown fields (the CSRF token, buttons) are ignored."""
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key not in form:
            continue
        data[key] = form.getlist(key) if isinstance(field, ma.fields.List) else form.get(key)
    try:
        return schema.load(data, unknown=ma.EXCLUDE)
    except ma.ValidationError as error:
        raise FormInvalid(_flatten(error.normalized_messages())) from None


def _flatten(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """marshmallow's messages (lists, or per-index dicts for List fields) as one list of texts per field."""
    return {str(name): _texts(value) for name, value in messages.items()}


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for nested in value.values() for text in _texts(nested)]
    return [text for nested in value for text in _texts(nested)]


# --- core's own pages: they only shape what the browser sent; the services check the values ---------------------

class SignInForm(ma.Schema):
    username = ma.fields.String(load_default="")
    password = ma.fields.String(load_default="")


class NewStaffForm(ma.Schema):
    username = ma.fields.String(load_default="")
    display_name = ma.fields.String(load_default="")
    password = ma.fields.String(load_default="")
    roles = ma.fields.List(ma.fields.String(), load_default=list)


class StaffChangesForm(ma.Schema):
    display_name = ma.fields.String(load_default="")
    roles = ma.fields.List(ma.fields.String(), load_default=list)
    is_active = Checkbox()
    # An empty field leaves the password as it is.
    new_password = ma.fields.Function(deserialize=lambda value: value or None, load_default=None)
