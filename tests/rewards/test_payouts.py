"""Payouts through the loopback WeChat Pay v3: one bill per request, faults, notifications, reconciliation."""

from __future__ import annotations

import contextlib
import logging
import time

import pytest
import sqlalchemy as sa

from core.db import db
from rewards import services
from rewards.models import LedgerEntry, Payout, Reward
from rewards.wechatpay import WeChatPayGateway
from tests.citizen.helpers import new_report, sign_in
from tests.conftest import app_on_own_database
from tests.core.admin_helpers import admin_post, signed_in_staff
from tests.fakes.wechatpay import MCH_ID, Fault
from tests.rewards.helpers import OFFICER, accepted_report, make_campaign, moderate, reward_of, sweep

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
        db.session.commit()  # as the job that pays commits when it returns


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
        services.append_entry(reward, "paid", 666, actor_name="intruder", dedupe_key="forged-paid")
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
    assert sweep(app) == 1
    assert kinds(app, reward_id)[-1] == "paid"


@contextlib.contextmanager
def deployment(name: str, tmp_path_factory, fake_wechat, request, wechatpay_settings):  # noqa: ANN001
    """Another installation (staging, a second city) with a database of its own, paying through the same merchant."""
    with app_on_own_database(tmp_path_factory.mktemp(name), fake_wechat, request, name, **wechatpay_settings,
                             reward_burst_reports_per_ip=10_000) as other:
        yield other


def first_payout_of(other, openid: str, amount_fen: int) -> Payout:  # noqa: ANN001
    """A new campaign, one resident's accepted report, its reward approved: its first bill, as that deployment sent
    it."""
    make_campaign(other, default_amount_fen=amount_fen)
    client = other.test_client()
    report_id = new_report(client, sign_in(client, openid))["id"]
    moderate(other, lambda: None, report_id, "accepted")
    reward_id = reward_of(other, report_id).id
    with other.app_context():
        services.approve_rewards(OFFICER, [reward_id])
        db.session.commit()
    [payout] = payouts_of(other, reward_id)
    return payout


def test_two_deployments_on_one_merchant_never_share_a_bill_number(wechatpay, wechatpay_settings, fake_wechat,
                                                                    tmp_path_factory, request):
    """Issue 19, finding 6: out_bill_no was QDRW + the ledger id, the same in every fresh database; the second city's
    first create was answered with staging's bill, already paid to staging's resident, and recorded as paid."""
    with deployment("staging", tmp_path_factory, fake_wechat, request, wechatpay_settings) as staging:
        staged = first_payout_of(staging, "oStagingResident", 888)
        wechatpay.finish(staged.out_bill_no, "SUCCESS")  # staging's resident confirmed
    with deployment("second_city", tmp_path_factory, fake_wechat, request, wechatpay_settings) as second_city:
        payout = first_payout_of(second_city, "oSecondCityResident", 666)
        assert payout.out_bill_no != staged.out_bill_no
        assert payout.state == "WAIT_USER_CONFIRM" and kinds(second_city, payout.reward_id)[-1] == "payout_requested"
        bill = wechatpay.bills[payout.out_bill_no]
        assert (bill["openid"], bill["transfer_amount"]) == ("oSecondCityResident", 666)


def foreign_bill(out_bill_no: str, state: str) -> dict[str, object]:
    """A bill another installation on the same merchant made under this number, for another resident."""
    return {"mch_id": MCH_ID, "out_bill_no": out_bill_no, "transfer_bill_no": "1330000071100999999999999999999999999",
            "state": state, "transfer_amount": 30_000, "openid": "oSomeoneElseEntirely", "appid": "wx_test_app_id",
            "create_time": "2026-12-01T10:00:00+08:00", "update_time": "2026-12-01T10:05:00+08:00"}


def test_a_queried_bill_for_another_payee_is_a_collision_left_to_an_officer(app, client, run_jobs, resident, wechatpay,
                                                                           caplog):
    """A bill found under our number that pays someone else (or another amount) is not ours: nothing is marked paid."""
    wechatpay.fail_next_create(Fault(status=500, code="SYSTEM_ERROR"))
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "UNSENT"
    # Meanwhile another installation on the same merchant made (and paid) a bill under that very number.
    wechatpay.bills[payout.out_bill_no] = foreign_bill(payout.out_bill_no, "SUCCESS")
    with caplog.at_level(logging.WARNING, logger="rewards.services"):
        pay(app, reward_id)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "COLLISION" and payout.transfer_bill_no is None
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested"]
    assert client.get(f"/api/v1/rewards/{reward_id}/claim", headers=resident).json == {"state": "processing"}
    assert wechatpay.create_calls == [payout.out_bill_no]  # nothing sent again under a number that is not ours
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "collision" in logged and payout.out_bill_no in logged
    assert "oSomeoneElseEntirely" not in logged and "oPaidResident" not in logged
    pay(app, reward_id)  # the sweep leaves it alone
    assert wechatpay.query_calls == [payout.out_bill_no, payout.out_bill_no]
    officer = signed_in_staff(app, "officer-collision", "reward_officer")
    page = officer.get("/admin/rewards/payouts?state=COLLISION").get_data(as_text=True)
    assert payout.out_bill_no in page and "单号冲突，待人工核实" in page and f"撤销 {payout.out_bill_no}" not in page

    # The officer has checked the merchant console: the number is given up, the reward sent under a new one.
    assert admin_post(officer, f"/admin/rewards/payouts/{payout.id}/abandon", {},
                      form_page="/admin/rewards/payouts").status_code == 302
    [abandoned] = payouts_of(app, reward_id)
    assert (abandoned.state, abandoned.fail_reason) == ("FAIL", "OUT_BILL_NO_COLLISION")
    assert client.get(f"/api/v1/rewards/{reward_id}/claim", headers=resident).json == {"state": "processing"}
    run_jobs()
    abandoned, sent = payouts_of(app, reward_id)
    assert sent.state == "WAIT_USER_CONFIRM" and sent.out_bill_no != abandoned.out_bill_no
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested", "failed", "payout_requested"]
    with app.app_context():
        assert services.reconcile() == []


def test_a_create_answered_with_an_older_paid_bill_is_checked_not_adopted(app, client, run_jobs, resident, wechatpay,
                                                                         monkeypatch):
    """WeChat answers a create under a number it already holds with that bill: SUCCESS there proves nothing."""
    real = app.extensions["wechatpay"]

    class TakenJustBefore(WeChatPayGateway):
        def create_bill(self, bill):  # noqa: ANN001, ANN201
            wechatpay.bills[bill.out_bill_no] = foreign_bill(bill.out_bill_no, "SUCCESS")
            return real.create_bill(bill)

    raced = object.__new__(TakenJustBefore)
    raced.__dict__.update(real.__dict__)
    monkeypatch.setitem(app.extensions, "wechatpay", raced)
    reward_id = approved_reward(app, client, run_jobs, resident)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "COLLISION"
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested"]
    assert wechatpay.query_calls == [payout.out_bill_no]


def test_a_bill_whose_answer_was_lost_is_cancelled_and_sent_again_by_the_sweep(app, client, run_jobs, resident,
                                                                              wechatpay, override_settings):
    """Issue 19, finding 11: WeChat made the bill but its answer was lost; the query has no package_info, so the
    resident could never confirm it, and the sweep only queried it again until WeChat closed it a day later."""
    wechatpay.fail_next_create(Fault(status=200, create_anyway=True, drop_connection=True))
    reward_id = approved_reward(app, client, run_jobs, resident)
    [lost] = payouts_of(app, reward_id)
    assert lost.state == "WAIT_USER_CONFIRM" and lost.package_info is None
    claim_url = f"/api/v1/rewards/{reward_id}/claim"
    assert client.get(claim_url, headers=resident).json == {"state": "processing"}
    officer = signed_in_staff(app, "officer-lost-answer", "reward_officer")
    page = officer.get("/admin/rewards/payouts").get_data(as_text=True)
    assert "市民无法确认收款，将自动撤销后重新发起" in page

    override_settings(reward_payout_query_after_minutes=0)
    wechatpay.cancellations_held = True
    sweep(app)
    assert wechatpay.bills[lost.out_bill_no]["state"] == "CANCELING"
    [cancelling] = payouts_of(app, reward_id)
    assert cancelling.state == "CANCELING"
    assert "撤销完成后将自动重新发起" in officer.get("/admin/rewards/payouts").get_data(as_text=True)
    sweep(app)  # the cancellation is not final yet: no second bill
    assert wechatpay.create_calls == [lost.out_bill_no] and payouts_of(app, reward_id)[0].state == "CANCELING"

    assert wechatpay.settle_cancellations() == [lost.out_bill_no]
    sweep(app)
    cancelled, sent = payouts_of(app, reward_id)
    assert cancelled.state == "CANCELLED" and sent.state == "WAIT_USER_CONFIRM"
    assert sent.out_bill_no != lost.out_bill_no and wechatpay.create_calls == [lost.out_bill_no, sent.out_bill_no]
    claim = client.get(claim_url, headers=resident).json
    assert claim["state"] == "ready" and claim["package_info"] == sent.package_info
    assert kinds(app, reward_id) == ["granted", "approved", "payout_requested", "failed", "payout_requested"]
    with app.app_context():
        assert services.reconcile() == []


def test_a_cancellation_finished_by_notification_is_sent_again_by_the_next_sweep(app, client, run_jobs, resident,
                                                                                 wechatpay, override_settings):
    wechatpay.fail_next_create(Fault(status=200, create_anyway=True, drop_connection=True))
    reward_id = approved_reward(app, client, run_jobs, resident)
    override_settings(reward_payout_query_after_minutes=0)
    wechatpay.cancellations_held = True
    sweep(app)
    [lost] = payouts_of(app, reward_id)
    wechatpay.settle_cancellations()
    headers, body = wechatpay.notification(lost.out_bill_no)
    assert client.post(NOTIFY, data=body, headers=headers).json["message"] == "applied"
    with app.app_context():
        assert db.session.get(Reward, reward_id).state == "unpaid"
    sweep(app)
    cancelled, sent = payouts_of(app, reward_id)
    assert cancelled.state == "CANCELLED" and sent.state == "WAIT_USER_CONFIRM" and sent.package_info


def test_a_cancellation_wechat_completes_by_itself_is_followed_by_a_new_bill(app, client, run_jobs, resident,
                                                                           wechatpay, override_settings):
    wechatpay.fail_next_create(Fault(status=200, create_anyway=True, drop_connection=True))
    reward_id = approved_reward(app, client, run_jobs, resident)
    override_settings(reward_payout_query_after_minutes=0)
    sweep(app)  # cancels
    sweep(app)  # finds it cancelled, sends a new bill
    cancelled, sent = payouts_of(app, reward_id)
    assert cancelled.state == "CANCELLED" and sent.state == "WAIT_USER_CONFIRM" and sent.package_info
    with app.app_context():
        assert services.reconcile() == []
