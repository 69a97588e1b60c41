"""A resident's rewards in the data export, and what erasure leaves of them: amounts, never identity."""

from __future__ import annotations

from core.db import db
from rewards import services
from rewards.models import ExcludedResident, LedgerEntry
from tests.citizen.helpers import sign_in
from tests.rewards.helpers import OFFICER, accepted_report, budget_used, make_campaign, moderate, reward_of


def test_the_export_lists_each_reward_with_its_money_events(app, client, run_jobs):
    campaign_id = make_campaign(app, default_amount_fen=300)
    auth = sign_in(client, "oRewardExportResident")
    report_id = accepted_report(app, client, run_jobs, auth)
    [reward] = client.get("/api/v1/me/export", headers=auth).json["data"]["rewards"]
    assert (reward["report_id"], reward["amount_fen"], reward["state"]) == (report_id, 300, "granted")
    assert [(entry["kind"], entry["amount_fen"]) for entry in reward["ledger"]] == [("granted", 300)]
    assert "resident_id" not in reward and budget_used(app, campaign_id) == 300


def test_erasure_takes_back_unsent_grants_and_keeps_the_ledger_s_amounts(app, client, run_jobs):
    campaign_id = make_campaign(app, default_amount_fen=300)
    auth = sign_in(client, "oRewardErasedResident")
    report_id = accepted_report(app, client, run_jobs, auth)
    with app.app_context():
        services.exclude_resident(OFFICER, reward_of(app, report_id).resident_id, reason="staff")
        db.session.commit()
    assert client.delete("/api/v1/me", headers=auth).status_code == 204
    reward = reward_of(app, report_id)
    assert reward.state == "reversed"
    assert budget_used(app, campaign_id) == 0
    with app.app_context():
        entries = services.ledger_for(resident_id=reward.resident_id)
        assert [(entry.kind, entry.amount_fen) for entry in entries] == [("granted", 300), ("reversed", 300)]
        assert db.session.get(ExcludedResident, reward.resident_id) is None
        assert db.session.query(LedgerEntry).count() == 2


def test_a_reward_still_waiting_when_its_resident_is_forgotten_is_never_granted(app, client, run_jobs):
    """Nobody can receive it: a case closed after the account was deleted must not spend the campaign's budget."""
    campaign_id = make_campaign(app, default_amount_fen=300, earn_on="closed")
    auth = sign_in(client, "oRewardForgottenWhileWaiting")
    report_id = accepted_report(app, client, run_jobs, auth)
    assert reward_of(app, report_id).state == "pending"
    assert client.delete("/api/v1/me", headers=auth).status_code == 204
    moderate(app, run_jobs, report_id, "in_progress", "resolved", "closed")
    assert reward_of(app, report_id).state == "refused"
    assert budget_used(app, campaign_id) == 0
