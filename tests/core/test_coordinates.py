"""One coordinate convention across the API: every endpoint taking a point takes coord_type alike."""

from __future__ import annotations


def test_every_endpoint_taking_coordinates_takes_coord_type_with_one_default(client):
    # Regression: /facilities/nearest defaulted to WGS-84 while /reports/nearby and /facilities defaulted to GCJ-02,
    # and signboard applications took WGS-84 only.
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    taken = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("name") in ("lat", "bbox"):
                    taken.append((path, method, next(p["schema"] for p in operation["parameters"]
                                                     if p.get("name") == "coord_type")))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_schema = schemas.get(body.get("$ref", "").rsplit("/", 1)[-1], {})
            properties = body_schema.get("properties", {})
            if "latitude" in properties:
                taken.append((path, method, properties["coord_type"]))
            location = properties.get("location", {}).get("$ref", "").rsplit("/", 1)[-1]
            if location:
                taken.append((path, method, schemas[location]["properties"]["coord_type"]))
    assert {(path, method) for path, method, _ in taken} >= {
        ("/api/v1/facilities/nearest", "get"), ("/api/v1/facilities", "get"), ("/api/v1/reports/nearby", "get"),
        ("/api/v1/reports", "post"), ("/api/v1/signboard-applications", "post")}
    for path, method, coord_type in taken:
        assert (coord_type["default"], sorted(coord_type["enum"])) == ("gcj02", ["gcj02", "wgs84"]), (path, method)
    assert "Coordinates" in spec["info"]["description"]
