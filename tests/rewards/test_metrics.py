"""Payouts and WeChat Pay on /metrics: payouts not final by state, calls by outcome."""

from __future__ import annotations

import pytest

from tests.citizen.helpers import sign_in
from tests.common import metrics
from tests.fakes.wechatpay import Fault
from tests.rewards.test_payouts import approved_reward, payouts_of


@pytest.fixture
def payee(client):
    return sign_in(client, "oMetricsPayee")


def calls(text: str, operation: str, outcome: str) -> float:
    return metrics.value(text, "external_calls_total", service="wechatpay", operation=operation, outcome=outcome)


def test_a_payout_not_final_and_the_calls_are_counted(app, client, run_jobs, payee, wechatpay):
    before = client.get("/metrics").get_data(as_text=True)
    wechatpay.fail_next_create(Fault(status=500, code="SYSTEM_ERROR"))
    reward_id = approved_reward(app, client, run_jobs, payee)
    [payout] = payouts_of(app, reward_id)
    assert payout.state == "UNSENT"
    after = client.get("/metrics").get_data(as_text=True)
    assert calls(after, "mch_transfer_bills", "refused") - calls(before, "mch_transfer_bills", "refused") == 1
    assert calls(after, "mch_transfer_bills_query", "refused") - calls(
        before, "mch_transfer_bills_query", "refused") == 1  # the bill was not found
    assert metrics.value(after, "reward_payouts_unfinished", state="UNSENT") == 1
    assert metrics.value(after, "reward_payout_oldest_unfinished_seconds", state="UNSENT") > 0
