"""Proof before closing: 处置 takes after-photos taken at the site (EXIF GPS, or the browser's position) after the case
was dispatched, held to the checks residents' photos get; a photo failing one is refused in Chinese, nothing written."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa

from cases import services
from cases.services import AfterPhoto, AfterPhotos
from cases.models import DeskCase
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.config import current_settings
from core.db import db, utcnow
from core.errors import ValidationFailed
from core.geo import haversine_m
from core.models import AuditEntry
from core.services import Actor
from tests.cases.conftest import (CAMERA_CLOCK, a_department, accepted_report, after_photos, report_status,
                                  signed_in_handler, site_photo_bytes)
from tests.cases.test_desk import act
from tests.citizen.helpers import QINGDAO
from tests.citizen.test_conversation import upload_voice
from tests.common.media_files import photo_bytes

HANDLER = Actor(None, "市南区环卫所·王师傅")
# About 14 m and 2 km (due north) from the report's place, QINGDAO.
NEAR = (36.0672, 120.3827)
FAR = (36.0851, 120.3826)


@pytest.fixture
def dispatched(app, client, resident, run_jobs, use_case_system) -> int:
    """A report on the desk, registered and dispatched; its case id."""
    use_case_system("desk")
    report_id = accepted_report(app, client, resident, run_jobs)
    with app.app_context():
        case_id = db.session.scalar(sa.select(DeskCase.id).where(DeskCase.report_id == report_id))
        for action, form in (("register", {}), ("dispatch", {"department_id": a_department("市南区环卫所")})):
            services.act_on_desk_case(HANDLER, case_id, action, roles=("admin",),
                                      expected_version=services.get_desk_case(case_id).version, **form)
            db.session.commit()
    return case_id


def handle(case_id: int, proof) -> DeskCase:
    desk_case = services.act_on_desk_case(HANDLER, case_id, "handle", note="已清运垃圾。", after_photos=proof,
                                          roles=("admin",), expected_version=services.get_desk_case(case_id).version)
    db.session.commit()
    return desk_case


def handle_audits() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "desk_case.handle"))


def refused(app, case_id: int, *photos: bytes, upload_position=None) -> ValidationFailed:
    """The handling refused, and nothing of it written: the case still dispatched, no step, no audit, the report
    in progress."""
    with app.app_context():
        report_id = services.get_desk_case(case_id).report_id
        before = services.get_desk_case(case_id).version, len(services.get_desk_case(case_id).steps)
        audited = handle_audits()
        resolution_before = [item.media_id for item in citizen_services.get_report(report_id).media
                             if item.purpose == "resolution"]
        proof = after_photos(report_id, *photos, upload_position=upload_position)
        with pytest.raises(ValidationFailed) as refusal:
            handle(case_id, proof)
        db.session.rollback()
        desk_case = services.get_desk_case(case_id)
        assert (desk_case.step, desk_case.version, len(desk_case.steps)) == ("dispatched", *before)
        assert handle_audits() == audited
        report = citizen_services.get_report(report_id)
        assert report.status == "in_progress"
        assert [item.media_id for item in report.media if item.purpose == "resolution"] == resolution_before
    return refusal.value


def test_a_photo_taken_at_the_site_after_dispatch_is_the_proof_and_goes_beside_the_residents(app, client, resident,
                                                                                            run_jobs, dispatched):
    with app.app_context():
        report_id = services.get_desk_case(dispatched).report_id
        proof = after_photos(report_id, site_photo_bytes(NEAR))
        desk_case = handle(dispatched, proof)
        step = desk_case.steps[-1]
        taken_at = services.get_desk_case(dispatched).steps[-1].proof[0]["taken_at"]
        assert step.media_ids == [proof.photos[0].media_id]
        assert step.proof == [{"media_id": proof.photos[0].media_id, "source": "exif", "taken_at": taken_at,
                               "distance_m": round(haversine_m(*QINGDAO, *NEAR), 1),
                               "lat": pytest.approx(NEAR[0], abs=1e-6), "lng": pytest.approx(NEAR[1], abs=1e-6)}]
        assert 10 < step.proof[0]["distance_m"] < 20
        resolution = [item.media_id for item in citizen_services.get_report(report_id).media
                      if item.purpose == "resolution"]
        assert resolution == [proof.photos[0].media_id]
    run_jobs()
    assert report_status(app, report_id) == "resolved"


def test_a_photo_taken_two_kilometres_away_is_refused_naming_the_distance(app, dispatched):
    refusal = refused(app, dispatched, site_photo_bytes(FAR))
    distance = haversine_m(*QINGDAO, *FAR)
    assert 1900 < distance < 2100
    assert refusal.code == "proof_far_away"
    assert refusal.message == (f"处置照片的拍摄位置（照片 EXIF 定位）距反映位置 {distance:.0f} 米，"
                               "超出 500 米的取证范围。")
    assert refusal.details["distance_m"] == round(distance, 1) and refusal.details["source"] == "exif"


def test_the_radius_is_the_evidence_radius_residents_photos_get(app, dispatched, override_settings):
    override_settings(evidence_max_distance_m=3000)
    with app.app_context():
        report_id = services.get_desk_case(dispatched).report_id
        assert handle(dispatched, after_photos(report_id, site_photo_bytes(FAR))).step == "handled"


def test_a_photo_taken_before_the_dispatch_is_refused_naming_both_times(app, dispatched):
    # The resident's kind of evidence, an old photo of the place: taken yesterday, before the case was dispatched.
    yesterday = (utcnow() - dt.timedelta(days=1)).replace(microsecond=0)
    refusal = refused(app, dispatched, site_photo_bytes(NEAR, taken_at=yesterday))
    with app.app_context():
        dispatched_at = services.get_desk_case(dispatched).steps[-1].occurred_at
    assert refusal.code == "proof_taken_before_dispatch"
    shown = "%Y-%m-%d %H:%M:%S"
    assert refusal.message == (f"处置照片拍摄于 {yesterday.astimezone(CAMERA_CLOCK):{shown}}，"
                               f"早于案件派遣时间 {dispatched_at.astimezone(CAMERA_CLOCK):{shown}}，"
                               "不能作为处置后照片。")


def test_one_bad_photo_among_good_ones_refuses_the_step_and_names_which(app, dispatched):
    refusal = refused(app, dispatched, site_photo_bytes(NEAR), site_photo_bytes(FAR))
    assert refusal.code == "proof_far_away" and refusal.message.startswith("第 2 张处置照片的拍摄位置")


def test_without_exif_gps_the_browser_position_at_upload_is_checked(app, dispatched):
    no_gps = site_photo_bytes(None)
    refusal = refused(app, dispatched, no_gps, upload_position=FAR)
    assert refusal.code == "proof_far_away" and "（上传时的浏览器定位）" in refusal.message
    assert refusal.details["source"] == "upload"
    with app.app_context():
        report_id = services.get_desk_case(dispatched).report_id
        step = handle(dispatched, after_photos(report_id, no_gps, upload_position=NEAR)).steps[-1]
        assert (step.step, step.proof[0]["source"]) == ("handled", "upload")
        assert step.proof[0]["distance_m"] == round(haversine_m(*QINGDAO, *NEAR), 1)


def test_the_photo_s_own_gps_outweighs_the_browser_position(app, dispatched):
    # Taken far away, uploaded from the site: the photo shows another place.
    refusal = refused(app, dispatched, site_photo_bytes(FAR), upload_position=QINGDAO)
    assert refusal.code == "proof_far_away" and refusal.details["source"] == "exif"


def test_a_photo_with_no_position_nor_time_is_refused(app, dispatched):
    unplaced = refused(app, dispatched, site_photo_bytes(None))
    assert unplaced.code == "proof_position_unknown" and "没有拍摄位置" in unplaced.message
    undated = refused(app, dispatched, photo_bytes(71, gps=NEAR))
    assert undated.code == "proof_time_unknown" and "没有拍摄时间" in undated.message


def test_handling_without_a_photo_is_refused(app, dispatched):
    with app.app_context():
        with pytest.raises(ValidationFailed) as refusal:
            handle(dispatched, None)
        db.session.rollback()
        assert services.get_desk_case(dispatched).step == "dispatched"
    assert (refusal.value.code, refusal.value.message) == ("proof_required",
                                                           "处置需要上传至少一张在现场拍摄的处置后照片。")


def test_a_voice_note_is_no_photo(app, client, resident, dispatched):
    voice = upload_voice(client, resident)
    with app.app_context():
        with pytest.raises(ValidationFailed) as refusal:
            handle(dispatched, AfterPhotos((AfterPhoto(voice, upload_position=QINGDAO),),
                                           current_settings(CitizenSettings)))
    assert refusal.value.code == "proof_not_photo"


def test_after_a_send_back_the_photos_must_be_newer_than_the_return(app, dispatched):
    """Sent back from 核查, the case is handled again: a photo of the first handling is no proof of the second."""
    with app.app_context():
        desk_case = services.get_desk_case(dispatched)
        report_id = desk_case.report_id
        # The case was dispatched an hour ago, first handled half an hour ago.
        for step in desk_case.steps:
            step.occurred_at -= dt.timedelta(hours=1)
        db.session.commit()
        half_an_hour_ago = (utcnow() - dt.timedelta(minutes=30)).replace(microsecond=0)
        first = site_photo_bytes(NEAR, taken_at=half_an_hour_ago)
        handle(dispatched, after_photos(report_id, first))
        services.act_on_desk_case(HANDLER, dispatched, "send_back", note="仍有残留。", roles=("admin",),
                                  expected_version=services.get_desk_case(dispatched).version)
        db.session.commit()
    refusal = refused(app, dispatched, site_photo_bytes(NEAR, taken_at=half_an_hour_ago + dt.timedelta(seconds=1)))
    assert refusal.code == "proof_taken_before_dispatch"


def test_the_desk_page_refuses_a_far_photo_in_chinese_and_keeps_the_case(app, dispatched):
    handler = signed_in_handler(app, "proof-handler")
    page = act(handler, dispatched, "handle", note="已清运。",
               photo=(io.BytesIO(site_photo_bytes(FAR)), "far.jpg"))
    assert "超出 500 米的取证范围" in page and "已派遣" in page
    with app.app_context():
        assert services.get_desk_case(dispatched).step == "dispatched"


def test_a_browser_position_vaguer_than_the_radius_places_nothing(app, dispatched):
    """A desktop's position from its network may be kilometres out: it cannot show the handler was at the site."""
    with app.app_context():
        proof = after_photos(services.get_desk_case(dispatched).report_id, site_photo_bytes(None),
                             upload_position=QINGDAO)
        vague = AfterPhotos((AfterPhoto(proof.photos[0].media_id, QINGDAO, upload_accuracy_m=3000),), proof.settings)
        with pytest.raises(ValidationFailed) as refusal:
            handle(dispatched, vague)
        db.session.rollback()
        assert services.get_desk_case(dispatched).step == "dispatched"
    assert refusal.value.code == "proof_position_imprecise"
    assert "上传时的浏览器定位误差约 3000 米，大于 500 米的取证范围" in refusal.value.message


def test_the_after_photos_places_are_kept_with_the_proof_for_the_case_map(app, dispatched):
    # One photo placed by its EXIF (about 90 m east), one by the browser's position when it was uploaded.
    east = (36.0671, 120.3836)
    with app.app_context():
        report = citizen_services.get_report(services.get_desk_case(dispatched).report_id)
        step = handle(dispatched, after_photos(report.id, site_photo_bytes(east), site_photo_bytes(None),
                                               upload_position=NEAR)).steps[-1]
        assert [(entry["source"], entry["lat"], entry["lng"]) for entry in step.proof] == [
            ("exif", pytest.approx(east[0], abs=1e-6), pytest.approx(east[1], abs=1e-6)), ("upload", *NEAR)]
        settings = current_settings(CitizenSettings)
        _, after = services.before_and_after(services.get_desk_case(dispatched), report, settings)
        assert [photo.position for photo in after] == [
            (pytest.approx(east[0], abs=1e-6), pytest.approx(east[1], abs=1e-6)), NEAR]

        # A proof checked before its places were kept: the EXIF place is read again, the browser's is unknown.
        step.proof = [{key: value for key, value in entry.items() if key not in ("lat", "lng")}
                      for entry in step.proof]
        db.session.flush()
        _, after = services.before_and_after(services.get_desk_case(dispatched), report, settings)
        assert [photo.position for photo in after] == [
            (pytest.approx(east[0], abs=1e-6), pytest.approx(east[1], abs=1e-6)), None]
        db.session.rollback()
