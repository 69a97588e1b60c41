"""The alert rules of deploy/prometheus: valid for Prometheus, each unit-tested with promtool and given a runbook."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.common.stack import ROOT
from tests.conftest import IN_CI

RULES = ROOT / "deploy" / "prometheus"


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        message = "promtool is not installed (make test installs Debian's prometheus package)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return subprocess.run(["promtool", *arguments], cwd=RULES, capture_output=True, text=True, timeout=120)


def alert_names() -> list[str]:
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]


def test_the_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_the_unit_tests_of_the_alerts_pass():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_has_a_runbook():
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    readme = (ROOT / "README.md").read_text()
    runbooks = readme.split("### Metrics and alerts", 1)[1].split("\n## ", 1)[0]
    for name in alert_names():
        assert name in fired, f"{name} has no test in which it fires"
    for rule_runbook in {rule["annotations"]["runbook"] for group in yaml.safe_load(
            (RULES / "alerts.yml").read_text())["groups"] for rule in group["rules"]}:
        assert f"**{rule_runbook.rsplit(', ', 1)[1]}**" in runbooks, rule_runbook
