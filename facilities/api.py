"""Resident API: facility kinds, the nearest facilities, the map view, one facility."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from core.geo import box_to_wgs84, to_wgs84
from facilities import services
from facilities.schemas import (FacilitySchema, KindSchema, MapQuerySchema, MapResponseSchema, NearestQuerySchema,
                                NearestResponseSchema)
from facilities.spatial import SearchBox

blp = Blueprint("facilities", __name__, description="Facility lookup: nearest public toilets and city facilities")


@blp.route("/facility-kinds")
class FacilityKinds(MethodView):
    @blp.response(200, KindSchema(many=True))
    def get(self):  # noqa: ANN201
        """Every kind of mapped facility (the component classification), with whether residents see it"""
        return services.list_kinds()


@blp.route("/facilities/nearest")
class NearestFacilities(MethodView):
    @blp.arguments(NearestQuerySchema, location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, NearestResponseSchema)
    def get(self, lat: float, lng: float, coord_type: str, kind: str | None, limit: int, radius_m: float,
            open_now: bool) -> dict:
        """The nearest facilities in service by great-circle distance, nearest first"""
        wgs_lat, wgs_lng = to_wgs84(lat, lng, coord_type)
        results = services.nearest(wgs_lat, wgs_lng, kind=services.resident_kind(kind), limit=limit,
                                   radius_m=radius_m, open_now=open_now)
        query = {"lat": lat, "lng": lng, "coord_type": coord_type, "kind": kind, "limit": limit,
                 "radius_m": radius_m, "open_now": open_now}
        return {"query": query, "facilities": results}


@blp.route("/facilities")
class FacilityMap(MethodView):
    @blp.arguments(MapQuerySchema, location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, MapResponseSchema)
    def get(self, bbox: tuple[float, float, float, float], coord_type: str, kind: str | None):  # noqa: ANN201
        """Facilities in a map window; grid-clustered counts when there are too many to draw"""
        min_lng, min_lat, max_lng, max_lat = bbox
        south, west, north, east = box_to_wgs84(min_lat, min_lng, max_lat, max_lng, coord_type)
        return services.map_view(SearchBox(south, north, west, east), kind=services.resident_kind(kind))


@blp.route("/facilities/<int:facility_id>")
class FacilityDetail(MethodView):
    @blp.response(200, FacilitySchema)
    @blp.alt_response(404, description="not_found")
    def get(self, facility_id: int):  # noqa: ANN201
        """One facility, with what a problem report about it needs"""
        return services.get_facility(facility_id)
