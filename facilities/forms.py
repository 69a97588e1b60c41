"""Admin forms of the facilities pages, loaded with ``core.forms.load_form``.

They only shape what the browser sent; the values themselves are checked by the services, which name the
field they refuse in the same ``details.fields`` shape.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from core.forms import Checkbox
from core.geo import COORD_TYPES
from facilities.imports import FORMATS
from facilities.services import BOOLEAN_ATTRIBUTES


class FacilityEditForm(Schema):
    updated_at = fields.String(load_default="")
    name = fields.String(load_default="")
    address = fields.String(load_default="")
    district = fields.String(load_default="")
    opening_hours = fields.String(load_default="")
    status = fields.String(load_default="")
    free = Checkbox()
    accessible = Checkbox()
    baby_changing = Checkbox()
    genders = fields.List(fields.String(), load_default=list)

    @post_load
    def _attributes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The ticks gathered as the facility's attributes, as ``update_facility`` takes them."""
        attributes = {name: data.pop(name) for name in BOOLEAN_ATTRIBUTES}
        attributes["genders"] = data.pop("genders")
        return {**data, "attributes": attributes}


class KindShownForm(Schema):
    shown_to_residents = Checkbox()


class ImportUploadForm(Schema):
    """The options of an uploaded facility file (the file itself comes in ``request.files``)."""

    file_format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    coord_type = fields.String(load_default="wgs84", validate=validate.OneOf(COORD_TYPES))
    kind = fields.String(load_default="")

    @post_load
    def _no_kind_is_none(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "kind": data["kind"].strip() or None}
