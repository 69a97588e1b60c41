"""The city's signboard rules: a configurable rule set of named checks, each explained in plain Chinese.

A city's rule file (``data/city_rules.json`` by default, ``SIGNBOARD_RULES_FILE`` to replace it)
lists rules by code, title, explanation, severity and parameters; each rule names one of the
checks below. Blocking violations keep an application from reaching the reviewers; advisory
ones are shown to the merchant and the reviewer, who decides.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signboard_templates.catalogue import Template

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "data" / "city_rules.json"
SEVERITIES = ("blocking", "advisory")
MOUNT_POSITIONS = {
    "lintel": "一层门楣",
    "entrance_side": "一层入口旁",
    "wall": "门楣以上墙面",
    "rooftop": "屋顶",
    "projecting": "外挑（侧招）",
    "window": "窗户",
    "glass_curtain_wall": "玻璃幕墙",
}
BUILDING_KINDS = {
    "ordinary": "普通建筑",
    "heritage": "文物保护单位或历史建筑",
    "government": "党政机关建筑",
    "school": "学校建筑",
}


class RuleSetError(ValueError):
    """The rule file cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Proposal:
    """The facts about a proposed signboard that the checks look at."""

    template: Template
    sign_text: str
    licence_name: str
    facade_width_m: float
    facade_height_m: float
    sign_width_m: float
    sign_height_m: float
    sign_thickness_m: float
    protrusion_m: float
    mount_height_m: float
    mount_position: str
    floor: int
    building_storeys: int
    pedestrian_street: bool
    single_owner_building: bool
    building_kind: str
    other_active_signs: int

    @property
    def projecting(self) -> bool:
        return self.mount_position == "projecting" or self.template.mount == "projecting"


@dataclasses.dataclass(frozen=True)
class Rule:
    code: str
    check: str
    severity: str
    title: str
    explanation: str
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RuleSet:
    city: str
    version: str
    rules: tuple[Rule, ...]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    code: str
    title: str
    severity: str
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Check = Callable[[Proposal, dict[str, Any]], str | None]


def _m(value: float) -> str:
    return f"{value:g} 米"


def _one_sign_per_shop(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.other_active_signs:
        return f"该商户在此地址已有 {p.other_active_signs} 块在办或已批准的招牌，一店只能设置一块招牌。"
    return None


def _ground_floor_lintel(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.mount_position == "wall":
        return "招牌拟设在门楣以上的墙面，应改设在一层门楣位置。"
    if p.mount_position == "lintel" and p.floor != 1:
        return f"商户位于 {p.floor} 层，不能占用一层门楣；请在一层入口旁设置小型招牌或使用共用招牌。"
    return None


def _max_floor(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.floor > params["max_floor"] and not p.single_owner_building:
        return f"招牌位于 {p.floor} 层，超过允许的 {params['max_floor']} 层（单一产权独栋建筑除外）。"
    return None


def _no_rooftop(p: Proposal, params: dict[str, Any]) -> str | None:
    return "招牌拟设在屋顶，屋顶不得设置招牌。" if p.mount_position == "rooftop" else None


def _projecting(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.projecting and not p.pedestrian_street:
        return "外挑式（侧招、竖招）招牌只能设在商业步行街，本店所在街道不是步行街。"
    return None


def _not_over_windows(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.mount_position in ("window", "glass_curtain_wall"):
        return f"招牌拟设在{MOUNT_POSITIONS[p.mount_position]}上，不得遮挡窗户或设在玻璃幕墙上。"
    return None


def _protected_buildings(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.building_kind in params["building_kinds"]:
        return f"所在建筑为{BUILDING_KINDS.get(p.building_kind, p.building_kind)}，不得设置商业招牌。"
    return None


def _board_height(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.projecting:
        return None
    single = p.building_storeys <= 1
    limit = params["single_storey_max_m"] if single else params["multi_storey_max_m"]
    if p.sign_height_m > limit:
        kind = "单层" if single else "多层"
        return f"招牌高度 {_m(p.sign_height_m)}，超过{kind}建筑门楣招牌的上限 {_m(limit)}。"
    return None


def _board_thickness(p: Proposal, params: dict[str, Any]) -> str | None:
    if p.sign_thickness_m > params["max_m"]:
        return f"招牌厚度 {_m(p.sign_thickness_m)}，超过上限 {_m(params['max_m'])}。"
    return None


def _protrusion(p: Proposal, params: dict[str, Any]) -> str | None:
    limit = params["projecting_max_m"] if p.projecting else params["lintel_max_m"]
    if p.protrusion_m > limit:
        return f"招牌凸出墙面 {_m(p.protrusion_m)}，超过上限 {_m(limit)}。"
    return None


def _within_frontage(p: Proposal, params: dict[str, Any]) -> str | None:
    if not p.projecting and p.sign_width_m > p.facade_width_m:
        return f"招牌宽度 {_m(p.sign_width_m)}，超出本店门面宽度 {_m(p.facade_width_m)}。"
    return None


def _below_upper_floor(p: Proposal, params: dict[str, Any]) -> str | None:
    top = round(p.mount_height_m + p.sign_height_m, 3)
    if not p.projecting and top > p.facade_height_m:
        return f"招牌顶部离地 {_m(top)}，超过一层门面高度 {_m(p.facade_height_m)}。"
    return None


def _clearance(p: Proposal, params: dict[str, Any]) -> str | None:
    limit = params["projecting_min_m"] if p.projecting else params["lintel_min_m"]
    if p.mount_height_m < limit:
        return f"招牌底部离地 {_m(p.mount_height_m)}，低于最低要求 {_m(limit)}。"
    return None


def _han(text: str) -> str:
    return "".join(char for char in text if unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH"))


def _licence_name(p: Proposal, params: dict[str, Any]) -> str | None:
    sign, licence = _han(p.sign_text), iter(_han(p.licence_name))
    # The sign may drop the region and the company form, but its characters must come from the licence name, in order.
    if len(sign) < 2 or not all(char in licence for char in sign):
        return f"招牌文字“{p.sign_text}”与营业执照名称“{p.licence_name}”不一致。"
    return None


def _template_size(p: Proposal, params: dict[str, Any]) -> str | None:
    rules, problems = p.template.size_rules, []
    if not rules.height_min_m <= p.sign_height_m <= rules.height_max_m:
        problems.append(f"高度应在 {_m(rules.height_min_m)} 至 {_m(rules.height_max_m)} 之间"
                        f"（当前 {_m(p.sign_height_m)}）")
    if p.sign_thickness_m > rules.max_thickness_m:
        problems.append(f"厚度不超过 {_m(rules.max_thickness_m)}（当前 {_m(p.sign_thickness_m)}）")
    if p.mount_height_m < rules.min_clearance_m:
        problems.append(f"底部离地不少于 {_m(rules.min_clearance_m)}（当前 {_m(p.mount_height_m)}）")
    return f"所选模板“{p.template.name}”要求：" + "；".join(problems) + "。" if problems else None


CHECKS: dict[str, tuple[Check, tuple[str, ...]]] = {
    "one_sign_per_shop": (_one_sign_per_shop, ()),
    "ground_floor_lintel": (_ground_floor_lintel, ()),
    "max_floor": (_max_floor, ("max_floor",)),
    "no_rooftop": (_no_rooftop, ()),
    "projecting_only_on_pedestrian_streets": (_projecting, ()),
    "not_over_windows": (_not_over_windows, ()),
    "protected_buildings": (_protected_buildings, ("building_kinds",)),
    "board_height": (_board_height, ("single_storey_max_m", "multi_storey_max_m")),
    "board_thickness": (_board_thickness, ("max_m",)),
    "protrusion": (_protrusion, ("lintel_max_m", "projecting_max_m")),
    "within_frontage": (_within_frontage, ()),
    "below_upper_floor": (_below_upper_floor, ()),
    "clearance": (_clearance, ("lintel_min_m", "projecting_min_m")),
    "licence_name": (_licence_name, ()),
    "template_size": (_template_size, ()),
}


def build_rule_set(data: dict[str, Any]) -> RuleSet:
    problems, rules = [], []
    for raw in data.get("rules", []):
        code = raw.get("code", "?")
        check = CHECKS.get(raw.get("check", ""))
        if check is None:
            problems.append(f"rule {code}: unknown check {raw.get('check')!r}")
            continue
        missing = [name for name in check[1] if name not in raw.get("params", {})]
        if missing:
            problems.append(f"rule {code}: missing params {missing}")
        if raw.get("severity") not in SEVERITIES:
            problems.append(f"rule {code}: severity must be one of {SEVERITIES}")
        if not raw.get("title") or not raw.get("explanation"):
            problems.append(f"rule {code}: title and explanation are required")
        rules.append(Rule(code=code, check=raw["check"], severity=raw.get("severity", ""), title=raw.get("title", ""),
                          explanation=raw.get("explanation", ""), params=dict(raw.get("params", {}))))
    codes = [rule.code for rule in rules]
    if len(set(codes)) != len(codes):
        problems.append("rule codes repeat")
    if problems:
        raise RuleSetError("; ".join(problems))
    return RuleSet(city=str(data.get("city", "")), version=str(data.get("version", "")), rules=tuple(rules))


@functools.cache
def load_rule_set(path: Path = DEFAULT_RULES_FILE) -> RuleSet:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleSetError(f"cannot read the signboard rule file {path}: {exc}") from exc
    return build_rule_set(data)


def run_checks(rule_set: RuleSet, proposal: Proposal) -> list[CheckResult]:
    results = []
    for rule in rule_set.rules:
        message = CHECKS[rule.check][0](proposal, rule.params)
        results.append(CheckResult(code=rule.code, title=rule.title, severity=rule.severity, passed=message is None,
                                   message=message or "符合要求。"))
    return results
