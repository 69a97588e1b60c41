"""The resident API: kinds, nearest, the map view and one facility."""

from __future__ import annotations

import pytest

from core.geo import gcj02_to_wgs84, haversine_m, wgs84_to_gcj02
from facilities import services
from tests.citizen.helpers import sign_in, submit, upload_photo
from tests.common.factories import FacilityFactory

NEAREST = "/api/v1/facilities/nearest"


def test_the_kinds_are_the_114_components_with_report_codes(client):
    kinds = client.get("/api/v1/facility-kinds").get_json()
    assert len(kinds) == 114
    assert sum(not kind["is_extension"] for kind in kinds) == 85
    toilet = next(kind for kind in kinds if kind["code"] == "0301")
    assert toilet == {"code": "0301", "name": "公共厕所", "class_name": "市容环境", "shown_to_residents": True,
                      "is_extension": False}
    assert {kind["name"] for kind in kinds} >= {"充电桩", "共享单车停放区", "垃圾分类投放点", "直饮水点", "母婴室"}


def test_nearest_takes_gcj02_and_answers_with_both_datums_and_a_report_prefill(app, client):
    with app.app_context():
        facility = FacilityFactory(lat=36.0671, lng=120.3826, opening_hours="00:00-24:00")
        FacilityFactory(lat=36.0700, lng=120.3826)
        facility_id = facility.id
    gcj_lat, gcj_lng = wgs84_to_gcj02(36.0671, 120.3826)
    body = client.get(NEAREST, query_string={"lat": gcj_lat, "lng": gcj_lng, "coord_type": "gcj02",
                                             "kind": "0301", "limit": 2}).get_json()
    first, second = body["facilities"]
    assert first["id"] == facility_id and first["distance_m"] < 0.01
    assert second["distance_m"] == pytest.approx(haversine_m(36.0671, 120.3826, 36.07, 120.3826), abs=0.01)
    assert first["location"]["wgs84"] == {"lat": 36.0671, "lng": 120.3826}
    assert first["location"]["gcj02"] == pytest.approx({"lat": gcj_lat, "lng": gcj_lng})
    assert first["kind"] == {"code": "0301", "name": "公共厕所"}
    assert first["open_now"] is True and first["is_sample"] is False
    assert first["attributes"] == {"free": True, "accessible": True}
    assert first["report"] == {"facility_id": facility_id, "category_code": "B0301", "category_name": "公共厕所",
                               "lat": pytest.approx(gcj_lat), "lng": pytest.approx(gcj_lng), "coord_type": "gcj02",
                               "address": "香港中路 1 号", "district": "市南区"}
    assert body["query"]["coord_type"] == "gcj02"


def test_a_gcj02_point_sent_without_coord_type_finds_the_toilet_that_is_nearest(app, client):
    # Regression: /facilities/nearest read a point without coord_type as WGS-84 while /reports/nearby and
    # /facilities read GCJ-02. wx.getLocation({type: 'gcj02'})'s point, read as WGS-84, lies some 460 m away:
    # the answer was a toilet 503 m from the resident instead of the one 93 m from them.
    resident_at = (36.0671, 120.3826)  # WGS-84
    with app.app_context():
        near = FacilityFactory(lat=36.0679364, lng=120.3826).id  # 93 m north
        FacilityFactory(lat=36.0673762, lng=120.3881892)  # 503 m east: 41 m from the misread point
    gcj_lat, gcj_lng = wgs84_to_gcj02(*resident_at)
    body = client.get(NEAREST, query_string={"lat": gcj_lat, "lng": gcj_lng, "kind": "0301", "limit": 1}).get_json()
    assert body["query"]["coord_type"] == "gcj02"
    assert [facility["id"] for facility in body["facilities"]] == [near]
    assert body["facilities"][0]["distance_m"] == pytest.approx(93, abs=0.5)


def test_nearest_with_nothing_around_is_an_empty_list(client):
    body = client.get(NEAREST, query_string={"lat": 36.0, "lng": 120.0}).get_json()
    assert body["facilities"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"lng": 120.38}, "lat"),
    ({"lat": 36.07}, "lng"),
    ({"lat": 91, "lng": 120.38}, "lat"),
    ({"lat": 36.07, "lng": -180.5}, "lng"),
    ({"lat": "north", "lng": 120.38}, "lat"),
    ({"lat": "nan", "lng": 120.38}, "lat"),
    ({"lat": 36.07, "lng": 120.38, "coord_type": "bd09"}, "coord_type"),
    ({"lat": 36.07, "lng": 120.38, "limit": 0}, "limit"),
    ({"lat": 36.07, "lng": 120.38, "limit": 51}, "limit"),
    ({"lat": 36.07, "lng": 120.38, "limit": 2.5}, "limit"),
    ({"lat": 36.07, "lng": 120.38, "radius_m": 0}, "radius_m"),
    ({"lat": 36.07, "lng": 120.38, "radius_m": 10_001}, "radius_m"),
    ({"lat": 36.07, "lng": 120.38, "open_now": "maybe"}, "open_now"),
    ({"lat": 36.07, "lng": 120.38, "kind": "9999"}, "kind"),
    ({"lat": 36.07, "lng": 120.38, "kind": "0101"}, "kind"),  # exists, but not shown to residents
    ({"lat": 36.07, "lng": 120.38, "kind": ""}, "kind"),
    ({"lat": 36.07, "lng": 120.38, "radius": 500}, "radius"),
])
def test_bad_or_missing_nearest_parameters_get_422_naming_the_parameter(client, params, field):
    response = client.get(NEAREST, query_string=params)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] in {"validation_error", "unknown_kind"}
    assert field in error["details"]["fields"]["query"]


def test_the_map_lists_few_facilities_and_clusters_many(app, client, scatter):
    scatter(40, ("0301",), box=(36.060, 36.065, 120.370, 120.375))
    scatter(services.MAX_MAP_POINTS + 60, ("0203",), seed=2, box=(36.00, 36.05, 120.30, 120.35))
    few = client.get("/api/v1/facilities", query_string={
        "bbox": "120.369,36.059,120.376,36.066", "coord_type": "wgs84", "kind": "0301"}).get_json()
    assert few["clustered"] is False and few["total"] == 40 and len(few["facilities"]) == 40
    many = client.get("/api/v1/facilities", query_string={
        "bbox": "120.29,35.99,120.36,36.06", "coord_type": "wgs84"}).get_json()
    assert many["clustered"] is True and many["facilities"] == []
    assert many["total"] == services.MAX_MAP_POINTS + 60 == sum(c["count"] for c in many["clusters"])
    assert 1 < len(many["clusters"]) <= 100
    for cluster in many["clusters"]:
        assert 35.99 <= cluster["location"]["wgs84"]["lat"] <= 36.06


def test_a_gcj02_map_window_shows_the_facilities_along_all_of_its_edges(app, client):
    # A GCJ-02 window over central Qingdao; a facility 5 m inside it every tenth of the way along each edge.
    south, west, north, east = 36.0, 120.3, 36.1, 120.45
    inside = 0.00005
    edges = [(south + inside, west + (east - west) * step / 10) for step in range(11)]
    edges += [(north - inside, west + (east - west) * step / 10) for step in range(11)]
    edges += [(south + (north - south) * step / 10, west + inside) for step in range(1, 10)]
    edges += [(south + (north - south) * step / 10, east - inside) for step in range(1, 10)]
    edges = [(min(max(lat, south + inside), north - inside), min(max(lng, west + inside), east - inside))
             for lat, lng in edges]
    wgs_points = [gcj02_to_wgs84(lat, lng) for lat, lng in edges]
    # The window's corners alone, converted, leave some of these out: the offset differs along an edge.
    corner_south, corner_west = gcj02_to_wgs84(south, west)
    corner_north, corner_east = gcj02_to_wgs84(north, east)
    assert any(not (corner_south <= lat <= corner_north and corner_west <= lng <= corner_east)
               for lat, lng in wgs_points)
    with app.app_context():
        wanted = {FacilityFactory(lat=lat, lng=lng).id for lat, lng in wgs_points}
        # 200 m outside the window, beyond its south-west corner.
        outside_lat, outside_lng = gcj02_to_wgs84(south - 0.0018, west - 0.0022)
        FacilityFactory(lat=outside_lat, lng=outside_lng)
    body = client.get("/api/v1/facilities", query_string={
        "bbox": f"{west},{south},{east},{north}", "coord_type": "gcj02"}).get_json()
    assert body["clustered"] is False
    assert {facility["id"] for facility in body["facilities"]} == wanted


@pytest.mark.parametrize("bbox", ["1,2,3", "120.4,36.0,120.3,36.1", "a,b,c,d", "100,30,110,40", "200,0,201,1"])
def test_a_bad_bbox_gets_422(client, bbox):
    response = client.get("/api/v1/facilities", query_string={"bbox": bbox})
    assert response.status_code == 422
    assert "bbox" in response.get_json()["error"]["details"]["fields"]["query"]


def test_one_facility_by_id_and_404_for_removed_hidden_or_missing(app, client):
    with app.app_context():
        shown = FacilityFactory().id
        removed = FacilityFactory(status="removed").id
        hidden = FacilityFactory(kind_code="0101", shown=False).id
    assert client.get(f"/api/v1/facilities/{shown}").get_json()["report"]["category_code"] == "B0301"
    for missing in (removed, hidden, 987654):
        response = client.get(f"/api/v1/facilities/{missing}")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_report_from_a_facility_page_is_filed_with_its_prefill_as_given(app, client):
    # Regression: the prefill gave the kind's bare code ("0301"), which report submission refuses (it takes
    # "B0301": the bare codes of components and events overlap).
    with app.app_context():
        facility_id = FacilityFactory(lat=36.0671, lng=120.3826).id
    prefill = client.get(f"/api/v1/facilities/{facility_id}").get_json()["report"]
    resident = sign_in(client, "oToiletReporter")
    body = {"category_code": prefill["category_code"], "description": "厕所门锁坏了，无法使用。",
            "address": prefill["address"], "media_ids": [upload_photo(client, resident)],
            "location": {"lat": prefill["lat"], "lng": prefill["lng"], "coord_type": prefill["coord_type"]}}
    response = submit(client, resident, body)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["category"]["id"] == "B0301" and report["category"]["name"] == "公共厕所"
    assert report["location"]["wgs84"] == pytest.approx({"lat": 36.0671, "lng": 120.3826})


def test_every_other_kind_prefills_a_category_residents_can_choose(client):
    kinds = client.get("/api/v1/facility-kinds").get_json()
    tree = client.get("/api/v1/categories").get_json()
    offered = {category["id"] for group in tree["classes"] for category in group["categories"]}
    assert {f"B{kind['code']}" for kind in kinds if not kind["is_extension"]} <= offered


def test_a_city_extension_kind_prefills_no_category(app, client):
    # Class 21 (city extensions) has no report category: the resident picks one.
    with app.app_context():
        facility_id = FacilityFactory(kind_code="2103").id
    assert client.get(f"/api/v1/facilities/{facility_id}").get_json()["report"]["category_code"] is None
