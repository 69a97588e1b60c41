"""Rows outside Qingdao, or outside the district they name, are refused; judged where the point really lies."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import db
from core.geo import haversine_m, wgs84_to_gcj02
from facilities import imports, services
from facilities.models import Facility

# A point of 市北区 (WGS-84) whose GCJ-02 numbers, misread as WGS-84, fall in 市南区, over 100 m from 市北区.
SHIBEI = (36.069, 120.357)
SHIBEI_GCJ02 = wgs84_to_gcj02(*SHIBEI)


def _import(tmp_path, text, **options):
    path = tmp_path / "facilities.csv"
    path.write_text("source_id,kind,name,lat,lng,district\n" + text, encoding="utf-8")
    record = imports.import_file(path, "csv", **options)
    kept = db.session.scalars(services.import_rejections_query(record.id)).all()
    return record, [(item.line, item.source_id, item.column, item.reason) for item in kept]


def test_a_shanghai_row_tagged_shinan_is_refused_as_outside_the_service_area(app_ctx, tmp_path):
    record, rejected = _import(tmp_path, "sh-1,0301,人民广场公厕,31.2304,121.4737,市南区\n"
                                         "qd-1,0301,中山路公厕,36.0660,120.3200,市南区\n")
    assert rejected == [(2, "sh-1", "lat,lng", "坐标不在青岛市服务范围内")]
    assert (record.rows_accepted, record.rows_rejected) == (1, 1)
    assert db.session.scalars(sa.select(Facility.source_id)).all() == ["qd-1"]


def test_a_row_in_another_district_than_it_names_is_refused_naming_both(app_ctx, tmp_path):
    record, rejected = _import(tmp_path, "mis-1,0301,台东公厕,36.0900,120.3700,市南区\n"
                                         "mis-2,0301,名不副实,36.0900,120.3700,浦东新区\n"
                                         "ok-1,0301,台东公厕,36.0900,120.3700,市北区\n"
                                         "ok-2,0301,未填区,36.0900,120.3700,\n")
    assert rejected == [(2, "mis-1", "district", "坐标位于市北区，与所填区（市南区）不符"),
                        (3, "mis-2", "district", "“浦东新区”不是青岛市的区（市）")]
    assert record.rows_accepted == 2


def test_a_point_within_the_boundary_tolerance_counts_for_either_district(app_ctx, tmp_path):
    # 36.0710, 120.3310 lies in 市南区, some 10 m from 市北区: the simplified line cannot tell.
    record, rejected = _import(tmp_path, "edge-1,0301,边界公厕,36.0710,120.3310,市北区\n"
                                         "edge-2,0301,边界公厕,36.0710,120.3310,市南区\n")
    assert rejected == [] and record.rows_accepted == 2


def test_gcj02_rows_are_checked_where_they_lie_once_turned_into_wgs84(app_ctx, tmp_path):
    row = f"gcj-1,0301,辽宁路公厕,{SHIBEI_GCJ02[0]},{SHIBEI_GCJ02[1]},市北区\n"
    misread, rejected = _import(tmp_path, row, coord_type="wgs84")
    assert rejected == [(2, "gcj-1", "district", "坐标位于市南区，与所填区（市北区）不符")]
    record, rejected = _import(tmp_path, row, coord_type="gcj02")
    assert rejected == [] and record.rows_accepted == 1
    stored = db.session.scalar(sa.select(Facility).where(Facility.source_id == "gcj-1"))
    assert haversine_m(stored.lat, stored.lng, *SHIBEI) < 1
