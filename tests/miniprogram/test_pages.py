"""The reference mini-program (miniprogram/) driven page by page under Node (miniprogram-simulate, jest) against the
real app over HTTP; then every call its pages made is checked against the OpenAPI document the app serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.miniprogram.conftest import HERE, MiniProgramBackend, run_page_tests

pytestmark = pytest.mark.embedded_only

PAGE_TESTS = sorted((HERE / "pages").glob("*.test.js"))
# Signed links to media that the API's answers hand out (local-disk storage): the pages load them as they are.
SIGNED_MEDIA_LINK = re.compile(r"^/files/")


def documented_operations(openapi: dict) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, the path as a pattern, its template) of every operation the document describes."""
    operations = []
    for template, item in openapi["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        operations.extend((method.upper(), pattern, template) for method in item
                          if method in {"get", "post", "put", "patch", "delete"})
    return operations


def undocumented(calls: list[dict], openapi: dict) -> list[str]:
    operations = documented_operations(openapi)
    found = []
    for call in calls:
        if call["method"] == "GET" and SIGNED_MEDIA_LINK.match(call["path"]):
            continue
        if not any(method == call["method"] and pattern.match(call["path"]) for method, pattern, _ in operations):
            found.append(f"{call['method']} {call['path']} ({call['test']})")
    return found


def test_the_comparison_finds_a_call_the_document_lacks() -> None:
    openapi = {"paths": {"/api/v1/reports/{report_id}": {"get": {}}}}
    calls = [{"method": "GET", "path": "/api/v1/reports/17", "test": "t"},
             {"method": "POST", "path": "/api/v1/reports/17", "test": "t"},
             {"method": "GET", "path": "/api/v1/reports/17/extra", "test": "t"}]
    assert undocumented(calls, openapi) == ["POST /api/v1/reports/17 (t)", "GET /api/v1/reports/17/extra (t)"]


def assert_pages_pass(jest: Path, page_test: Path, backend: MiniProgramBackend, tmp_path: Path) -> None:
    """The page test file passes against ``backend``, and every call its pages made is one the OpenAPI document
    describes."""
    call_log = tmp_path / "calls.jsonl"
    run = run_page_tests(jest, page_test, backend, call_log)
    assert run.returncode == 0, f"jest failed:\n{run.stdout[-20000:]}\n{run.stderr[-20000:]}"
    calls = [json.loads(line) for line in call_log.read_text().splitlines()]
    assert calls, "the pages made no call"
    assert undocumented(calls, backend.openapi) == []


@pytest.mark.parametrize("page_test", PAGE_TESTS, ids=[path.name.removesuffix(".test.js") for path in PAGE_TESTS])
def test_pages_against_the_real_api(page_test: Path, jest: Path, miniprogram_backend: MiniProgramBackend,
                                    tmp_path: Path) -> None:
    assert_pages_pass(jest, page_test, miniprogram_backend, tmp_path)
