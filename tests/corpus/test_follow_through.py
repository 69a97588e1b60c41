"""Real phone photos in a resident's follow-through: the answer to a request for information and the reopening of a
closed report each carry a multi-megabyte phone photo with GPS and maker notes, as the mini-program sends them.

The photo reaches the moderators and the desk; its position stays in the evidence copy (the media's own reading
matches exiftool's) and is gone from the copy the timeline serves.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from cases.models import REWORK_ACTION
from citizen import services as citizen_services
from tests.cases.conftest import accepted_report
from tests.cases.test_reopen import close_on_desk, desk_case_of
from tests.citizen.helpers import new_report, sign_in
from tests.citizen.test_conversation import ask
from tests.corpus.conftest import CORPUS_DIR, ExifTool
from tests.corpus.test_corpus import exif_gps, metadata_left

pytestmark = pytest.mark.corpus

PHONE_PHOTOS = ("exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg", "exif-samples/jpg/hdr/iphone_hdr_NO.jpg")
GPS_TOLERANCE = 1e-6


@pytest.fixture
def resident(client):
    return sign_in(client, "oCorpusFollowThrough0001")


def upload(client, auth: dict[str, str], relative: str, run_jobs) -> tuple[int, Path]:
    path = CORPUS_DIR / relative
    assert path.stat().st_size > 1_500_000, "a phone photo of a phone's size"
    # Encoded here in memory: the test client's own encoding spools a large body to a file it never closes.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(path.read_bytes()), filename=path.name)})
    response = client.post("/api/v1/media", headers=auth, data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 201, response.json
    run_jobs()
    return response.json["id"], path


def served_copy_is_clean(client, url: str, exiftool: ExifTool, tmp_path: Path) -> None:
    """The timeline's copy, fetched as the mini-program would, carries no location nor other metadata."""
    # Local-disk links name the app (served here by the test client); S3 links name the object store.
    parts = urlsplit(url)
    on_the_app = parts.hostname in (None, "localhost", "testserver")
    body = client.get(f"{parts.path}?{parts.query}").data if on_the_app else requests.get(url, timeout=60).content
    copy = tmp_path / "served.jpg"
    copy.write_bytes(body)
    assert len(body) > 10_000
    assert metadata_left(exiftool.read(copy)) == []


def evidence_keeps_position(client, auth: dict[str, str], media_id: int, path: Path, exiftool: ExifTool) -> None:
    media = client.get(f"/api/v1/media/{media_id}", headers=auth).json
    assert media["status"] == "ready"
    expected = exif_gps(exiftool.read(path))
    assert expected is not None
    assert max(abs(media["gps"][axis] - value) for axis, value in zip(("lat", "lng"), expected, strict=True)) \
        < GPS_TOLERANCE


def test_a_phone_photo_answers_a_request_for_information(app, client, resident, run_jobs, exiftool, tmp_path):
    report_id = new_report(client, resident)["id"]
    run_jobs()
    ask(app, report_id)
    media_id, path = upload(client, resident, PHONE_PHOTOS[0], run_jobs)

    response = client.post(f"/api/v1/reports/{report_id}/reply", headers=resident,
                           json={"text": "已补拍近景，垃圾在路口东南角。", "media_ids": [media_id]})

    assert response.status_code == 200, response.json
    answer = response.json["timeline"][-1]
    assert answer["by"] == "resident" and len(answer["photos"]) == 1
    served_copy_is_clean(client, answer["photos"][0]["large"], exiftool, tmp_path)
    evidence_keeps_position(client, resident, media_id, path, exiftool)
    with app.app_context():
        report = citizen_services.get_report(report_id)
        assert citizen_services.INFO_SUPPLIED in report.flags
        assert {item.media_id: item.purpose for item in report.media}[media_id] == "reply"


def test_a_phone_photo_goes_with_a_reopening_to_the_desk(app, client, resident, run_jobs, exiftool, tmp_path):
    report_id = accepted_report(app, client, resident, run_jobs)
    close_on_desk(app, report_id)
    run_jobs()
    media_id, path = upload(client, resident, PHONE_PHOTOS[1], run_jobs)

    response = client.post(f"/api/v1/reports/{report_id}/reopen", headers=resident,
                           json={"reason": "垃圾又堆起来了，见照片。", "media_ids": [media_id]})

    assert response.status_code == 200, response.json
    reopened = response.json["timeline"][-1]
    assert len(reopened["photos"]) == 1
    served_copy_is_clean(client, reopened["photos"][0]["large"], exiftool, tmp_path)
    evidence_keeps_position(client, resident, media_id, path, exiftool)
    with app.app_context():
        assert desk_case_of(report_id).steps[-1].action == REWORK_ACTION
        assert {item.media_id: item.purpose for item in citizen_services.get_report(report_id).media}[media_id] \
            == "reopen"
