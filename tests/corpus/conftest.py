"""The corpus suite's reference reader (exiftool, kept running) and its summary table at the end of the run."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.outcomes import OUTCOMES

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = Path(os.environ.get("CORPUS_DIR") or REPO.parent / "shared" / "corpus")


class ExifTool:
    """One exiftool process for the whole run (``-stay_open``): a Perl start per file would cost more than the
    upload."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(["exiftool", "-stay_open", "True", "-@", "-"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, path: Path) -> dict[str, object]:
        """Every tag exiftool finds (numbers as numbers, grouped by where it found them:
        ``ExifIFD:DateTimeOriginal``)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(("\n".join(["-j", "-n", "-G1", "-a", "-u", str(path), "-execute"]) + "\n").encode())
        self._process.stdin.flush()
        output = b""
        while not output.endswith(b"{ready}\n"):
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError("exiftool stopped")
            output += line
        text = output[:-len(b"{ready}\n")].strip()
        return json.loads(text)[0] if text else {}

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(b"-stay_open\nFalse\n")
        self._process.communicate(timeout=30)  # closes both pipes too


@pytest.fixture(scope="session")
def exiftool() -> Iterator[ExifTool]:
    if shutil.which("exiftool") is None:
        pytest.fail("exiftool is not installed: `make corpus` installs Debian's libimage-exiftool-perl")
    reader = ExifTool()
    yield reader
    reader.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not OUTCOMES:
        return
    write = terminalreporter.write_line
    by_type: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    refusals: collections.Counter[str] = collections.Counter()
    for outcome in OUTCOMES:
        counts = by_type[outcome.file_type]
        counts["files"] += 1
        counts[outcome.status] += 1
        counts["mismatches"] += bool(outcome.defects)
        if outcome.status == "refused":
            refusals[outcome.reason] += 1
    write("")
    write(f"corpus: {CORPUS_DIR}")
    write(f"{'type':10s} {'files':>6s} {'accepted':>9s} {'refused':>8s} {'5xx':>5s} {'mismatches':>11s}")
    for file_type, counts in sorted(by_type.items()):
        write(f"{file_type:10s} {counts['files']:6d} {counts['accepted']:9d} {counts['refused']:8d} "
              f"{counts['server_error']:5d} {counts['mismatches']:11d}")
    total = sum(by_type.values(), collections.Counter())
    write(f"{'all':10s} {total['files']:6d} {total['accepted']:9d} {total['refused']:8d} {total['server_error']:5d} "
          f"{total['mismatches']:11d}")
    for reason, count in sorted(refusals.items()):
        write(f"  refused {count:3d} × {reason}")
    for outcome in OUTCOMES:
        for defect in outcome.defects:
            write(f"  DEFECT {outcome.name}: {defect}")
