"""Payouts through the loopback WeChat Pay v3: one bill per request, faults, notifications, reconciliation."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from core.db import db
from rewards import services
from rewards.models import LedgerEntry, Payout, Reward
from rewards.wechatpay import WeChatPayGateway
from tests.citizen.helpers import sign_in
from tests.fakes.wechatpay import Fault
from tests.rewards.helpers import OFFICER, accepted_report, make_campaign, reward_of

NOTIFY = "/api/v1/wechatpay/notify"


@pytest.fixture
def resident(client):
    return sign_in(client, "oPaidResident")


def approved_reward(app, client, run_jobs, resident) -> int:
    make_campaign(app, default_amount_fen=666)
    reward_id = reward_of(app, accepted_report(app, client, run_jobs, resident)).id
    with app.app_context():
        services.approve_rewards(OFFICER, [reward_id])
        db.session.commit()
    run_jobs()
    return reward_id


def payouts_of(app, reward_id: int) -> list[Payout]:
    with app.app_context():
        payouts = list(db.session.scalars(sa.select(Payout).where(Payout.reward_id == reward_id).order_by(Payout.id)))
        for payout in payouts:
            db.session.expunge(payout)
        return payouts


def kinds(app, reward_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LedgerEntry.kind).where(LedgerEntry.reward_id == reward_id)
                                       .order_by(LedgerEntry.id)))


def pay(app, reward_id: int, gateway=None) -> None:  # noqa: ANN001
    with app.app_context():
        services.pay(reward_id, gateway or app.extensions["wechatpay"])


def test_end_to_end_from_report_to_paid_with_nothing_left_to_reconcile(app, client, run_jobs, resident, wechatpay):
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "WAIT_USER_CONFIRM" and payout.out_bill_no.startswith("QDRW")
    assert wechatpay.bills[payout.out_bill_no]["transfer_amount"] == 666

    claim = client.get(f"/api/v1/rewards/{reward_id}/claim", headers=resident).json
    assert claim == {"state": "ready", "package_info": payout.package_info, "mch_id": "1900000109",
                     "app_id": "wx_test_app_id"}

    wechatpay.finish(payout.out_bill_no, "SUCCESS")
    headers, body = wechatpay.notification(payout.out_bill_no)
    answer = client.post(NOTIFY, data=body, headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json["message"] == "applied"
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested", "paid"]
    mine = client.get("/api/v1/rewards/mine", headers=resident).json
    assert mine["totals"] == {"earned_fen": 666, "paid_fen": 666, "owed_fen": 0}
    assert mine["rewards"][0]["state"] == "paid"
    with app.app_context():
        assert services.reconcile() == []
    result = app.test_cli_runner().invoke(args=["rewards", "reconcile"])
    assert result.exit_code == 0 and "0 difference(s)" in result.output


class WorkerDied(BaseException):
    """The process is killed: nothing after the call runs, the transaction is lost."""


def test_a_worker_dying_after_wechat_accepted_leaves_one_bill(app, client, run_jobs, resident, wechatpay,
                                                               monkeypatch):
    real = app.extensions["wechatpay"]
    monkeypatch.setitem(app.extensions, "wechatpay", None)  # approved while payouts are off: no job runs yet
    reward_id = approved_reward(app, client, run_jobs, resident)

    class DiesAfterCreating(WeChatPayGateway):
        def create_bill(self, bill):  # noqa: ANN001, ANN201
            real.create_bill(bill)
            raise WorkerDied

    dying = object.__new__(DiesAfterCreating)
    dying.__dict__.update(real.__dict__)
    with app.app_context():
        with pytest.raises(WorkerDied):
            services.pay(reward_id, dying)
        db.session.rollback()
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "UNSENT" and payout.create_attempts == 1
    pay(app, reward_id, real)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "WAIT_USER_CONFIRM" and payout.transfer_bill_no
    assert wechatpay.create_calls == [payout.out_bill_no] and len(wechatpay.bills) == 1
    assert wechatpay.query_calls == [payout.out_bill_no]


def test_system_error_means_query_then_retry_the_same_out_bill_no(app, client, run_jobs, resident, wechatpay):
    wechatpay.fail_next_create(Fault(status=500, code="SYSTEM_ERROR"))
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "UNSENT" and payout.last_error == "create: SYSTEM_ERROR"
    assert wechatpay.query_calls == [payout.out_bill_no]
    pay(app, reward_id)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "WAIT_USER_CONFIRM"
    assert wechatpay.create_calls == [payout.out_bill_no, payout.out_bill_no]
    assert wechatpay.query_calls == [payout.out_bill_no, payout.out_bill_no]


def test_a_timeout_after_wechat_accepted_is_resolved_by_querying(app, client, run_jobs, resident, wechatpay):
    wechatpay.fail_next_create(Fault(status=200, create_anyway=True, delay_seconds=8))  # client gives up at 5 s
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "WAIT_USER_CONFIRM"
    assert wechatpay.create_calls == [payout.out_bill_no] and len(wechatpay.bills) == 1


def test_an_empty_merchant_balance_pauses_payouts_until_an_officer_resumes(app, client, run_jobs, resident,
                                                                           wechatpay):
    wechatpay.fail_next_create(Fault(status=403, code="NOT_ENOUGH"))
    reward_id = approved_reward(app, client, run_jobs, resident)
    with app.app_context():
        assert services.open_alert().code == "NOT_ENOUGH"
    pay(app, reward_id)
    assert len(wechatpay.create_calls) == 1  # paused: nothing sent
    page = client.get("/api/v1/rewards/mine", headers=resident).json
    assert page["rewards"][0]["state"] == "paying"
    with app.app_context():
        services.resume_payouts(OFFICER)
        db.session.commit()
    run_jobs()
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "WAIT_USER_CONFIRM" and wechatpay.create_calls == [payout.out_bill_no] * 2


def test_a_refused_transfer_fails_and_an_officer_can_send_it_again(app, client, run_jobs, resident, wechatpay):
    wechatpay.fail_next_create(Fault(status=400, code="INVALID_REQUEST"))
    reward_id = approved_reward(app, client, run_jobs, resident)
    [failed] = payouts_of(app, reward_id)
    assert (failed.state, failed.fail_reason) == ("FAIL", "INVALID_REQUEST")
    assert kinds(app, reward_id)[-1] == "failed"
    with app.app_context():
        services.retry_payout(OFFICER, reward_id)
        db.session.commit()
    run_jobs()
    failed, sent = payouts_of(app, reward_id)
    assert sent.state == "WAIT_USER_CONFIRM" and sent.out_bill_no != failed.out_bill_no


def test_an_expired_bill_can_be_claimed_again(app, client, run_jobs, resident, wechatpay):
    reward_id = approved_reward(app, client, run_jobs, resident)
    [first] = payouts_of(app, reward_id)
    wechatpay.finish(first.out_bill_no, "CANCELLED", fail_reason="TRANSFER_TIMEOUT")
    headers, body = wechatpay.notification(first.out_bill_no)
    assert client.post(NOTIFY, data=body, headers=headers).status_code == 200
    with app.app_context():
        assert db.session.get(Reward, reward_id).state == "unpaid"
    assert client.get(f"/api/v1/rewards/{reward_id}/claim", headers=resident).json == {"state": "processing"}
    run_jobs()
    claim = client.get(f"/api/v1/rewards/{reward_id}/claim", headers=resident).json
    first, second = payouts_of(app, reward_id)
    assert claim["state"] == "ready" and claim["package_info"] == second.package_info
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested", "failed", "payout_requested"]


def test_forged_stale_and_replayed_notifications_change_nothing(app, client, run_jobs, resident, wechatpay):
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    wechatpay.finish(payout.out_bill_no, "SUCCESS")

    headers, body = wechatpay.notification(payout.out_bill_no)
    forged = client.post(NOTIFY, data=body.replace(b"mch_payment", b"mch_paymenu", 1), headers=headers)
    assert forged.status_code == 401 and forged.json["error"]["code"] == "notification_bad_signature"
    stale_headers, stale_body = wechatpay.notification(payout.out_bill_no, timestamp=int(time.time()) - 3600)
    stale = client.post(NOTIFY, data=stale_body, headers=stale_headers)
    assert stale.status_code == 401 and stale.json["error"]["code"] == "notification_stale"
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested"]

    assert client.post(NOTIFY, data=body, headers=headers).json["message"] == "applied"
    assert client.post(NOTIFY, data=body, headers=headers).json["message"] == "duplicate"
    again_headers, again_body = wechatpay.notification(payout.out_bill_no)  # WeChat's retry: a new id, same bill
    assert client.post(NOTIFY, data=again_body, headers=again_headers).status_code == 200
    assert kinds(app, reward_id).count("paid") == 1


@pytest.mark.parametrize("timestamp", ["9" * 400, "9" * 5000, "-" + "9" * 400])
def test_a_notification_timestamp_too_long_for_any_clock_is_stale_not_a_500(client, wechatpay, timestamp):
    """A 400-digit Wechatpay-Timestamp was an OverflowError: no float holds it."""
    # The timestamp is checked before anything else: no signature or body is needed to reach it.
    response = client.post(NOTIFY, data=b"{}", headers={"Wechatpay-Timestamp": timestamp},
                           content_type="application/json")
    assert response.status_code == 401 and response.json["error"]["code"] == "notification_stale"


def test_reconciliation_reports_a_difference(app, client, run_jobs, resident, wechatpay):
    reward_id = approved_reward(app, client, run_jobs, resident)
    with app.app_context():
        reward = db.session.get(Reward, reward_id)
        services._append(reward, "paid", 666, actor_name="intruder", dedupe_key="forged-paid")
        db.session.commit()
        differences = [str(difference) for difference in services.reconcile()]
    assert any(f"reward {reward_id}" in difference for difference in differences)
    result = app.test_cli_runner().invoke(args=["rewards", "reconcile"])
    assert result.exit_code == 1 and f"reward {reward_id}: paid 1x in the ledger, 0 successful bill(s)" in result.output


def test_the_sweep_queries_bills_not_final_after_a_while(app, client, run_jobs, resident, wechatpay,
                                                         override_settings):
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    wechatpay.finish(payout.out_bill_no, "SUCCESS")  # the notification never arrives
    override_settings(reward_payout_query_after_minutes=0)
    from rewards import jobs
    with app.app_context():
        assert jobs.sweep_payouts() == 1
    assert kinds(app, reward_id)[-1] == "paid"
