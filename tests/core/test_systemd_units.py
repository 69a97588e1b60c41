"""The systemd units of deploy/systemd, checked by systemd-analyze verify as installed on this checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.common.stack import ROOT
from tests.conftest import IN_CI

UNITS = ROOT / "deploy" / "systemd"
INSTALLED_AT = "/srv/citizen-services"


def test_the_units_verify(tmp_path: Path):
    if shutil.which("systemd-analyze") is None:
        message = "systemd-analyze is not installed (Debian's systemd package)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    # The units name the documented install path; here it is this checkout, whose .venv has the binaries.
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_AT, str(ROOT)))
    names = ["citizen-services-web.service", "citizen-services-worker@1.service",
             "citizen-services-worker@2.service", "citizen-services-scheduler.service", "citizen-services.target"]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    # Warnings (an unknown directive, a value systemd ignores) fail too, not only errors.
    assert (result.returncode, result.stderr.strip()) == (0, "")


def test_every_process_writes_its_metrics_to_one_directory():
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        assert "Environment=PROMETHEUS_MULTIPROC_DIR=/run/citizen-services/metrics" in text, unit.name
        assert "RuntimeDirectoryPreserve=yes" in text, unit.name
        executable = text.split("ExecStart=", 1)[1].split()[0].replace(INSTALLED_AT, str(ROOT))
        assert Path(executable).exists(), unit.name
