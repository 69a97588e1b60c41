"""The app the mini-program's page tests talk to: gunicorn on a loopback port, on a database of its own, with the
loopback fake WeChat behind `wx.login`'s codes, and the phone's files (photos of several megabytes, a video, a voice
note) the device's pickers and recorder hand out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.geo import from_wgs84
from tests.common.factories import ReportFactory
from tests.common.media_files import phone_photo_bytes, phone_video_file
from tests.common.stack import Gunicorn, free_port
from tests.conftest import IN_CI, _environment_of, app_on_own_database
from tests.fakes.wechat import FakeWeChatServer
from tests.media import samples

HERE = Path(__file__).resolve().parent
LOGIN_CODE_PREFIX = "miniprogram-device:"
STATUS_TEMPLATE_ID = "TMPL_REPORT_STATUS"
# Where the resident stands (WGS-84): Zhanshan Road, Shinan District; the open report already filed is 60 m away.
RESIDENT_AT = (36.0671, 120.3826)
OPEN_REPORT_AT = (36.06764, 120.3826)
NODE_NEEDED = ("Node.js 20 and npm are needed for the mini-program's page tests: install them (Debian: apt-get install "
               "nodejs npm; elsewhere https://nodejs.org/en/download), then `make test` installs the packages of "
               "tests/miniprogram/package-lock.json with npm ci")


@dataclasses.dataclass(frozen=True)
class MiniProgramBackend:
    url: str
    openapi: dict
    # Passed to the page tests as MINIPROGRAM_FIXTURES: what they find on the device and in the city.
    fixtures: dict


@pytest.fixture(scope="session")
def jest() -> Path:
    """The page tests' jest, once Node and the lock file's packages are there (asked for before the server starts:
    without Node there is nothing to serve)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(NODE_NEEDED) if IN_CI else pytest.skip(NODE_NEEDED)
    major = int(subprocess.run([node, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True,
                               check=True).stdout)
    if major < 20:
        message = f"Node.js {major} is too old: {NODE_NEEDED}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    jest = HERE / "node_modules" / ".bin" / "jest"
    if not jest.exists():
        message = "tests/miniprogram/node_modules is missing: `make test` installs it (or `npm ci` there)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return jest


@pytest.fixture(scope="session")
def device_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The phone's camera roll and recorder output: real files, as large as a phone's."""
    directory = tmp_path_factory.mktemp("device")
    taken_at = dt.datetime.now(dt.timezone.utc)
    made = {
        # 12 megapixels of sensor noise: several megabytes, CR and LF all through the bytes, as a camera's are.
        "photo": phone_photo_bytes(1, gps=RESIDENT_AT, taken_at=taken_at),
        "second_photo": phone_photo_bytes(2, megapixels=8, gps=RESIDENT_AT, taken_at=taken_at),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = directory / f"IMG_{name}.jpg"
        paths[name].write_bytes(data)
    paths["video"] = phone_video_file(directory / "VID_0001.mp4", 3 * 1024 * 1024)
    # Two recordings, not one file twice: the API hands back the media it already holds for the same bytes.
    for name, seconds in (("voice", 3), ("second_voice", 2)):
        paths[name] = directory / f"{name}.aac"
        samples.encoded(paths[name], "adts", audio_codec="aac", seconds=seconds)
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(scope="session")
def miniprogram_backend(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChatServer,
                        request: pytest.FixtureRequest, device_files: dict[str, str]) -> Iterator[MiniProgramBackend]:
    tmp_dir = tmp_path_factory.mktemp("miniprogram")
    fake_wechat.wechat.device_code_prefix = LOGIN_CODE_PREFIX
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with app_on_own_database(tmp_dir, fake_wechat, request, "miniprogram") as app:
        with app.app_context():
            open_report = ReportFactory(lat=OPEN_REPORT_AT[0], lng=OPEN_REPORT_AT[1], status="in_progress",
                                        description="湛山路人行道井盖松动，踩上去会响。")
            open_report_id = open_report.id
        # As deployed: links to media are whole (PUBLIC_BASE_URL), the status template is published.
        env = {**_environment_of(app.config["APP_SETTINGS"], fake_wechat), "PUBLIC_BASE_URL": url,
               "WECHAT_STATUS_TEMPLATE_ID": STATUS_TEMPLATE_ID}
        server = Gunicorn(env, workers=2, timeout=120, port=port)
        try:
            openapi = requests.get(f"{url}/api/openapi.json", timeout=30).json()
            latitude, longitude = from_wgs84(*RESIDENT_AT, "gcj02")
            fixtures = {"location": {"latitude": latitude, "longitude": longitude},
                        "openReportId": open_report_id, "statusTemplateId": STATUS_TEMPLATE_ID,
                        "files": device_files}
            yield MiniProgramBackend(url, openapi, fixtures)
        finally:
            server.stop()
            fake_wechat.wechat.device_code_prefix = None


def run_page_tests(jest: Path, test_file: Path, backend: MiniProgramBackend, call_log: Path
                   ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(Path(shutil.which("node") or "node").parent) + ":/usr/bin:/bin",
           "HOME": str(call_log.parent), "MINIPROGRAM_API_BASE": backend.url,
           "MINIPROGRAM_CALL_LOG": str(call_log), "MINIPROGRAM_LOGIN_CODE_PREFIX": LOGIN_CODE_PREFIX,
           "MINIPROGRAM_FIXTURES": json.dumps(backend.fixtures), "TZ": "UTC"}
    return subprocess.run([str(jest), "--ci", "--colors=false", str(test_file)], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=900)
