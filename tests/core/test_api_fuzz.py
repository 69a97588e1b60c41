"""Schemathesis against our own OpenAPI document: every operation, signed in with a real token, one call at a
time and in sequences that follow the document's links (a report made, then read, withdrawn, rated…).

No 5xx, and every answer matches what the document says (status, content type, body schema). Both runs are
derandomized (a fixed seed), so a failure comes back the same on every run. ``make test`` runs a few examples;
``make fuzz`` runs many more (``FUZZ_API_EXAMPLES`` per operation, ``FUZZ_API_SCENARIOS`` call sequences).
"""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from core.db import db
from tests.citizen.helpers import new_report, sign_in

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", 15))
SCENARIOS = int(os.environ.get("FUZZ_API_SCENARIOS", 10))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
DELETE_ACCOUNT = "DELETE /api/v1/me"
PAYOUT_NOTIFICATIONS = "POST /api/v1/wechatpay/notify"


def fuzz_settings(examples: int, **more: object) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), **more)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture
def resident(client):
    auth = sign_in(client, "oSchemathesisResident0000001")
    new_report(client, auth)  # something of one's own to find
    return auth


@pytest.fixture
def case_updates_signed(override_settings) -> None:
    """The case system's callback with its secret set: unsigned, whatever its headers and body, it must refuse."""
    override_settings(case_updates_secret="schemathesis-case-updates-secret")


def validate(case, response) -> None:  # noqa: ANN001
    if case.operation.label != PAYOUT_NOTIFICATIONS:
        case.validate_response(response, checks=CHECKS)
        return
    # Payouts are off in this app: its documented answer is a 503 saying so, whatever the call (their notifications
    # with payouts on are tested with WeChat Pay's signatures in tests/rewards/test_payouts.py).
    assert response.status_code == 503 and response.json()["error"]["code"] == "payouts_disabled", response.text
    case.validate_response(response, checks=CHECKS[1:])


def test_every_operation_keeps_its_documented_promises(api_schema, resident, client, case_updates_signed):
    # One test over every operation (schemathesis' pytest plugin does not run on this pytest).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 35
    # Deleting the account ends the session it is called with: each of its examples signs in someone new.
    throwaway = (sign_in(client, f"oSchemathesisThrowaway{number:06d}") for number in itertools.count())

    def exercise(operation) -> int:
        calls = 0

        @given(case=operation.as_strategy())
        @fuzz_settings(EXAMPLES, phases=[Phase.explicit, Phase.generate])
        def call(case) -> None:
            nonlocal calls
            calls += 1
            validate(case, case.call(headers=next(throwaway) if operation.label == DELETE_ACCOUNT else resident))

        try:
            call()
        except Exception as failure:
            raise AssertionError(f"{operation.label}: {failure}") from failure
        return calls

    calls = sum(exercise(operation) for operation in operations)
    print(f"\nschemathesis: {calls} calls over {len(operations)} operations, no server error")


def test_call_sequences_along_the_documented_links_keep_the_promises(app, api_schema, resident, case_updates_signed):
    # Not the account's deletion here: every later step of the sequence would be signed out.
    machine = api_schema.exclude(method="DELETE", path="/api/v1/me").as_state_machine()
    # The test's connection (tests/conftest.py): each sequence starts from the same data, as Hypothesis expects
    # when it replays one (else which links can be followed changes under it: FlakyStrategyDefinition).
    connection = db._app_engines[app][None]
    steps = 0

    class SignedInResident(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.sequence = connection.begin_nested()

        def teardown(self) -> None:
            self.sequence.rollback()
            app.extensions["rate_limiter"].reset()

        def get_call_kwargs(self, case):  # noqa: ANN001, ANN201
            return {"headers": resident}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:  # noqa: ANN001
            nonlocal steps
            steps += 1
            validate(case, response)

    SignedInResident.run(settings=fuzz_settings(SCENARIOS, stateful_step_count=10, phases=[Phase.generate]))
    assert steps >= SCENARIOS
    print(f"\nschemathesis stateful: {SCENARIOS} sequences, {steps} calls, no server error")


def test_ids_beyond_the_database_range_are_absent_not_a_server_error(client, resident):
    """Found by the run above on PostgreSQL (integer out of range): now a 404 or a 422 on every backend."""
    assert client.get("/api/v1/reports/99999999999", headers=resident).status_code == 404
    assert client.get("/api/v1/media/2147483648", headers=resident).status_code == 404
    response = client.get("/api/v1/reports/mine?cursor=5954529496", headers=resident)
    assert response.status_code == 422 and "cursor" in response.json["error"]["details"]["fields"]["query"]
