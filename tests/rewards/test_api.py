"""Resident endpoints: the current campaign's rules, my rewards, claiming."""

from __future__ import annotations

from tests.citizen.helpers import ACCEPTED, sign_in
from tests.rewards.helpers import accepted_report, make_campaign, reward_of


def test_the_current_campaign_explains_its_rules_in_chinese(app, client, run_jobs):
    assert client.get("/api/v1/rewards/campaigns/current").json == {"campaign": None}
    make_campaign(app, amounts={"S0102": 1000}, eligible_districts=("市南区",), default_amount_fen=500,
                  budget_fen=20_000, daily_cap_fen=1500)
    campaign = client.get("/api/v1/rewards/campaigns/current").json["campaign"]
    assert campaign["budget_left_fen"] == 20_000 and campaign["earn_on"] == "accepted"
    rules = "\n".join(campaign["rules"])
    assert "每条有效反映奖励 5.00 元" in rules and "每条奖励 10.00 元" in rules
    assert "活动区域：市南区" in rules and "每人每天最多获得 15.00 元" in rules
    assert "活动期间提交的反映均按本规则奖励，包括活动发布前提交的反映" in rules


def test_my_rewards_list_reports_states_and_totals_and_others_cannot_claim(app, client, run_jobs):
    make_campaign(app, default_amount_fen=300)
    mine = sign_in(client, "oListingResident")
    report_id = accepted_report(app, client, run_jobs, mine)
    listing = client.get("/api/v1/rewards/mine", headers=mine).json
    [reward] = listing["rewards"]
    assert reward["report"]["id"] == report_id and reward["report"]["status"] in ACCEPTED
    assert (reward["state"], reward["state_name"], reward["amount_fen"]) == ("granted", "待审批", 300)
    assert listing["totals"] == {"earned_fen": 300, "paid_fen": 0, "owed_fen": 300}
    assert client.get(f"/api/v1/rewards/{reward['id']}/claim", headers=mine).json["error"]["code"] \
        == "reward_not_claimable"
    someone_else = sign_in(client, "oNosyResident")
    assert client.get(f"/api/v1/rewards/{reward_of(app, report_id).id}/claim", headers=someone_else).status_code == 404
    assert client.get("/api/v1/rewards/mine").status_code == 401
