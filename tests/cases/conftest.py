"""Fixtures for the case system: a loopback Open311/webhook case system and helpers to act on reports."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from cases import services as case_services
from cases import signing
from cases.models import CaseDelivery
from cases.services import AfterPhoto, AfterPhotos
from cases.settings import CaseSettings
from citizen import services as citizen_services
from citizen.models import Report
from citizen.settings import CitizenSettings
from core.config import current_settings
from core.db import db, utcnow
from core.models import StaffAccount
from core.services import Actor
from media import services as media_services
from tests.citizen.helpers import new_report, sign_in
from tests.common.media_files import photo_bytes
from tests.core.admin_helpers import signed_in_staff
from tests.fakes.case_system import API_KEY, WEBHOOK_SECRET, FakeCaseSystem, FakeCaseSystemServer

UPDATES_SECRET = "case-updates-secret-0123456789"
MODERATOR = Actor(None, "moderator-cases")
# Cameras write EXIF times in local time without an offset: read as Asia/Shanghai, as a Qingdao phone's are.
CAMERA_CLOCK = ZoneInfo("Asia/Shanghai")
_site_photo_seeds = itertools.count(7000)


@pytest.fixture(scope="session")
def case_server() -> Iterator[FakeCaseSystemServer]:
    server = FakeCaseSystemServer().start()
    yield server
    server.stop()


@pytest.fixture
def case_system(case_server) -> Iterator[FakeCaseSystem]:
    case_server.system.reset()
    yield case_server.system
    case_server.system.reset()


def current_case_settings() -> CaseSettings:
    """What the cases jobs and views hand the services, for tests that call them directly."""
    return current_settings(CaseSettings)


def case_settings(case_server: FakeCaseSystemServer, system: str = "desk", **changes: object) -> dict[str, object]:
    return {"case_system": system, "open311_endpoint": f"{case_server.base_url}/open311", "open311_api_key": API_KEY,
            "case_webhook_url": f"{case_server.base_url}/webhook", "case_webhook_secret": WEBHOOK_SECRET,
            "case_updates_secret": UPDATES_SECRET, "case_media_hosts": ("127.0.0.1",),
            "public_base_url": "http://testserver", "wechat_status_template_id": "TMPL_STATUS",
            # Messages at once, each change its own (test_notification_quota.py covers the coalescing window).
            "wechat_status_coalesce_seconds": 0, **changes}


@pytest.fixture
def use_case_system(override_settings, case_server, case_system):
    """Switch the app to a case system for this test: use_case_system("open311", **more_settings)."""

    def use(system: str = "desk", **changes: object):
        return override_settings(**case_settings(case_server, system, **changes))

    return use


@pytest.fixture
def resident(client):
    return sign_in(client, "oCasesResident0000000001")


def accept(app, report_id: int) -> None:
    with app.app_context():
        version = db.session.get(Report, report_id).version
        citizen_services.accept_report(MODERATOR, report_id, expected_version=version)
        db.session.commit()


def accepted_report(app, client, resident, run_jobs, **body) -> int:
    """A report submitted by the resident and accepted by a moderator, its delivery job run."""
    report_id = new_report(client, resident, **body)["id"]
    run_jobs()
    accept(app, report_id)
    run_jobs()
    return report_id


def delivery_of(app, report_id: int) -> CaseDelivery:
    with app.app_context():
        delivery = db.session.scalar(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id))
        assert delivery is not None
        list(delivery.attempt_log)
        db.session.expunge(delivery)
        return delivery


def report_status(app, report_id: int) -> str:
    with app.app_context():
        return db.session.get(Report, report_id).status


def signed_update(client, body: dict, *, secret: str = UPDATES_SECRET, timestamp: int | None = None,
                  raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    headers = signing.signed_headers(secret, int(time.time()) if timestamp is None else timestamp, data)
    return client.post("/api/v1/case-updates", data=data, headers=headers, content_type="application/json")


def a_department(name: str = "市南区环卫所", kind: str = "环卫") -> int:
    """The id of the department of this name, created the first time (inside an app context)."""
    existing = next((department for department in case_services.list_departments() if department.name == name), None)
    return (existing or case_services.create_department(MODERATOR, name=name, kind=kind)).id


def signed_in_handler(app, username: str, department: str = "市南区环卫所"):
    """A test client signed in as a new handler, member of the department of this name."""
    client = signed_in_staff(app, username, "handler")
    with app.app_context():
        staff_id = db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == username))
        department_id = a_department(department)
        case_services.set_members(MODERATOR, department_id, case_services.member_ids(department_id) | {staff_id})
        db.session.commit()
    return client


def site_photo_bytes(gps: tuple[float, float] | None, taken_at: dt.datetime | None = None) -> bytes:
    """A camera photo with EXIF GPS ``gps`` and DateTimeOriginal ``taken_at`` (now unless given), new bytes each
    time."""
    return photo_bytes(next(_site_photo_seeds), gps=gps, taken_at=(taken_at or utcnow()).astimezone(CAMERA_CLOCK))


def after_photos(report_id: int, *photos: bytes, upload_position: tuple[float, float] | None = None) -> AfterPhotos:
    """处置's proof as the desk page hands it over (in an app context): ``photos`` (one taken now at the report's
    place unless given) stored as the resident's media, with the browser's position."""
    report = citizen_services.get_report(report_id)
    media_ids = []
    with tempfile.TemporaryDirectory(prefix="after-photo-") as directory:
        for number, data in enumerate(photos or (site_photo_bytes((report.lat, report.lng)),)):
            path = Path(directory) / f"photo-{number}"
            path.write_bytes(data)
            media_ids.append(media_services.accept_local_file(report.resident_id, path).id)
    return AfterPhotos(tuple(AfterPhoto(media_id, upload_position) for media_id in media_ids),
                       current_settings(CitizenSettings))
