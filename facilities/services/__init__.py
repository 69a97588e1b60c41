"""Facility lookup: the nearest query, the map view, kinds, edits and field validation. No Flask here."""

from facilities.services.editing import (EDITABLE_FIELDS, disable_facility, facility_query, get_facility,
                                         get_import, import_history_query, import_rejections_query, report_prefill,
                                         update_facility)
from facilities.services.fields import (BOOLEAN_ATTRIBUTES, FIELD_CHECKS, GENDER_FACILITIES, is_open,
                                        parse_opening_hours, storable)
from facilities.services.kinds import (density_map, kind_snapshot, list_kinds, refresh_kind_stats, resident_kind,
                                       set_kind_shown)
from facilities.services.lookup import (MAX_MAP_POINTS, MAX_NEAREST_LIMIT, MAX_RADIUS_M, FacilityView, NearestResult,
                                        map_view, nearest, nearest_hits)

__all__ = [
    "BOOLEAN_ATTRIBUTES", "EDITABLE_FIELDS", "FIELD_CHECKS", "GENDER_FACILITIES", "MAX_MAP_POINTS",
    "MAX_NEAREST_LIMIT", "MAX_RADIUS_M", "FacilityView", "NearestResult", "density_map",
    "disable_facility", "facility_query", "get_facility", "get_import", "import_history_query",
    "import_rejections_query", "is_open", "kind_snapshot",
    "list_kinds", "map_view", "nearest", "nearest_hits", "parse_opening_hours", "refresh_kind_stats",
    "report_prefill", "resident_kind", "set_kind_shown", "storable", "update_facility",
]
