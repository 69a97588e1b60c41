"""A real phone photo as 处置's proof: its GPS and capture time as exiftool reads them decide, so a photo taken
elsewhere, or at the place but years before the dispatch, is refused with the distance or the time exiftool gives."""

from __future__ import annotations

import pytest

from cases import services
from core.db import db
from core.errors import ValidationFailed
from core.geo import haversine_m
from core.services import Actor
from tests.cases.conftest import CAMERA_CLOCK, a_department, accepted_report, after_photos
from tests.cases.test_reopen import desk_case_of
from tests.citizen.helpers import QINGDAO, sign_in
from tests.corpus.conftest import CORPUS_DIR
from tests.corpus.test_corpus import exif_gps, exif_time

pytestmark = pytest.mark.corpus

# A phone's photo with GPS and DateTimeOriginal with an offset (OffsetTimeOriginal), 2 MB.
PHONE_PHOTO = CORPUS_DIR / "exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg"
HANDLER = Actor(None, "corpus-handler")


@pytest.fixture
def resident(client):
    return sign_in(client, "oCorpusProofResident0001")


def refused_on_dispatched_case(app, client, resident, run_jobs, location: tuple[float, float]) -> ValidationFailed:
    """The phone photo offered as the after-photo of a report at ``location``, registered and dispatched."""
    report_id = accepted_report(app, client, resident, run_jobs, location=location)
    with app.app_context():
        case_id = desk_case_of(report_id).id
        for action, form in (("register", {}), ("dispatch", {"department_id": a_department("市南区环卫所")})):
            services.act_on_desk_case(HANDLER, case_id, action, **form, roles=("admin",),
                                      expected_version=services.get_desk_case(case_id).version)
            db.session.commit()
        proof = after_photos(report_id, PHONE_PHOTO.read_bytes())
        with pytest.raises(ValidationFailed) as refusal:
            services.act_on_desk_case(HANDLER, case_id, "handle", note="已处置。", after_photos=proof, roles=("admin",),
                                      expected_version=services.get_desk_case(case_id).version)
        db.session.rollback()
        assert services.get_desk_case(case_id).step == "dispatched"
    return refusal.value


def test_a_phone_photo_taken_in_another_city_is_refused_by_its_exif_distance(app, client, resident, run_jobs,
                                                                             exiftool):
    gps = exif_gps(exiftool.read(PHONE_PHOTO))
    assert gps is not None
    refusal = refused_on_dispatched_case(app, client, resident, run_jobs, QINGDAO)
    assert refusal.code == "proof_far_away" and refusal.details["source"] == "exif"
    assert refusal.details["distance_m"] == pytest.approx(haversine_m(*QINGDAO, *gps), abs=1)
    assert f"距反映位置 {haversine_m(*QINGDAO, *gps):.0f} 米" in refusal.message


def test_a_phone_photo_of_the_place_taken_years_before_the_dispatch_is_refused_by_its_exif_time(
        app, client, resident, run_jobs, exiftool, override_settings):
    tags = exiftool.read(PHONE_PHOTO)
    gps, taken_at = exif_gps(tags), exif_time(tags)
    assert gps is not None and taken_at is not None and tags.get("ExifIFD:OffsetTimeOriginal")
    # The report filed where the photo was taken: its place passes, its time decides.
    lat, lng = gps
    override_settings(service_area=((lat - 1, lng - 1), (lat - 1, lng + 1), (lat + 1, lng + 1), (lat + 1, lng - 1)))
    refusal = refused_on_dispatched_case(app, client, resident, run_jobs, gps)
    assert refusal.code == "proof_taken_before_dispatch"
    assert refusal.details["taken_at"] == taken_at.isoformat()
    assert f"拍摄于 {taken_at.astimezone(CAMERA_CLOCK):%Y-%m-%d %H:%M:%S}，早于案件派遣时间" in refusal.message
