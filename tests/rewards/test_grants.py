"""Eligibility, holds, caps and approvals, through real reports and real moderation."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from citizen import jobs as citizen_jobs
from citizen.models import Report, Resident
from core.db import db, utcnow
from core.errors import Conflict, ValidationFailed
from core.models import AuditEntry
from rewards import services
from rewards.models import Campaign, ExcludedResident, LedgerEntry, Payout, Reward
from rewards.services import grants
from rewards.settings import RewardSettings
from tests.citizen.helpers import BEIJING, QINGDAO, new_report, sign_in, upload_photo
from tests.common.media_files import photo_bytes
from tests.rewards.helpers import (OFFICER, SECOND_OFFICER, accepted_report, budget_used, make_campaign, moderate,
                                   reward_of, sweep, today)
from tests.common.statements import recorded_statements


@pytest.fixture
def resident(client):
    return sign_in(client, "oRewardedResident")


def ledger(app, reward_id: int) -> list[tuple[str, int, str]]:
    with app.app_context():
        return [(entry.kind, entry.amount_fen, entry.actor_name) for entry in db.session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.reward_id == reward_id).order_by(LedgerEntry.id))]


def test_an_accepted_report_in_a_campaign_earns_its_category_amount(app, client, run_jobs, resident):
    campaign_id = make_campaign(app, amounts={"S0102": 800, "S02": 300})
    reward = reward_of(app, accepted_report(app, client, run_jobs, resident, category="S0102"))
    assert (reward.state, reward.amount_fen, reward.campaign_id) == ("granted", 800, campaign_id)
    assert ledger(app, reward.id) == [("granted", 800, "system")]
    assert budget_used(app, campaign_id) == 800
    by_class = reward_of(app, accepted_report(app, client, run_jobs, resident, category="S0201"))
    assert by_class.amount_fen == 300


def test_without_a_campaign_nothing_is_recorded(app, client, run_jobs, resident):
    assert reward_of(app, accepted_report(app, client, run_jobs, resident)) is None


def test_without_a_campaign_a_status_change_costs_only_the_campaign_lookup(app, client, run_jobs, resident):
    """Every status change of every report reaches the rewards listener: the report's counts (same photo,
    bursts) are read only when a campaign could pay it."""
    report_id = new_report(client, resident)["id"]
    with recorded_statements(app) as statements, app.app_context():
        assert services.consider_report(report_id, app.config["APP_SETTINGS"].area(RewardSettings)) is None
    assert len(statements) == 2  # the report, the campaign of its day


def test_a_repeated_status_event_grants_once(app, client, run_jobs, resident):
    make_campaign(app)
    report_id = accepted_report(app, client, run_jobs, resident)
    moderate(app, run_jobs, report_id, "forwarded", "in_progress")
    with app.app_context():
        services.consider_report(report_id, app.config["APP_SETTINGS"].area(RewardSettings))
        reward = services.reward_for_report(report_id)
        assert [entry.kind for entry in services.ledger_for(resident_id=reward.resident_id)] == ["granted"]


@pytest.mark.parametrize(("step", "reason"), [("rejected", "report_rejected"), ("withdrawn", "report_withdrawn")])
def test_rejected_and_withdrawn_reports_earn_nothing_and_say_why(app, client, run_jobs, resident, step, reason):
    make_campaign(app)
    report_id = new_report(client, resident)["id"]
    if step == "withdrawn":
        assert client.post(f"/api/v1/reports/{report_id}/withdraw", headers=resident).status_code == 200
        run_jobs()
    else:
        moderate(app, run_jobs, report_id, step)
    reward = reward_of(app, report_id)
    assert (reward.state, reward.reason) == ("refused", reason)
    mine = client.get("/api/v1/rewards/mine", headers=resident).json
    assert mine["rewards"][0]["explanation"] == services.REASONS[reason]
    assert mine["rewards"][0]["amount_fen"] == 0


def test_a_duplicate_earns_nothing_and_the_first_report_earns(app, client, run_jobs, resident):
    make_campaign(app)
    first = accepted_report(app, client, run_jobs, resident)
    other = sign_in(client, "oSecondReporter")
    copy = new_report(client, other)["id"]
    run_jobs()
    with app.app_context():
        from citizen import services as citizen_services
        from citizen.models import Report
        citizen_services.mark_duplicate(OFFICER, copy, expected_version=db.session.get(Report, copy).version,
                                        duplicate_of_id=first)
        db.session.commit()
    run_jobs()
    assert reward_of(app, first).state == "granted"
    assert (reward_of(app, copy).state, reward_of(app, copy).reason) == ("refused", "report_duplicate")


def test_a_campaign_paying_on_close_waits_for_the_case_to_close(app, client, run_jobs, resident):
    make_campaign(app, earn_on="closed")
    report_id = accepted_report(app, client, run_jobs, resident)
    assert (reward_of(app, report_id).state, reward_of(app, report_id).reason) == ("pending", "awaiting_close")
    moderate(app, run_jobs, report_id, "forwarded", "resolved")
    assert reward_of(app, report_id).state == "pending"
    moderate(app, run_jobs, report_id, "closed")
    assert reward_of(app, report_id).state == "granted"


def test_categories_and_districts_outside_the_campaign_earn_nothing(app, client, run_jobs, resident):
    make_campaign(app, eligible_categories=("S02",), eligible_districts=("市南区",))
    assert reward_of(app, accepted_report(app, client, run_jobs, resident, category="S0102")).reason \
        == "category_not_eligible"
    assert reward_of(app, accepted_report(app, client, run_jobs, resident, category="S0201")).state == "granted"


def test_blocked_and_excluded_residents_earn_nothing(app, client, run_jobs, resident):
    make_campaign(app)
    staff_member = sign_in(client, "oStaffMembersOwnWeChat")
    with app.app_context():
        staff_id = db.session.scalar(sa.select(Resident.id).where(Resident.find_by("openid", "oStaffMembersOwnWeChat")))
        services.exclude_resident(OFFICER, staff_id, reason="staff", note="城管局工作人员")
        db.session.commit()
    assert reward_of(app, accepted_report(app, client, run_jobs, staff_member)).reason == "resident_excluded"
    report_id = new_report(client, resident)["id"]
    with app.app_context():
        db.session.scalar(sa.select(Resident).where(Resident.find_by("openid", "oRewardedResident"))).is_blocked = True
        db.session.commit()
    moderate(app, run_jobs, report_id, "accepted")
    assert reward_of(app, report_id).reason == "resident_blocked"


def test_a_photo_taken_elsewhere_holds_the_reward_until_an_officer_releases_it(app, client, run_jobs, resident):
    make_campaign(app)
    far_photo = upload_photo(client, resident, gps=BEIJING, taken_at=dt.datetime.now())
    report_id = accepted_report(app, client, run_jobs, resident, media_ids=[far_photo])
    reward = reward_of(app, report_id)
    assert (reward.state, reward.hold_signals) == ("held", ["evidence_far_away"])
    with app.app_context():
        services.release_held(OFFICER, reward.id, app.config["APP_SETTINGS"].area(RewardSettings))
        db.session.commit()
    assert reward_of(app, report_id).state == "granted"
    assert ledger(app, reward.id) == [("granted", 500, "officer-1")]


def test_a_report_accepted_before_its_checks_finished_holds_the_reward(app, client, run_jobs, resident, jobs_lost):
    make_campaign(app)
    with jobs_lost():  # the photo's processing and the report's checks: neither has run
        report_id = new_report(client, resident, media_ids=[upload_photo(client, resident)])["id"]
    moderate(app, run_jobs, report_id, "accepted")
    reward = reward_of(app, report_id)
    assert (reward.state, reward.hold_signals) == ("held", ["checks_pending"])


def test_a_reward_held_only_for_pending_checks_is_decided_when_the_checks_finish(app, client, run_jobs, resident,
                                                                                jobs_lost):
    """Held because the checks had not run when the report was accepted: once the check job has run, the
    reward is granted, or held for what the checks found only, with nobody doing anything else."""
    make_campaign(app)
    clean, far_away = upload_photo(client, resident), upload_photo(client, resident, gps=BEIJING)
    with jobs_lost():  # the check jobs (WeChat's text check runs there) are lost
        granted_later = new_report(client, resident, media_ids=[clean])["id"]
        held_later = new_report(client, resident, media_ids=[far_away])["id"]
    for report_id in (granted_later, held_later):
        moderate(app, run_jobs, report_id, "accepted")
    assert reward_of(app, granted_later).hold_signals == ["checks_pending"]
    assert reward_of(app, held_later).hold_signals == ["evidence_far_away", "checks_pending"]
    with app.app_context():
        for report_id in (granted_later, held_later):
            citizen_jobs.check_report(report_id)  # as the sweep's requeued job runs it on a worker
            db.session.commit()  # as the worker does when the job returns
    run_jobs()
    assert reward_of(app, granted_later).state == "granted"
    assert ledger(app, reward_of(app, granted_later).id) == [("granted", 500, "system")]
    still_held = reward_of(app, held_later)
    assert (still_held.state, still_held.hold_signals) == ("held", ["evidence_far_away"])


def test_the_same_photo_from_two_residents_is_held_and_can_be_refused(app, client, run_jobs, resident):
    make_campaign(app)
    picture = photo_bytes(4242, gps=QINGDAO)
    accepted_report(app, client, run_jobs, resident, media_ids=[upload_photo(client, resident, data=picture)])
    other = sign_in(client, "oPhotoBorrower")
    copied = accepted_report(app, client, run_jobs, other, media_ids=[upload_photo(client, other, data=picture)],
                             category="S0201")
    reward = reward_of(app, copied)
    assert reward.state == "held" and "photo_shared" in reward.hold_signals
    with app.app_context():
        services.refuse_held(OFFICER, reward.id)
        db.session.commit()
        assert services.reward_for_report(copied).reason == "refused_by_officer"


def backdate(app, report_id: int, days: int) -> None:
    """The report was submitted, and last changed, ``days`` ago."""
    with app.app_context():
        then = utcnow() - dt.timedelta(days=days)
        db.session.execute(sa.update(Report).where(Report.id == report_id).values(created_at=then, updated_at=then))
        db.session.commit()


def test_a_campaign_rewards_the_reports_of_its_period_submitted_before_it_existed(app, client, run_jobs, resident):
    # Regression: reports accepted before a campaign existed were rewarded at the next sweep, but only those of the
    # last day. The rule: a campaign rewards the reports submitted within its period, whenever it was saved.
    three_days_ago, last_week = accepted_report(app, client, run_jobs, resident), accepted_report(
        app, client, run_jobs, resident)
    backdate(app, three_days_ago, 3)
    backdate(app, last_week, 7)
    assert reward_of(app, three_days_ago) is None
    campaign_id = make_campaign(app, starts_on=today() - dt.timedelta(days=5))
    run_jobs()
    reward = reward_of(app, three_days_ago)
    assert (reward.state, reward.campaign_id) == ("granted", campaign_id)
    assert reward_of(app, last_week) is None  # before the period: no campaign rewards it
    sweep(app)
    assert reward_of(app, last_week) is None


def test_the_sweep_decides_a_period_whose_campaign_job_was_lost(app, client, run_jobs, resident, jobs_lost):
    report_id = accepted_report(app, client, run_jobs, resident)
    backdate(app, report_id, 3)
    with jobs_lost():
        make_campaign(app, starts_on=today() - dt.timedelta(days=5))
    assert reward_of(app, report_id) is None
    sweep(app)
    assert reward_of(app, report_id).state == "granted"


def test_residents_behind_one_carrier_address_are_not_a_burst(app, client, run_jobs):
    # Regression: ten reports an hour from one IP address held rewards, and a mobile carrier puts many residents
    # behind one address. Bursts are judged by resident; the address is a weak signal (a far higher threshold).
    make_campaign(app)
    residents = [sign_in(client, f"oCarrierResident{n}") for n in range(12)]
    states = [reward_of(app, accepted_report(app, client, run_jobs, resident)).state for resident in residents]
    assert states == ["granted"] * 12
    assert RewardSettings.reward_burst_reports_per_ip >= 3 * RewardSettings.reward_burst_reports_per_resident


def test_a_burst_of_one_resident_is_held(app, client, run_jobs, resident, override_settings):
    override_settings(reward_burst_reports_per_resident=2)
    make_campaign(app)
    states = [reward_of(app, accepted_report(app, client, run_jobs, resident)).state for _ in range(3)]
    assert states == ["granted", "granted", "held"]
    assert reward_of(app, accepted_report(app, client, run_jobs, resident)).hold_signals == ["resident_burst"]


def test_bursts_from_one_network_are_held(app, client, run_jobs, resident, override_settings):
    override_settings(reward_burst_reports_per_ip=2, reward_burst_reports_per_resident=100)
    make_campaign(app)
    states = [reward_of(app, accepted_report(app, client, run_jobs, resident)).state for _ in range(3)]
    assert states == ["granted", "granted", "held"]
    assert reward_of(app, accepted_report(app, client, run_jobs, resident)).hold_signals == ["ip_burst"]


def test_the_daily_cap_and_the_budget_are_enforced_when_granting(app, client, run_jobs, resident):
    campaign_id = make_campaign(app, default_amount_fen=500, daily_cap_fen=1000, budget_fen=1500)
    first, second, third = (reward_of(app, accepted_report(app, client, run_jobs, resident)) for _ in range(3))
    assert [first.state, second.state] == ["granted", "granted"]
    assert (third.state, third.reason) == ("refused", "daily_cap")
    other = sign_in(client, "oLateResident")
    assert reward_of(app, accepted_report(app, client, run_jobs, other)).state == "granted"
    last = reward_of(app, accepted_report(app, client, run_jobs, other))
    assert (last.state, last.reason) == ("refused", "budget_exhausted")
    assert budget_used(app, campaign_id) == 1500


def test_a_reversal_returns_the_fen_to_the_budget(app, client, run_jobs, resident):
    campaign_id = make_campaign(app)
    reward = reward_of(app, accepted_report(app, client, run_jobs, resident))
    with app.app_context():
        with pytest.raises(Exception, match="撤销原因"):
            services.reverse_reward(OFFICER, reward.id, note=" ")
        db.session.rollback()
        services.reverse_reward(OFFICER, reward.id, note="重复领取")
        db.session.commit()
    assert budget_used(app, campaign_id) == 0
    assert ledger(app, reward.id) == [("granted", 500, "system"), ("reversed", 500, "officer-1")]


def test_rewards_above_the_threshold_need_two_different_officers(app, client, run_jobs, resident):
    make_campaign(app, default_amount_fen=5000, second_approval_above_fen=2000)
    reward = reward_of(app, accepted_report(app, client, run_jobs, resident))
    with app.app_context():
        first = services.approve_rewards(OFFICER, [reward.id])
        again = services.approve_rewards(OFFICER, [reward.id])
        db.session.commit()
        assert first.awaiting_second == [reward.id] and reward.id in again.skipped
        assert db.session.get(Reward, reward.id).state == "granted"
        second = services.approve_rewards(SECOND_OFFICER, [reward.id])
        db.session.commit()
        assert second.approved == [reward.id]
        assert db.session.get(Reward, reward.id).state == "approved"
        audited = db.session.scalars(sa.select(AuditEntry.actor_name).where(AuditEntry.action == "reward.approve"))
        assert sorted(audited) == ["officer-1", "officer-2"]


def test_one_officer_cannot_skip_the_second_approval_by_lifting_the_threshold(app, client, run_jobs, resident,
                                                                             wechatpay):
    """Issue 19, finding 3: remove the campaign's threshold, approve alone, put it back. The approvals a reward needs
    are those of the campaign when it was granted."""
    from tests.core.admin_helpers import admin_post, signed_in_staff

    campaign_id = make_campaign(app, default_amount_fen=5000, second_approval_above_fen=2000)
    reward = reward_of(app, accepted_report(app, client, run_jobs, resident))
    officer = signed_in_staff(app, "officer-alone", "reward_officer")
    page = f"/admin/rewards/campaigns/{campaign_id}"
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        form = {"name": campaign.name, "description": "", "starts_on": campaign.starts_on.isoformat(),
                "ends_on": campaign.ends_on.isoformat(), "budget_yuan": "1000", "default_amount_yuan": "50",
                "daily_cap_yuan": "500", "monthly_cap_yuan": "1000", "amounts": "", "eligible_categories": "",
                "earn_on": "accepted", "is_active": "on"}

    assert admin_post(officer, page, {**form, "second_approval_above_yuan": ""}).status_code == 302
    approval = admin_post(officer, "/admin/rewards/review/approve", {"reward_id": str(reward.id)},
                          form_page="/admin/rewards/review")
    assert approval.status_code == 302
    assert admin_post(officer, page, {**form, "second_approval_above_yuan": "20"}).status_code == 302
    run_jobs()

    with app.app_context():
        assert db.session.get(Reward, reward.id).state == "granted"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout)) == 0
    assert wechatpay.create_calls == []
    assert ledger(app, reward.id) == [("granted", 5000, "system"), ("approved", 0, "officer-alone")]
    review = officer.get("/admin/rewards/review").get_data(as_text=True)
    assert "1 / 2（officer-alone）" in review


def test_the_ledger_refuses_updates_and_deletes(app, client, run_jobs, resident):
    make_campaign(app)
    reward = reward_of(app, accepted_report(app, client, run_jobs, resident))
    with app.app_context():
        for statement in (sa.update(LedgerEntry).values(amount_fen=1), sa.delete(LedgerEntry)):
            with pytest.raises(DatabaseError, match="append-only"):
                with db.session.begin_nested():
                    db.session.execute(statement.where(LedgerEntry.reward_id == reward.id))


def test_overlapping_active_campaigns_are_refused(app):
    make_campaign(app)
    with pytest.raises(Conflict):
        make_campaign(app, name="另一个活动")


def test_a_report_whose_status_change_reached_no_listener_is_decided_by_the_sweep(app, client, run_jobs, resident,
                                                                                   jobs_lost):
    make_campaign(app)
    report_id = new_report(client, resident)["id"]
    run_jobs()
    with jobs_lost():
        moderate(app, run_jobs, report_id, "accepted")
    assert reward_of(app, report_id).state == "pending"
    assert sweep(app) == 0  # payouts are off here; the decisions are caught up all the same
    assert reward_of(app, report_id).state == "granted"
    sweep(app)
    assert ledger(app, reward_of(app, report_id).id) == [("granted", 500, "system")]


def test_the_sweep_decides_every_missed_change_of_the_day_not_only_the_oldest_batch(app, client, run_jobs, resident,
                                                                                    jobs_lost, monkeypatch):
    monkeypatch.setattr(grants, "CATCH_UP_BATCH", 2)  # a busy day: more changes than one batch
    make_campaign(app)
    report_ids = [new_report(client, resident)["id"] for _ in range(3)]
    run_jobs()
    with jobs_lost():
        for report_id in report_ids:
            moderate(app, run_jobs, report_id, "accepted")
    sweep(app)
    assert [reward_of(app, report_id).state != "pending" for report_id in report_ids] == [True, True, True]


@pytest.mark.parametrize("odd_id", ["²", str(2**31), "1" * 40])
def test_an_odd_reward_id_in_the_approval_form_is_skipped_not_a_500(app, odd_id):
    from tests.core.admin_helpers import csrf_token, signed_in_staff

    officer = signed_in_staff(app, f"officer-odd-{len(odd_id)}", "reward_officer")
    response = officer.post("/admin/rewards/review/approve", data={
        "reward_id": odd_id, "csrf_token": csrf_token(officer, "/admin/rewards/review")})
    assert response.status_code == 302


@pytest.mark.parametrize("field", ["budget_fen", "daily_cap_fen", "monthly_cap_fen", "second_approval_above_fen"])
def test_a_campaign_sum_beyond_what_the_ledger_holds_is_refused_by_name(app, field):
    """Fen are 32-bit integers in storage: 2**31 fen and more was a 500 on PostgreSQL (and stored on SQLite)."""
    with pytest.raises(ValidationFailed) as refusal:
        make_campaign(app, **{field: 2**31})
    assert field in refusal.value.details["fields"]


@pytest.mark.parametrize(("field", "typed"), [("budget_yuan", "1e100000000"), ("default_amount_yuan", "1E+999999"),
                                              ("amounts", "B0301=1e100000000"), ("daily_cap_yuan", "-1e100000000")])
def test_an_amount_of_more_digits_than_any_number_is_refused_on_the_form_not_a_500(app, field, typed):
    """Decimal reads 1e100000000, but rounding it to fen needs more digits than it has (InvalidOperation)."""
    from tests.core.admin_helpers import csrf_token, signed_in_staff

    officer = signed_in_staff(app, f"officer-huge-{field}", "reward_officer")
    form = {"name": "巨额活动", "starts_on": "2026-12-01", "ends_on": "2026-12-31", "budget_yuan": "1000",
            "default_amount_yuan": "5", "daily_cap_yuan": "10", "monthly_cap_yuan": "100", "earn_on": "accepted",
            "is_active": "on", field: typed}
    response = officer.post("/admin/rewards/campaigns/new",
                            data={**form, "csrf_token": csrf_token(officer, "/admin/rewards/campaigns/new")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "金额格式不正确" in page and 'name="budget_yuan"' in page
    assert f'id="{field}-error"' in page  # the message stands next to the amount it is about
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Campaign.name == "巨额活动")) == 0


@pytest.mark.parametrize(("changes", "shown_at"), [
    ({"ends_on": "2026-11-30"}, "ends_on"), ({"budget_yuan": "21474836.48"}, "budget_yuan"),
    ({"earn_on": "paid"}, "earn_on"), ({"starts_on": "soon"}, "starts_on")])
def test_a_campaign_the_service_or_the_form_refuses_shows_each_message_next_to_its_input(app, changes, shown_at):
    """The service names its fields as it stores them (budget_fen); the page shows them at the input typed in."""
    from tests.core.admin_helpers import csrf_token, signed_in_staff

    officer = signed_in_staff(app, f"officer-fields-{shown_at}", "reward_officer")
    form = {"name": "标错的活动", "starts_on": "2026-12-01", "ends_on": "2026-12-31", "budget_yuan": "1000",
            "default_amount_yuan": "5", "daily_cap_yuan": "10", "monthly_cap_yuan": "100", "earn_on": "accepted",
            **changes}
    response = officer.post("/admin/rewards/campaigns/new",
                            data={**form, "csrf_token": csrf_token(officer, "/admin/rewards/campaigns/new")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.count('class="field-error"') == 1 and f'id="{shown_at}-error"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Campaign.name == "标错的活动")) == 0


def test_a_campaign_description_longer_than_its_column_is_refused_by_name(app):
    """Over 1000 characters was a 500 on PostgreSQL (value too long) and stored whole on SQLite."""
    with pytest.raises(ValidationFailed) as refusal:
        make_campaign(app, description="长" * 1001)
    assert "description" in refusal.value.details["fields"]


@pytest.mark.parametrize("reason", ["9" * 40, "", "other"])
def test_excluding_a_resident_for_a_reason_not_on_the_form_is_refused_not_a_500(app, client, reason):
    """The form offers "staff" and "abuse"; a longer reason was a 500 on PostgreSQL (its column holds 16)."""
    from tests.core.admin_helpers import csrf_token, signed_in_staff

    resident_id = client.get("/api/v1/me", headers=sign_in(client, "oExcludedForNoReason")).json["id"]
    officer = signed_in_staff(app, f"officer-exclude-{len(reason)}", "reward_officer")
    page = f"/admin/rewards/residents/{resident_id}"
    response = officer.post(f"{page}/exclude", data={"reason": reason, "note": "",
                                                     "csrf_token": csrf_token(officer, page)})
    assert response.status_code == 302
    assert "排除原因无效" in officer.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ExcludedResident, resident_id) is None
