"""The city's rule set: each banned situation caught and explained; a city can bring its own file."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.app import create_app
from signboard_templates.catalogue import load_catalogue
from signboard_templates.rules import (DEFAULT_RULES_FILE, Proposal, RuleSetError, build_rule_set, load_rule_set,
                                       run_checks)

LINTEL = load_catalogue().template("catering-01")
UPRIGHT = load_catalogue().template("catering-17")
GOOD = Proposal(template=LINTEL, sign_text="老王海鲜", licence_name="青岛市市南区老王海鲜餐饮店", facade_width_m=6,
                facade_height_m=4, sign_width_m=5.5, sign_height_m=0.9, sign_thickness_m=0.2, protrusion_m=0.2,
                mount_height_m=2.8, mount_position="lintel", floor=1, building_storeys=3, pedestrian_street=False,
                single_owner_building=False, building_kind="ordinary", other_active_signs=0)


def _failed(proposal: Proposal) -> dict[str, str]:
    return {r.code: r.message for r in run_checks(load_rule_set(), proposal) if not r.passed}


def test_a_proper_lintel_sign_passes_every_rule():
    results = run_checks(load_rule_set(), GOOD)
    assert len(results) == 15 and all(r.passed for r in results)


@pytest.mark.parametrize("changes, code, words", [
    ({"other_active_signs": 1}, "R01", "一店只能设置一块招牌"),
    ({"mount_position": "wall"}, "R02", "门楣以上"),
    ({"floor": 2}, "R02", "一层入口旁"),
    ({"floor": 5, "mount_position": "entrance_side"}, "R03", "超过允许的 3 层"),
    ({"mount_position": "rooftop"}, "R04", "屋顶不得设置招牌"),
    ({"mount_position": "projecting"}, "R05", "只能设在商业步行街"),
    ({"mount_position": "glass_curtain_wall"}, "R06", "玻璃幕墙"),
    ({"building_kind": "heritage"}, "R07", "文物保护单位"),
    ({"sign_height_m": 1.0, "building_storeys": 1}, "R08", "单层建筑门楣招牌的上限 0.8 米"),
    ({"sign_height_m": 1.3}, "R08", "多层建筑门楣招牌的上限 1.2 米"),
    ({"sign_thickness_m": 0.35}, "R09", "超过上限 0.3 米"),
    ({"protrusion_m": 0.5}, "R10", "凸出墙面 0.5 米"),
    ({"sign_width_m": 6.5}, "R11", "超出本店门面宽度 6 米"),
    ({"mount_height_m": 3.5}, "R12", "超过一层门面高度 4 米"),
    ({"mount_height_m": 1.8}, "R13", "低于最低要求 2 米"),
    ({"sign_text": "海鲜大王"}, "R14", "不一致"),
    ({"sign_height_m": 0.5}, "T01", "高度应在 0.6 米 至 1.2 米 之间"),
])
def test_each_banned_situation_is_explained_in_plain_chinese(changes, code, words):
    failed = _failed(dataclasses.replace(GOOD, **changes))
    assert code in failed and words in failed[code], failed


def test_a_projecting_sign_is_fine_on_a_pedestrian_street_but_nowhere_else():
    upright = dataclasses.replace(GOOD, template=UPRIGHT, sign_width_m=0.7, sign_height_m=2.4, protrusion_m=0.9,
                                  mount_height_m=3.0, mount_position="projecting", facade_height_m=6)
    assert _failed(dataclasses.replace(upright, pedestrian_street=True)) == {}
    assert set(_failed(upright)) == {"R05"}


def test_the_licence_rule_is_advisory_and_the_others_block():
    severities = {rule.code: rule.severity for rule in load_rule_set().rules}
    assert severities.pop("R14") == "advisory" and set(severities.values()) == {"blocking"}


def test_a_city_can_bring_its_own_rule_file(tmp_path, make_app, client):
    data = json.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    data["city"] = "试点城市"
    data["rules"] = [rule for rule in data["rules"] if rule["code"] != "R05"]
    next(r for r in data["rules"] if r["code"] == "R08")["params"]["multi_storey_max_m"] = 1.5
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    own = make_app(signboard_rules_file=path)
    body = own.test_client().get("/api/v1/signboard-rules").json
    assert body["city"] == "试点城市" and "R05" not in {r["code"] for r in body["rules"]}
    assert "R08" not in _failed_with(load_rule_set(path), dataclasses.replace(GOOD, sign_height_m=1.3))
    assert "R08" in _failed_with(load_rule_set(), dataclasses.replace(GOOD, sign_height_m=1.3))
    assert len(client.get("/api/v1/signboard-rules").json["rules"]) == 15


def _failed_with(rule_set, proposal: Proposal) -> set[str]:  # noqa: ANN001
    return {r.code for r in run_checks(rule_set, proposal) if not r.passed}


def test_a_broken_rule_file_stops_the_app_from_starting(tmp_path, app):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"rules": [{"code": "X1", "check": "no_such_check", "severity": "blocking",
                                           "title": "t", "explanation": "e"}]}), encoding="utf-8")
    with pytest.raises(RuleSetError, match="unknown check"):
        create_app(app.config["APP_SETTINGS"].replace(signboard_rules_file=path))
    with pytest.raises(RuleSetError, match="missing params"):
        build_rule_set({"rules": [{"code": "R9", "check": "board_thickness", "severity": "blocking", "title": "t",
                                   "explanation": "e", "params": {}}]})
