"""The pages whose flows start from what the city already holds — staff's answers to my reports, toilets around me,
an approved signboard application, a reward WeChat Pay waits for me to confirm (tests/miniprogram/seeds.py) —
driven under Node against a served app seeded for them and paying through the loopback WeChat Pay, as
test_pages.py drives the others; every call they make is checked against the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.geo import from_wgs84
from tests.common.stack import Gunicorn, free_port
from tests.conftest import _environment_of, app_on_own_database
from tests.fakes.wechat import APP_ID, FakeWeChatServer
from tests.fakes.wechatpay import FakeWeChatPayServer, payout_environment, payout_settings
from tests.miniprogram.conftest import HERE, LOGIN_CODE_PREFIX, RESIDENT_AT, MiniProgramBackend
from tests.miniprogram.seeds import seed
from tests.miniprogram.test_pages import assert_pages_pass

pytestmark = pytest.mark.embedded_only

SEEDED_PAGE_TESTS = sorted((HERE / "pages" / "seeded").glob("*.test.js"))


@pytest.fixture(scope="session")
def seeded_backend(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChatServer,
                   request: pytest.FixtureRequest, device_files: dict[str, str]) -> Iterator[MiniProgramBackend]:
    tmp_dir = tmp_path_factory.mktemp("miniprogram-seeded")
    wechatpay = FakeWeChatPayServer(APP_ID).start()
    payouts = payout_settings(wechatpay, tmp_dir, APP_ID)
    fake_wechat.wechat.device_code_prefix = LOGIN_CODE_PREFIX
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The seeding app pays through the same WeChat Pay as the served one, so the bill it makes is the one claimed.
    with app_on_own_database(tmp_dir, fake_wechat, request, "miniprogram_seeded", **payouts) as app:
        fixtures = seed(app, RESIDENT_AT, wechatpay.state)
        env = {**_environment_of(app.config["APP_SETTINGS"], fake_wechat), **payout_environment(payouts),
               "PUBLIC_BASE_URL": url}
        server = Gunicorn(env, workers=2, timeout=120, port=port)
        try:
            openapi = requests.get(f"{url}/api/openapi.json", timeout=30).json()
            latitude, longitude = from_wgs84(*RESIDENT_AT, "gcj02")
            fixtures.update(location={"latitude": latitude, "longitude": longitude}, files=device_files)
            yield MiniProgramBackend(url, openapi, fixtures)
        finally:
            server.stop()
            wechatpay.stop()
            fake_wechat.wechat.device_code_prefix = None


@pytest.mark.parametrize("page_test", SEEDED_PAGE_TESTS, ids=[path.name.removesuffix(".test.js")
                                                              for path in SEEDED_PAGE_TESTS])
def test_seeded_pages_against_the_real_api(page_test: Path, jest: Path, seeded_backend: MiniProgramBackend,
                                           tmp_path: Path) -> None:
    assert_pages_pass(jest, page_test, seeded_backend, tmp_path)
