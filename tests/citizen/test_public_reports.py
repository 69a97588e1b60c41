"""The city's reports in public (GET /api/v1/reports/public): only their public version, by window, status,
category and time, as clusters zoomed out and as paged reports zoomed in; cached, and limited per address."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from citizen import services
from core import cache as cache_module
from core.db import db
from core.geo import wgs84_to_gcj02
from core.services import Actor
from media.models import Media
from tests.cases.conftest import accept
from tests.citizen.helpers import QINGDAO, new_report, sign_in, upload_photo
from tests.common.factories import ReportFactory

PATH = "/api/v1/reports/public"
PRIVATE_TEXT = "楼下垃圾没人管，联系我13912345678，车牌鲁B·D12345。"
PUBLIC_TEXT = "楼下垃圾没人管，联系我［手机号］，车牌［车牌号］。"
# About 1.1 × 0.9 km around QINGDAO (WGS-84): a street-level window, answered with the reports themselves.
STREET = {"south": 36.062, "west": 120.377, "north": 36.072, "east": 120.388, "coord_type": "wgs84"}
# The city and its surroundings: answered with clusters.
CITY = {"south": 35.6, "west": 119.5, "north": 37.1, "east": 121.0, "coord_type": "wgs84"}
UTC = dt.timezone.utc


def get(client, window: dict, **args):
    return client.get(PATH, query_string={**window, **args})


def public_ids(client, window: dict = STREET, **args) -> list[int]:
    response = get(client, window, **args)
    assert response.status_code == 200, response.json
    assert response.json["mode"] == "reports"
    return [item["id"] for item in response.json["items"]]


def test_only_the_public_version_is_served(app, client, run_jobs):
    resident = sign_in(client, "oPublicMapResident000001")
    shown, kept = upload_photo(client, resident), upload_photo(client, resident)
    report = new_report(client, resident, description=PRIVATE_TEXT, media_ids=[shown, kept])
    unmoderated = new_report(client, resident)
    run_jobs()
    accept(app, report["id"])
    with app.app_context():
        services.set_photo_publication(Actor(None, "moderator"), report["id"], shown, is_public=True, blur_boxes=[])
        db.session.commit()
    run_jobs()

    response = get(client, STREET)
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    [item] = response.json["items"]
    assert item["id"] == report["id"] and unmoderated["id"] not in public_ids(client)
    assert item["description"] == PUBLIC_TEXT and item["status"] in ("accepted", "forwarded")
    assert item["location"] == {"lat": round(QINGDAO[0], 3), "lng": round(QINGDAO[1], 3), "coord_type": "wgs84"}
    assert set(item) == {"id", "category", "status", "status_name", "description", "location", "thumbnail_url",
                         "photos", "reported_on"}
    with app.app_context():
        public_copy = services.get_report(report["id"]).media[0].public_media_id
        copy_key = db.session.get(Media, public_copy).large_key
        originals = [db.session.get(Media, media_id) for media_id in (shown, kept)]
        private_keys = [key for media in originals for key in (media.original_key, media.large_key, media.thumb_key)]
    assert len(item["photos"]) == 1 and copy_key in item["photos"][0]["large"]
    body = response.get_data(as_text=True)
    assert "13912345678" not in body and "鲁B·D12345" not in body and "oPublicMapResident000001" not in body
    assert not [key for key in private_keys if key and key in body]


@pytest.fixture
def spread(app_ctx):
    """Reports of several statuses, categories, days and places; returns their ids by name."""
    now = dt.datetime.now(UTC)
    reports = {
        "here": ReportFactory(status="accepted", created_at=now - dt.timedelta(days=1)),
        "here_closed": ReportFactory(status="closed", category_id="B0301", created_at=now - dt.timedelta(days=10)),
        "here_old": ReportFactory(status="in_progress", created_at=now - dt.timedelta(days=40)),
        "here_pending": ReportFactory(status="pending_review"),
        "here_rejected": ReportFactory(status="rejected"),
        "laoshan": ReportFactory(status="resolved", lat=36.1026, lng=120.4690, created_at=now - dt.timedelta(days=2)),
        "huangdao": ReportFactory(status="forwarded", lat=35.9606, lng=120.1980, created_at=now - dt.timedelta(days=3)),
        "jimo": ReportFactory(status="closed", lat=36.3894, lng=120.4476, created_at=now - dt.timedelta(days=5)),
    }
    return {name: report.id for name, report in reports.items()}


def test_window_status_category_and_time_filters(client, spread):
    here = {spread[name] for name in ("here", "here_closed", "here_old")}
    assert set(public_ids(client)) == here
    assert public_ids(client, status="closed") == [spread["here_closed"]]
    assert set(public_ids(client, status="accepted,in_progress")) == {spread["here"], spread["here_old"]}
    assert public_ids(client, category="B0301") == [spread["here_closed"]]
    since = (dt.datetime.now(UTC) - dt.timedelta(days=20)).isoformat()
    until = (dt.datetime.now(UTC) - dt.timedelta(days=5)).isoformat()
    assert set(public_ids(client, since=since)) == {spread["here"], spread["here_closed"]}
    assert public_ids(client, since=since, until=until) == [spread["here_closed"]]
    # Unmoderated and refused reports are never public, asked for or not.
    assert get(client, STREET, status="pending_review").status_code == 422


def test_gcj02_is_the_default_both_ways(client, spread):
    gcj_lat, gcj_lng = wgs84_to_gcj02(*QINGDAO)
    window = {"south": gcj_lat - 0.003, "west": gcj_lng - 0.003, "north": gcj_lat + 0.003, "east": gcj_lng + 0.003}
    response = get(client, window, status="accepted")
    assert response.json["coord_type"] == "gcj02"
    [item] = response.json["items"]
    assert item["location"] == {"lat": round(gcj_lat, 3), "lng": round(gcj_lng, 3), "coord_type": "gcj02"}


def clusters_of(client, window: dict, **args) -> dict:
    response = get(client, window, **args)
    assert response.status_code == 200, response.json
    assert response.json["mode"] == "clusters" and response.json["items"] == []
    return response.json


def test_clusters_add_up_to_the_total_whatever_counts_them(client, spread):
    city = clusters_of(client, CITY)
    public = {"here", "here_closed", "here_old", "laoshan", "huangdao", "jimo"}
    assert city["total"] == sum(cluster["count"] for cluster in city["clusters"]) == len(public)
    assert len(city["clusters"]) >= 3
    # Each grid kept (levels 12, 14, 16) and the levels between count the same reports.
    assert [clusters_of(client, CITY, zoom=zoom)["total"] for zoom in (8, 11, 12, 13, 14)] == [len(public)] * 5
    for cluster in city["clusters"]:
        bounds = cluster["bounds"]
        assert bounds["south"] <= cluster["lat"] <= bounds["north"]
        assert bounds["west"] <= cluster["lng"] <= bounds["east"]
    # Filtered by time the reports are counted one by one, not from the map cells: the same clusters.
    counted = clusters_of(client, CITY, since="2000-01-01")
    assert counted["clusters"] == city["clusters"]
    assert clusters_of(client, CITY, status="closed")["total"] == 2
    assert clusters_of(client, CITY, category="B0301")["total"] == 1
    assert clusters_of(client, CITY, zoom=10)["level"] == 12
    # Scale 15: clusters of the finest level kept (16); from scale 16 on the reports themselves.
    assert clusters_of(client, CITY, zoom=15)["level"] == 16
    assert get(client, STREET, zoom=16).json["mode"] == "reports"


def test_the_map_cells_follow_status_changes(app, client, spread, override_settings):
    override_settings(public_reports_cache_seconds=0)
    assert clusters_of(client, CITY, status="resolved")["total"] == 1
    with app.app_context():
        services.transition(services.get_report(spread["laoshan"]), "closed", actor_kind="staff", actor_name="办事员",
                            note="已结案")
        db.session.commit()
    assert clusters_of(client, CITY, status="resolved")["total"] == 0
    assert clusters_of(client, CITY, status="closed")["total"] == 3
    with app.app_context():
        report = services.get_report(spread["jimo"])
        report.lat, report.lng = QINGDAO
        db.session.delete(services.get_report(spread["huangdao"]))
        db.session.commit()
        kept = _map_cells()
        services.rebuild_map_cells()
        # What the triggers kept is what counting again from the reports gives.
        assert {key: count for key, (count, _, _) in kept.items() if count} == {
            key: count for key, (count, _, _) in _map_cells().items()}
        db.session.rollback()


def _map_cells() -> dict[tuple[int, str, int, int], tuple[int, float, float]]:
    from citizen.models import ReportMapCell

    return {(row.level, row.status, row.cell_y, row.cell_x): (row.total, row.lat_sum, row.lng_sum)
            for row in db.session.scalars(db.select(ReportMapCell))}


def test_reports_are_paged_newest_first(client, app_ctx):
    ids = [ReportFactory(status="accepted").id for _ in range(5)]
    first = get(client, STREET, limit=2).json
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    second = get(client, STREET, limit=2, cursor=first["next_cursor"]).json
    third = get(client, STREET, limit=2, cursor=second["next_cursor"]).json
    assert [item["id"] for page in (first, second, third) for item in page["items"]] == ids[::-1]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(("args", "field"), [
    ({**STREET, "north": 36.05}, "north"),  # north of south
    ({**STREET, "east": 120.3}, "east"),
    ({**CITY, "east": 125.0}, "east"),  # wider than the widest window
    ({**STREET, "limit": 101}, "limit"),
    ({**STREET, "since": "2026-02-30"}, "since"),
    ({**STREET, "since": "2026-03-01", "until": "2026-02-01"}, "until"),
    ({**STREET, "cursor": "abc"}, "cursor"),
    ({**STREET, "zoom": 30}, "zoom"),
    ({**STREET, "coord_type": "bd09"}, "coord_type"),
    ({"west": 120.3, "north": 36.1, "east": 120.4}, "south"),
])
def test_bad_input_is_a_json_422_naming_the_field(client, args, field):
    response = client.get(PATH, query_string=args)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["details"]["fields"]["query"]


def test_the_cache_serves_then_refreshes(app, client, spread, monkeypatch):
    first = clusters_of(client, CITY, status="resolved")
    assert first["total"] == 1
    with app.app_context():
        services.transition(services.get_report(spread["laoshan"]), "closed", actor_kind="staff", actor_name="办事员",
                            note="已结案")
        db.session.commit()
    again = get(client, CITY, status="resolved")
    assert again.headers["X-Cache"] == "hit" and again.json == first
    # A window meeting the same cells is the same answer.
    assert get(client, {**CITY, "north": 37.09}, status="resolved").headers["X-Cache"] == "hit"
    later = time.time() + 31
    monkeypatch.setattr(cache_module, "time", type("Later", (), {"time": staticmethod(lambda: later)}))
    refreshed = get(client, CITY, status="resolved")
    assert refreshed.headers["X-Cache"] == "miss" and refreshed.json["total"] == 0


def test_not_cached_when_the_cache_is_off(client, spread, override_settings):
    override_settings(public_reports_cache_seconds=0)
    assert [get(client, CITY).headers["X-Cache"] for _ in range(2)] == ["miss", "miss"]


def test_rate_limited_per_address(client, override_settings):
    override_settings(rate_limit_public_reports=(2, 60))
    assert [get(client, STREET).status_code for _ in range(2)] == [200, 200]
    refused = get(client, STREET)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"]["code"] == "rate_limited"
    assert refused.json["error"]["details"]["limit"] == "public_reports"
    assert client.get(PATH, query_string=STREET, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 200
