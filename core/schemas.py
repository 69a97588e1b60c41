"""Schema pieces every package's API shares: the coordinate convention and texts that must say something."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from core.geo import COORD_TYPES, DEFAULT_COORD_TYPE

# The API's one coordinate convention, as the OpenAPI document states it once (and README, "Coordinates").
COORDINATES_NOTE = (
    "Coordinates: every endpoint that takes a point or a box takes `coord_type`, `gcj02` unless it says `wgs84`; "
    "every point answered says its datum (`{wgs84: {lat, lng}, gcj02: {lat, lng}}`, or a `coord_type` beside it). "
    "Stored as WGS-84. The Open311 server (`/open311/v2`) speaks WGS-84, as the standard has it.")
COORD_TYPE_DESCRIPTION = (
    "Datum of the coordinates given: `gcj02` (the default; what `wx.getLocation({type: 'gcj02'})`, "
    "`wx.chooseLocation` and the map component give) or `wgs84` (GPS). Points answered say their datum.")


def coord_type_field(**metadata: Any) -> fields.String:
    """``coord_type``, the same on every endpoint that takes coordinates (README, "Coordinates")."""
    return fields.String(load_default=DEFAULT_COORD_TYPE, validate=validate.OneOf(COORD_TYPES),
                         metadata={"description": COORD_TYPE_DESCRIPTION, **metadata})


def not_blank(value: str) -> None:
    """A text a resident writes says something: spaces alone (of any script) are refused."""
    if not value.strip():
        raise ValidationError("must not be blank")
