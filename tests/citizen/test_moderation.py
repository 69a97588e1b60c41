"""The lifecycle rules, the automatic checks, and moderators acting at once."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.services import moderation
from citizen.models import Report, ReportMedia
from citizen.settings import CitizenSettings
from core.db import db, utcnow
from core.errors import Conflict, ValidationFailed
from core.geo import EARTH_RADIUS_M
from core.models import AuditEntry
from core.services import Actor
from core.wechat import WeChatMiniProgram
from media import services as media_services
from tests.citizen.helpers import ACCEPTED, QINGDAO, new_report, sign_in, upload_photo
from tests.common.factories import ResidentFactory
from tests.fakes.wechat import APP_ID, APP_SECRET
from tests.common.media_files import photo_bytes, reencoded

FIRST, SECOND = Actor(None, "moderator-1"), Actor(None, "moderator-2")


def metres_north(metres: float) -> tuple[float, float]:
    return QINGDAO[0] + metres / 111_320.0, QINGDAO[1]


@pytest.fixture
def resident(client):
    return sign_in(client, "oModeratedResident")


def version_of(report_id: int) -> int:
    return db.session.get(Report, report_id).version


@pytest.mark.parametrize(("path", "refused"), [
    (["accepted"], "in_progress"),
    (["rejected"], "accepted"),
    (["withdrawn"], "accepted"),
    (["duplicate"], "forwarded"),
    (["accepted", "forwarded", "in_progress", "resolved", "closed"], "in_progress"),
])
def test_illegal_transitions_are_refused_by_the_service(app, client, resident, path, refused):
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        report = services.get_report(report_id)
        for status in path:
            services.transition(report, status, actor_kind="system")
        with pytest.raises(Conflict) as refusal:
            services.transition(report, refused, actor_kind="system")
        assert refusal.value.code == "illegal_transition"
        assert [event.to_status for event in report.events] == ["pending_review", *path]


def test_accepting_records_the_moderator_and_audits(app, client, resident):
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        services.accept_report(FIRST, report_id, expected_version=version_of(report_id))
        report = services.get_report(report_id)
        assert report.status in ACCEPTED and report.reviewed_by == "moderator-1"
        assert next(e for e in report.events if e.to_status == "accepted").actor_name == "moderator-1"
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "report.accept"))
        assert entry.object_id == str(report_id) and entry.before == {"status": "pending_review"}


def test_the_second_of_two_moderators_gets_a_conflict_and_nothing_applies_twice(app, client, resident):
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        seen_by_both = version_of(report_id)
        services.accept_report(FIRST, report_id, expected_version=seen_by_both)
        db.session.commit()
        with pytest.raises(Conflict) as second:
            services.reject_report(SECOND, report_id, expected_version=seen_by_both, reason="不属于城市管理范围")
        assert second.value.code == "report_changed"
        db.session.rollback()
        assert services.get_report(report_id).status in ACCEPTED
        actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_id == str(report_id)))
        assert list(actions) == ["report.accept"]


def test_a_moderator_whose_report_changes_after_it_was_read_gets_a_conflict(app, client, resident, monkeypatch):
    """Both read the same version; the other's change commits before this one writes: a conflict, not a 500."""
    report_id = new_report(client, resident)["id"]
    read_report = services.get_report

    def read_then_changed(wanted: int) -> Report:
        loaded = read_report(wanted)
        db.session.execute(sa.update(Report).where(Report.id == wanted).values(version=Report.version + 1)
                           .execution_options(synchronize_session=False))
        return loaded

    with app.app_context():
        version = version_of(report_id)
        monkeypatch.setattr(moderation, "get_report", read_then_changed)
        with pytest.raises(Conflict) as refusal:
            services.accept_report(FIRST, report_id, expected_version=version)
        assert refusal.value.code == "report_changed"


def test_rejecting_needs_a_reason_that_the_resident_sees(app, client, resident):
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        with pytest.raises(Exception, match="驳回理由"):
            services.reject_report(FIRST, report_id, expected_version=version_of(report_id), reason=" ")
        db.session.rollback()
        services.reject_report(FIRST, report_id, expected_version=version_of(report_id), reason="照片无法反映问题")
        db.session.commit()
    detail = client.get(f"/api/v1/reports/{report_id}", headers=resident).json
    assert detail["status"] == "rejected" and detail["reject_reason"] == "照片无法反映问题"
    assert "照片无法反映问题" in detail["timeline"][-1]["note"]


def test_marking_a_duplicate_points_at_the_original(app, client, resident):
    original, copy = new_report(client, resident)["id"], new_report(client, resident)["id"]
    with app.app_context():
        with pytest.raises(ValidationFailed):
            services.mark_duplicate(FIRST, copy, expected_version=version_of(copy), duplicate_of_id=copy)
        db.session.rollback()
        services.mark_duplicate(FIRST, copy, expected_version=version_of(copy), duplicate_of_id=original)
        assert services.get_report(copy).duplicate_of_id == original


def test_duplicate_candidates_are_nearby_recent_same_category_nearest_first(app, client, resident, run_jobs):
    far = new_report(client, resident, location=metres_north(120))["id"]
    forty = new_report(client, resident, location=metres_north(40))["id"]
    ten = new_report(client, resident, location=metres_north(10))["id"]
    other_kind = new_report(client, resident, location=metres_north(5), category="S0104")["id"]
    old = new_report(client, resident, location=metres_north(2))["id"]
    subject = new_report(client, resident)["id"]
    run_jobs()
    with app.app_context():
        db.session.get(Report, old).created_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8)
        db.session.commit()
        settings = app.config["APP_SETTINGS"].area(CitizenSettings)
        ranked = [c.report.id for c in services.duplicate_candidates(services.get_report(subject), settings)]
    assert ranked == [ten, forty]
    assert far not in ranked and other_kind not in ranked and old not in ranked


def test_a_report_just_inside_the_duplicate_radius_is_a_candidate(app, client, resident, run_jobs):
    settings = app.config["APP_SETTINGS"].area(CitizenSettings)
    # 99.9 % of the radius north, as haversine_m measures it (the mean Earth radius).
    almost = new_report(client, resident, location=(QINGDAO[0] + math.degrees(
        0.999 * settings.duplicate_radius_m / EARTH_RADIUS_M), QINGDAO[1]))["id"]
    subject = new_report(client, resident)["id"]
    run_jobs()
    with app.app_context():
        candidates = services.duplicate_candidates(services.get_report(subject), settings)
    assert [(c.report.id, round(c.distance_m, 2)) for c in candidates] == [
        (almost, round(0.999 * settings.duplicate_radius_m, 2))]


def test_a_report_filed_near_an_open_one_of_its_category_is_flagged_by_the_submission_itself(
        app, client, resident, run_jobs, jobs_lost):
    original = new_report(client, resident, location=metres_north(15))["id"]
    new_report(client, resident, location=metres_north(5), category="S0104")
    run_jobs()
    photo = upload_photo(client, resident)
    run_jobs()
    with jobs_lost():  # no later check job: what the submission found is what staff see
        subject = new_report(client, resident, media_ids=[photo])["id"]
    with app.app_context():
        report = services.get_report(subject)
        assert "possible_duplicate" in report.flags
        assert [candidate["report_id"] for candidate in report.checks["duplicates"]] == [original]


def test_a_similar_photo_ranks_a_candidate_above_a_nearer_one(app, client, resident, run_jobs):
    picture = photo_bytes(4242)
    similar = new_report(client, resident, location=metres_north(30),
                         media_ids=[upload_photo(client, resident, data=picture)])["id"]
    nearer = new_report(client, resident, location=metres_north(20))["id"]
    subject = new_report(client, resident, media_ids=[upload_photo(client, resident, data=reencoded(picture))])["id"]
    run_jobs()
    with app.app_context():
        candidates = services.duplicate_candidates(services.get_report(subject),
                                                  app.config["APP_SETTINGS"].area(CitizenSettings))
        assert [c.report.id for c in candidates] == [similar, nearer]
        assert candidates[0].photo_distance <= 2 < candidates[1].photo_distance


def test_the_same_photo_on_another_report_is_flagged(app, client, resident, run_jobs):
    picture = photo_bytes(777)
    first = new_report(client, resident, location=metres_north(500),
                       media_ids=[upload_photo(client, resident, data=picture)])
    neighbour = sign_in(client, "oNeighbour")
    second = new_report(client, neighbour, media_ids=[upload_photo(client, neighbour, data=picture)])
    run_jobs()
    with app.app_context():
        report = services.get_report(second["id"])
        assert "photo_seen_before" in report.flags
        assert report.checks["photo_seen_before"][0]["report_id"] == first["id"]


def test_evidence_far_from_the_point_or_old_is_flagged(app, client, resident, run_jobs):
    taken = dt.datetime.now() - dt.timedelta(days=5)
    photo = upload_photo(client, resident, gps=metres_north(2000), taken_at=taken)
    report_id = new_report(client, resident, media_ids=[photo])["id"]
    run_jobs()
    with app.app_context():
        report = services.get_report(report_id)
        assert {"evidence_far_away", "evidence_old"} <= set(report.flags)
        evidence = report.checks["evidence"][0]
        assert evidence["distance_m"] == pytest.approx(2000, rel=0.01)


def test_evidence_taken_here_and_now_raises_no_flag(app, client, resident, run_jobs):
    photo = upload_photo(client, resident, gps=metres_north(30), taken_at=dt.datetime.now())
    report_id = new_report(client, resident, media_ids=[photo])["id"]
    run_jobs()
    with app.app_context():
        assert services.get_report(report_id).flags == []


def test_risky_text_is_flagged_not_blocked(app, client, resident, fake_wechat, run_jobs):
    fake_wechat.wechat.risky_words.add("违禁")
    report = new_report(client, resident, description="这里有违禁内容")
    assert report["status"] == "pending_review"
    run_jobs()
    with app.app_context():
        assert "text_flagged" in services.get_report(report["id"]).flags


@pytest.mark.parametrize("outage", ["error_answer", "unreachable"])
def test_a_text_check_without_an_answer_is_run_again_by_the_sweep(app, client, resident, fake_wechat, run_jobs,
                                                                  monkeypatch, outage):
    """No answer from WeChat's content check is no verdict: the report stays 核查中 until the sweep's check gets
    one (the text was never let through as harmless)."""
    fake_wechat.wechat.risky_words.add("违禁")
    working = app.extensions["wechat"]
    if outage == "error_answer":
        fake_wechat.wechat.text_check_failures[:] = [-1]  # 系统繁忙
    else:
        unreachable = WeChatMiniProgram(APP_ID, APP_SECRET, "http://127.0.0.1:1/", None)
        monkeypatch.setitem(app.extensions, "wechat", unreachable)
    report_id = new_report(client, resident, description="这里有违禁内容")["id"]
    run_jobs()
    overdue = utcnow() + services.CHECKS_OVERDUE_AFTER
    with app.app_context():
        assert services.get_report(report_id).flags == ["checks_pending"]
    monkeypatch.setitem(app.extensions, "wechat", working)
    with app.app_context():
        assert services.requeue_pending_checks(now=overdue) == 1
        db.session.commit()  # as the sweep's command does: the checks are queued once it commits
    run_jobs()
    with app.app_context():
        assert services.get_report(report_id).flags == ["text_flagged"]
        assert services.requeue_pending_checks(now=overdue) == 0


def test_checks_lost_or_run_before_the_photo_was_processed_run_again_from_the_sweep(app, client, resident, run_jobs,
                                                                                     jobs_lost):
    """Until the checks have seen every photo's hashes and EXIF the report is flagged 核查中; the sweep runs
    overdue checks again (their job lost with Redis, or run while a photo was still being processed)."""
    with jobs_lost():
        photo = upload_photo(client, resident, gps=metres_north(2000), taken_at=dt.datetime.now())
        report_id = new_report(client, resident, media_ids=[photo])["id"]
    run_jobs()
    overdue = utcnow() + services.CHECKS_OVERDUE_AFTER
    with app.app_context():
        assert services.get_report(report_id).flags == ["checks_pending", "evidence_far_away"]
        assert services.requeue_pending_checks() == 0  # queued moments ago: may simply not have run yet
        assert services.requeue_pending_checks(now=overdue) == 1
        db.session.commit()  # as the sweep's command does: the checks are queued once it commits
    run_jobs()
    with app.app_context():
        assert "checks_pending" in services.get_report(report_id).flags  # the photo is still unprocessed
        media_services.requeue_unprocessed(now=utcnow() + media_services.PROCESSING_REQUEUE_AFTER)
        db.session.commit()
    run_jobs()
    swept = app.test_cli_runner().invoke(args=["reports", "sweep"])
    assert swept.exit_code == 0 and "queued the checks of 0 reports" in swept.output
    with app.app_context():
        assert services.requeue_pending_checks(now=overdue) == 1
        db.session.commit()  # as the sweep's command does: the checks are queued once it commits
    run_jobs()
    with app.app_context():
        report = services.get_report(report_id)
        assert report.flags == ["evidence_far_away"]
        assert services.requeue_pending_checks(now=overdue) == 0


def test_the_queue_is_oldest_first_with_a_keyset_cursor_and_counts(app, client, resident):
    ids = [new_report(client, resident)["id"] for _ in range(3)]
    with app.app_context():
        filters = services.QueueFilter()
        first_page = services.moderation_queue(filters, after=None, limit=2)
        assert [r.id for r in first_page] == ids[:2]
        cursor = (first_page[-1].created_at, first_page[-1].id)
        assert [r.id for r in services.moderation_queue(filters, after=cursor, limit=2)] == ids[2:]
        assert services.status_counts(filters)["pending_review"] == 3


def test_urgent_categories_stand_first_in_the_queue_across_pages(app, client, resident):
    # 急要件: a report of an urgent category is moderated before older ones, and the cursor still walks every report.
    usual = [new_report(client, resident)["id"] for _ in range(2)]
    urgent = [new_report(client, resident, category="S0401")["id"] for _ in range(2)]
    with app.app_context():
        category = next(c for c in services.list_categories() if c.id == "S0401")
        services.update_category(Actor(None, "admin"), "S0401", name=category.name, hint=category.hint,
                                 is_active=True, is_urgent=True)
        for limit in (1, 3):  # pages ending inside the urgent part and past it
            filters, walked, after = services.QueueFilter(), [], None
            while page := services.moderation_queue(filters, after=after, limit=limit):
                walked += [report.id for report in page]
                after = (page[-1].created_at, page[-1].id)
            assert walked == urgent + usual


def pending_reports_without_flags(count: int, *, before: dt.datetime) -> list[int]:
    """Reports older than ``before`` that no check flagged, written straight to the table (fast)."""
    owner = ResidentFactory().id
    reports = [Report(resident_id=owner, category_id="S0104", description="未标记的反映", lat=QINGDAO[0],
                      lng=QINGDAO[1], address="青岛市市南区", district="市南区", status="pending_review",
                      idempotency_key=f"unflagged-{n}", request_fingerprint="fp", flags=[], checks={},
                      created_at=before - dt.timedelta(minutes=count - n))
               for n in range(count)]
    db.session.add_all(reports)
    db.session.commit()
    return [report.id for report in reports]


def test_the_flag_filter_fills_a_page_behind_many_unflagged_reports(app, client, resident, run_jobs):
    # Regression: the filter ran in Python over 20 pages' worth of rows, so 45 older unflagged
    # reports hid every flagged one from a page of 2.
    with app.app_context():
        pending_reports_without_flags(45, before=dt.datetime.now(dt.timezone.utc))
    flagged = [new_report(client, resident, location=metres_north(300 * n),
                          media_ids=[upload_photo(client, resident, gps=metres_north(300 * n + 2000))])["id"]
               for n in range(3)]
    run_jobs()
    with app.app_context():
        filters = services.QueueFilter(flag="evidence_far_away")
        first_page = services.moderation_queue(filters, after=None, limit=2)
        assert [report.id for report in first_page] == flagged[:2]
        cursor = (first_page[-1].created_at, first_page[-1].id)
        assert [report.id for report in services.moderation_queue(filters, after=cursor, limit=2)] == flagged[2:]
        assert services.status_counts(filters)["pending_review"] == 3


def test_a_flag_leaves_the_filter_when_the_checks_no_longer_raise_it(app, client, resident, run_jobs):
    picture = photo_bytes(31337)
    neighbour = sign_in(client, "oNeighbourSamePhoto")
    new_report(client, neighbour, location=metres_north(900), media_ids=[upload_photo(client, neighbour, data=picture)])
    run_jobs()
    second = new_report(client, resident, media_ids=[upload_photo(client, resident, data=picture)])["id"]
    run_jobs()
    with app.app_context():
        filters = services.QueueFilter(flag="photo_seen_before")
        assert [report.id for report in services.moderation_queue(filters, after=None)] == [second]
        services.request_more_information(FIRST, second, expected_version=services.get_report(second).version,
                                          message="请补充近景照片")
        db.session.execute(sa.delete(ReportMedia).where(ReportMedia.report_id != second))
        services.run_checks(second, app.config["APP_SETTINGS"].area(CitizenSettings))
        assert services.moderation_queue(filters, after=None) == []
        asked = services.moderation_queue(services.QueueFilter(flag="info_requested"), after=None)
        assert [report.id for report in asked] == [second]


def test_the_kept_counts_follow_submissions_and_status_changes(app, client, resident):
    ids = [new_report(client, resident)["id"] for _ in range(4)]
    moderator = FIRST
    with app.app_context():
        services.reject_report(moderator, ids[0], expected_version=services.get_report(ids[0]).version,
                               reason="不属于城市管理范围")
        services.accept_report(moderator, ids[1], expected_version=services.get_report(ids[1]).version)
        services.withdraw_report(services.get_report(ids[2]).resident_id, ids[2])
        counted = dict(db.session.execute(sa.select(Report.status, sa.func.count()).group_by(Report.status)).all())
        kept = services.status_counts(services.QueueFilter())
        assert {status: count for status, count in kept.items() if count} == counted
        assert kept["pending_review"] == 1 and kept["rejected"] == 1 and kept["withdrawn"] == 1
