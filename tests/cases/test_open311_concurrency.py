"""One Open311 request posted several times at once (a client retrying) is one report (on a database that commits)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cases.settings import CaseSettings
from citizen.models import Report
from core.db import db
from tests.cases.conftest import case_settings
from tests.conftest import app_on_own_database
from tests.common.media_files import photo_bytes

pytestmark = pytest.mark.live_database
CLIENT_KEY, RETRIES = "open311-client-key", 6


@pytest.fixture(scope="module")
def open311_app(tmp_path_factory, fake_wechat, request, case_server):
    with app_on_own_database(tmp_path_factory.mktemp("open311"), fake_wechat, request, "open311_retries",
                             open311_server_api_keys=((CLIENT_KEY, "fixmystreet"),),
                             **case_settings(case_server)) as app:
        yield app


def test_a_request_posted_several_times_at_once_files_one_report_and_answers_each(open311_app, case_system):
    case_system.photos["retried.jpg"] = photo_bytes(3111)
    form = {"api_key": CLIENT_KEY, "service_code": "S0102", "lat": "36.0671", "long": "120.3826",
            "description": "路口有暴露垃圾。", "media_url": f"{case_system_url(open311_app)}/photos/retried.jpg"}
    start = threading.Barrier(RETRIES)

    def post(_: int):
        client = open311_app.test_client()
        start.wait()
        return client.post("/open311/v2/requests.json", data=form)

    with ThreadPoolExecutor(max_workers=RETRIES) as pool:
        responses = list(pool.map(post, range(RETRIES)))
    assert [response.status_code for response in responses] == [201] * RETRIES
    assert len({response.json[0]["token"] for response in responses}) == 1
    with open311_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1


def case_system_url(app) -> str:
    return app.config["APP_SETTINGS"].area(CaseSettings).open311_endpoint.removesuffix("/open311")
