"""Streaming import with rejected rows, idempotent re-import, GeoJSON export, the sample."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from core.db import db
from core.geo import haversine_m, wgs84_to_gcj02
from facilities import imports, readers, services
from facilities.models import Facility, FacilityImport, FacilityKind
from tests.conftest import PRODUCTION

GOOD_AND_BAD_CSV = """\
source_id,kind,name,lat,lng,address,district,status,opening_hours,free,accessible,baby_changing,genders
qd-0001,0301,中山路公厕,36.0660,120.3200,中山路 1 号,市南区,in_service,22:00-06:00,是,yes,0,male;female
qd-0002,0301,栈桥公厕,36.0610,120.3190,太平路,市南区,,,,,,
,0301,没有编号,36.06,120.32,,,,,,,,
qd-0004,9999,未知类型,36.06,120.32,,,,,,,,
qd-0005,0301,纬度越界,96.06,120.32,,,,,,,,
qd-0006,0301,坐标缺失,,120.32,,,,,,,,
qd-0007,0301,时间错误,36.06,120.32,,,,25:00-01:00,,,,
qd-0008,0301,状态错误,36.06,120.32,,,closed,,,,,
qd-0009,0301,属性错误,36.06,120.32,,,,,maybe,,,
qd-0010,0203,公交站,36.0700,120.3300,,市北区,,,,,,,,,extra
qd-0011,0203,"多行
名称",36.0710,120.3310,,市北区,,,,,,
"""


def _rejections(path, **options):
    """The import, and each rejected row as (line, source id, column, reason)."""
    rejected: list[tuple[int, str, str, str]] = []
    record = imports.import_file(path, options.pop("file_format", "csv"),
                                 on_reject=lambda item: rejected.append(dataclasses.astuple(item)), **options)
    return record, rejected


def test_a_csv_import_keeps_good_rows_and_reports_each_bad_one_with_its_line(app_ctx, tmp_path):
    path = tmp_path / "toilets.csv"
    path.write_text(GOOD_AND_BAD_CSV, encoding="utf-8")
    record, rejected = _rejections(path, batch_size=2)
    assert [(line, column, reason) for line, _, column, reason in rejected] == [
        (4, "source_id", "缺失或超过 64 个字符"), (5, "kind", "未知的设施类型“9999”"), (6, "lat", "96.06 超出范围"),
        (7, "lat", "缺失或不是数字"), (8, "opening_hours", "开放时间“25:00-01:00”应为 HH:MM-HH:MM，多段以逗号分隔"),
        (9, "status", "应为 in_service、under_repair、removed 之一"), (10, "attributes", "“maybe”不是 是/否"),
        (11, "", "字段数多于表头")]
    assert (record.status, record.rows_read, record.rows_accepted, record.rows_rejected, record.rows_inserted) == (
        "finished", 11, 3, 8, 3)
    kept = db.session.scalars(services.import_rejections_query(record.id)).all()
    assert [(item.line, item.source_id, item.column, item.reason) for item in kept] == rejected
    toilet = db.session.scalar(sa.select(Facility).where(Facility.source_id == "qd-0001"))
    assert (toilet.name, toilet.opening_hours, toilet.status, toilet.shown) == (
        "中山路公厕", "22:00-06:00", "in_service", True)
    assert toilet.attributes == {"free": True, "accessible": True, "baby_changing": False,
                                 "genders": ["male", "female"]}
    assert db.session.scalar(sa.select(Facility.name).where(Facility.source_id == "qd-0011")) == "多行\n名称"
    assert db.session.get(FacilityKind, "0301").facility_count == 2


def test_opening_hours_longer_than_the_column_are_a_rejected_row_not_a_failed_import(app_ctx, tmp_path):
    # Eight valid ranges make 95 characters: the column holds 64, and PostgreSQL refused the whole batch.
    long_hours = ",".join(f"{hour:02d}:00-{hour:02d}:30" for hour in range(8))
    path = tmp_path / "hours.csv"
    path.write_text("source_id,kind,name,lat,lng,opening_hours\n"
                    f"qd-h1,0301,长时段,36.06,120.32,\"{long_hours}\"\nqd-h2,0301,正常,36.07,120.33,06:00-22:00\n",
                    encoding="utf-8")
    record, rejected = _rejections(path)
    assert rejected == [(2, "qd-h1", "opening_hours", "超过 64 个字符")]
    assert (record.status, record.rows_accepted, record.rows_rejected) == ("finished", 1, 1)
    assert db.session.scalars(sa.select(Facility.source_id)).all() == ["qd-h2"]


def test_reimporting_the_same_file_changes_nothing_and_a_changed_row_is_updated(app_ctx, tmp_path):
    path = tmp_path / "toilets.csv"
    path.write_text(GOOD_AND_BAD_CSV, encoding="utf-8")
    imports.import_file(path, "csv")
    before = {f.source_id: (f.id, f.name, f.updated_at) for f in db.session.scalars(sa.select(Facility))}
    again = imports.import_file(path, "csv")
    db.session.expire_all()
    assert {f.source_id: (f.id, f.name, f.updated_at) for f in db.session.scalars(sa.select(Facility))} == before
    assert (again.rows_inserted, again.rows_accepted) == (0, 3)

    path.write_text(GOOD_AND_BAD_CSV.replace("栈桥公厕", "栈桥公厕（新）"), encoding="utf-8")
    imports.import_file(path, "csv")
    db.session.expire_all()
    changed = db.session.scalar(sa.select(Facility).where(Facility.source_id == "qd-0002"))
    assert changed.name == "栈桥公厕（新）" and changed.id == before["qd-0002"][0]
    assert changed.updated_at > before["qd-0002"][2]
    updated_at = db.session.scalar(sa.select(Facility.updated_at).where(Facility.source_id == "qd-0001"))
    assert updated_at == before["qd-0001"][2]


def _feature(source_id, lng, lat, **properties):
    return {"type": "Feature", "id": source_id, "geometry": {"type": "Point", "coordinates": [lng, lat]},
            "properties": properties}


def test_a_geojson_import_streams_features_with_line_numbers_kind_override_and_gcj02(app_ctx, tmp_path):
    gcj_lat, gcj_lng = wgs84_to_gcj02(36.0671, 120.3826)
    features = [
        _feature("g-1", gcj_lng, gcj_lat, name="五四广场公厕", opening_hours="06:00-22:00", accessible=True),
        {"type": "Feature", "id": "g-2", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
         "properties": {"name": "不是点"}},
        _feature("g-3", gcj_lng, gcj_lat, name=""),
        "not a feature",
        _feature("g-5", gcj_lng + 0.001, gcj_lat, name="音乐广场公厕", attributes={"genders": ["family"]}),
    ]
    # The preamble is long enough to push "features" across the reader's first chunk.
    text = '{"type": "FeatureCollection",\n"name": "' + "x" * (readers.READ_CHUNK - 40) + '",\n"features": [\n'
    text += ",\n".join(json.dumps(f, ensure_ascii=False, indent=1 if n == 0 else None) for n, f in enumerate(features))
    text += "\n]}\n"
    path = tmp_path / "toilets.geojson"
    path.write_text(text, encoding="utf-8")
    record, rejected = _rejections(path, file_format="geojson", kind_override="0301", coord_type="gcj02")
    lines = [text[:text.index(marker)].count("\n") + 1 for marker in ('{"type": "Feature", "id": "g-2"',
                                                                       '{"type": "Feature", "id": "g-3"',
                                                                       '"not a feature"')]
    assert [line for line, *_ in rejected] == lines
    assert [(column, reason) for _, _, column, reason in rejected] == [
        ("geometry", "不是点（Point）"), ("name", "必填"), ("", "不是 GeoJSON 要素（Feature）")]
    assert record.rows_accepted == 2
    square = db.session.scalar(sa.select(Facility).where(Facility.source_id == "g-1"))
    assert square.kind_code == "0301" and haversine_m(square.lat, square.lng, 36.0671, 120.3826) < 0.01
    attributes = db.session.scalar(sa.select(Facility.attributes).where(Facility.source_id == "g-5"))
    assert attributes == {"genders": ["family"]}


@pytest.mark.parametrize(("text", "message"), [
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": ', "JSON 格式错误"),
    ('{"type": "FeatureCollection"}', "没有 \"features\" 数组"),
    ('{"type": "FeatureCollection", "features": {}}', "后面不是数组"),
    ('{"type": "FeatureCollection", "features": [', "数组中途结束"),
])
def test_an_unreadable_geojson_file_fails_as_a_whole_and_is_recorded(app_ctx, tmp_path, text, message):
    path = tmp_path / "broken.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(imports.ImportFailed, match=message):
        imports.import_file(path, "geojson")
    failed = db.session.scalar(sa.select(FacilityImport).order_by(FacilityImport.id.desc()))
    assert failed.status == "failed" and message in failed.failure


def test_text_no_database_stores_is_a_rejected_row_not_a_failed_import(app_ctx, tmp_path):
    # JSON escapes make a NUL (PostgreSQL stores none) or a lone surrogate (no database stores one) in a property.
    features = [_feature("u-1", 120.32, 36.06, kind="0301", name="a\u0000b"),
                _feature("u-2", 120.32, 36.06, kind="0301", name="公厕", address="路\ud800"),
                _feature("u-3\u0000", 120.32, 36.06, kind="0301", name="公厕"),
                _feature("u-5\udc00", 120.32, 36.06, kind="0301", name="公厕"),
                _feature("u-4", 120.33, 36.07, kind="0301", name="公厕")]
    path = tmp_path / "odd.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [\n' + ",\n".join(json.dumps(f) for f in features)
                    + "\n]}\n", encoding="utf-8")
    record, rejected = _rejections(path, file_format="geojson")
    assert [(line, column, reason) for line, _, column, reason in rejected] == [
        (2, "name", "含有 NUL 或不成对的代理字符"), (3, "address", "含有 NUL 或不成对的代理字符"),
        (4, "source_id", "含有 NUL 或不成对的代理字符"), (5, "source_id", "含有 NUL 或不成对的代理字符")]
    assert (record.status, record.rows_accepted, record.rows_rejected) == ("finished", 1, 4)
    assert db.session.scalars(sa.select(Facility.source_id)).all() == ["u-4"]


def test_json_python_will_not_decode_is_a_rejected_row_or_a_failed_import_never_a_running_one(app_ctx, tmp_path):
    # Python refuses integers of more than 4300 digits with a ValueError that is no JSONDecodeError.
    huge = "1" + "0" * 5000
    csv_path = tmp_path / "huge.csv"
    csv_path.write_text(f'source_id,kind,name,lat,lng,attributes\nh-1,0301,公厕,36.06,120.32,"{{""free"": {huge}}}"\n'
                        "h-2,0301,公厕,36.07,120.33,\n", encoding="utf-8")
    record, rejected = _rejections(csv_path)
    assert [(line, column, reason) for line, _, column, reason in rejected] == [(2, "attributes", "不是有效的 JSON")]
    assert (record.status, record.rows_accepted) == ("finished", 1)
    geojson_path = tmp_path / "huge.geojson"
    geojson_path.write_text('{"type": "FeatureCollection", "features": [\n'
                            + json.dumps(_feature("h-3", 120.32, 36.06, kind="0301", name="公厕"))
                            + ',\n{"type": "Feature", "geometry": {"type": "Point", "coordinates": ['
                            + f'{huge}, 36]}}}}\n]}}\n',
                            encoding="utf-8")
    with pytest.raises(imports.ImportFailed, match="第 3 行：JSON 格式错误"):
        imports.import_file(geojson_path, "geojson")
    failed = db.session.scalar(sa.select(FacilityImport).order_by(FacilityImport.id.desc()))
    assert (failed.filename, failed.status, failed.rows_read) == ("huge.geojson", "failed", 1)



@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), ConnectionError("server closed the connection")])
def test_an_import_stopped_midway_is_recorded_as_failed_with_what_it_had_written(app_ctx, tmp_path, monkeypatch,
                                                                             interruption):
    """Ctrl-C on a long import, or a lost database connection: the record said "running" for good."""
    path = tmp_path / "stopped.csv"
    path.write_text("source_id,kind,name,lat,lng\n"
                    + "".join(f"s-{n},0301,公厕,36.08{n},120.38{n}\n" for n in range(4)), encoding="utf-8")
    upsert_rows = imports.upsert_rows
    batches = []

    def stopping_after_the_first_batch(rows):
        if batches:
            raise interruption
        batches.append(len(rows))
        upsert_rows(rows)

    monkeypatch.setattr(imports, "upsert_rows", stopping_after_the_first_batch)
    with pytest.raises(type(interruption)):
        imports.import_file(path, "csv", batch_size=2)
    stopped = db.session.scalar(sa.select(FacilityImport).order_by(FacilityImport.id.desc()))
    assert (stopped.status, stopped.rows_read, stopped.rows_inserted) == ("failed", 4, 2)


def test_export_writes_geojson_that_imports_back_unchanged(app_ctx, scatter, tmp_path):
    scatter(30, opening_hours="08:00-20:00", box=(36.08, 36.10, 120.36, 120.40))  # on land, as imports require
    path = tmp_path / "export.geojson"
    with path.open("w", encoding="utf-8") as out:
        assert imports.export_geojson(out) == 30
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection" and len(document["features"]) == 30
    before = {f.source_id: (f.lat, f.lng, f.updated_at) for f in db.session.scalars(sa.select(Facility))}
    record = imports.import_file(path, "geojson")
    assert (record.rows_accepted, record.rows_rejected, record.rows_inserted) == (30, 0, 0)
    db.session.expire_all()
    assert {f.source_id: (f.lat, f.lng, f.updated_at) for f in db.session.scalars(sa.select(Facility))} == before


def test_the_cli_imports_with_progress_and_rejections_and_exports(app, tmp_path):
    path = tmp_path / "toilets.csv"
    path.write_text(GOOD_AND_BAD_CSV, encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["facilities", "import", str(path), "--format", "csv", "--batch-size", "100"])
    assert result.exit_code == 0, result.output
    assert "line 5: rejected qd-0004: kind 未知的设施类型“9999”" in result.stderr
    assert "11 rows read, 3 accepted (3 new), 8 rejected" in result.stdout and "rows/s" in result.stdout
    result = runner.invoke(args=["facilities", "export", "--kind", "0203"])
    assert result.exit_code == 0
    assert [f["id"] for f in json.loads(result.stdout)["features"]] == ["qd-0011"]
    bad = runner.invoke(args=["facilities", "import", str(path), "--format", "csv", "--kind", "7777"])
    assert bad.exit_code != 0 and "unknown kind" in bad.output


def test_the_sample_is_labelled_rerunnable_and_refused_in_production(app, make_app):
    runner = app.test_cli_runner()
    assert "sample facilities loaded: 400" in runner.invoke(args=["facilities", "sample"]).output
    assert runner.invoke(args=["facilities", "sample"]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Facility.is_sample.is_(True))) == 400
        assert services.nearest(36.07, 120.38, kind="0301")[0].facility.name.startswith("【示例】")
    production = make_app(**PRODUCTION)
    result = production.test_cli_runner().invoke(args=["facilities", "sample"])
    assert result.exit_code != 0 and "production never loads it" in result.output


@pytest.mark.live_database
@pytest.mark.services_only
def test_an_import_on_postgresql_leaves_every_page_of_the_table_all_visible(live_app, tmp_path):
    """Index-only scans visit the table for every entry on a page not marked all-visible: the nearest search's
    covering indexes read the table for every candidate until a VACUUM (ANALYZE alone marks nothing)."""
    path = tmp_path / "toilets.csv"
    path.write_text(GOOD_AND_BAD_CSV.replace("qd-", "all-visible-"), encoding="utf-8")
    with live_app.app_context():
        assert imports.import_file(path, "csv").rows_accepted == 3
        pages, all_visible = db.session.execute(sa.text(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'facilities'::regclass")).one()
    assert pages > 0 and all_visible == pages
