"""Grants racing for the last of a budget, on a database that really commits (PostgreSQL in the services pass)."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from core.db import db
from rewards import services
from rewards.models import Reward
from tests.citizen.helpers import new_report, sign_in
from tests.conftest import app_on_own_database
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
    settings = racing_app.config["APP_SETTINGS"]
    start = threading.Barrier(contenders)

    def grant(report_id: int) -> None:
        with racing_app.app_context():
            start.wait()
            services.consider_report(report_id, settings)

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
