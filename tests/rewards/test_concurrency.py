"""Grants racing for the last of a budget, and officers clicking twice, on a database that really commits (PostgreSQL
in the services pass)."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from core.db import db
from core.models import AuditEntry
from rewards import services
from rewards.models import ExcludedResident, Reward
from rewards.settings import RewardSettings
from tests.citizen.helpers import new_report, sign_in
from tests.conftest import app_on_own_database
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.common.factories import ResidentFactory
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted
from tests.rewards.helpers import OFFICER, campaign_form, moderate

pytestmark = pytest.mark.live_database


@pytest.fixture(scope="module")
def racing_app(tmp_path_factory, fake_wechat, request):
    """An app on a database of its own, where every grant commits in its own transaction and connection."""
    with app_on_own_database(tmp_path_factory.mktemp("racing"), fake_wechat, request, "rewards_race",
                             reports_per_ip_per_hour=10_000, reports_per_resident_per_hour=10_000,
                             reward_burst_reports_per_ip=10_000, reward_burst_reports_per_resident=10_000) as app:
        yield app


@pytest.mark.parametrize(("contenders", "room"), [(2, 1), (50, 10)])
def test_concurrent_grants_never_overdraw_the_budget(racing_app, contenders, room):
    client = racing_app.test_client()
    residents = [sign_in(client, f"oRacer{contenders}x{n}") for n in range(5)]
    report_ids = [new_report(client, residents[n % 5])["id"] for n in range(contenders)]
    for report_id in report_ids:  # accepted while no campaign runs: nothing is granted yet
        moderate(racing_app, lambda: None, report_id, "accepted")
    with racing_app.app_context():
        campaign = services.save_campaign(OFFICER, campaign_form(budget_fen=500 * room, default_amount_fen=500),
                                          max_transfer_fen=20_000)
        db.session.commit()
        campaign_id = campaign.id
    settings = racing_app.config["APP_SETTINGS"].area(RewardSettings)
    start = threading.Barrier(contenders)

    def grant(report_id: int) -> None:
        with racing_app.app_context():
            start.wait()
            services.consider_report(report_id, settings)
            db.session.commit()  # as the listener's job commits when it returns

    try:
        with ThreadPoolExecutor(max_workers=contenders) as pool:
            list(pool.map(grant, report_ids))
        with racing_app.app_context():
            states = list(db.session.scalars(sa.select(Reward.state).where(Reward.campaign_id == campaign_id)))
            assert states.count("granted") == room
            assert states.count("refused") == contenders - room
            assert services.budget_used(campaign_id) == 500 * room
            assert services.reconcile() == []
    finally:
        with racing_app.app_context():
            services.save_campaign(OFFICER, dataclasses.replace(campaign_form(), is_active=False),
                                   campaign_id=campaign_id, max_transfer_fen=20_000)
            db.session.commit()


@pytest.mark.services_only  # SQLite has one writer: the second click cannot read before the first one commits
def test_a_double_click_on_exclude_is_one_exclusion_and_one_audit_entry_not_a_500(racing_app):
    """The second click read "not excluded" while the first one's exclusion was written but not yet committed: its
    insert waited for the first, then hit the primary key (IntegrityError, a 500)."""
    officer = signed_in_staff(racing_app, "officer-double-click", "reward_officer")
    with racing_app.app_context():
        resident_id = ResidentFactory().id
    page = f"/admin/rewards/residents/{resident_id}"
    second_click = {"reason": "staff", "note": "重复点击", "csrf_token": csrf_token(officer, page)}
    first_click = lambda: services.exclude_resident(OFFICER, resident_id, reason="staff", note="城管局工作人员")  # noqa: E731
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(racing_app) as observer:
        with uncommitted(racing_app, first_click):
            answer = pool.submit(officer.post, f"{page}/exclude", data=second_click)
            assert lock_waiters_appear(observer)
        response = answer.result(timeout=60)
    assert response.status_code == 302 and response.location.endswith(page)
    shown = officer.get(page).get_data(as_text=True)
    assert "该市民今后不再获得奖励。" in shown and "不参与奖励（officer-1：城管局工作人员）" in shown
    with racing_app.app_context():
        assert db.session.get(ExcludedResident, resident_id).note == "城管局工作人员"
        audited = db.session.scalars(sa.select(AuditEntry.actor_name).where(
            AuditEntry.action == "reward.exclude_resident", AuditEntry.object_id == str(resident_id))).all()
        assert audited == ["officer-1"]
