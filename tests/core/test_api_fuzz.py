"""Schemathesis against our own OpenAPI document: every resident operation, signed in with a real token.

No 5xx, and every answer matches what the document says (status, content type, body schema).
``make test`` runs a bounded, deterministic number of examples; ``make fuzz`` runs many more
(``FUZZ_API_EXAMPLES``).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from tests.citizen.helpers import new_report, sign_in

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", 15))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # Deleting the account ends every later call's session; it has its own tests (tests/citizen/test_data_rights.py).
    # WeChat Pay's and the case system's callbacks are not residents' endpoints: they answer only signed
    # calls of those systems (503 where the system is not configured) and are tested with their signatures.
    return (schema.exclude(method="DELETE", path="/api/v1/me")
            .exclude(path=["/api/v1/wechatpay/notify", "/api/v1/case-updates"]))


@pytest.fixture
def resident(client):
    auth = sign_in(client, "oSchemathesisResident0000001")
    new_report(client, auth)  # something of one's own to find
    return auth


def test_the_api_keeps_its_documented_promises(api_schema, resident):
    # One test over every operation (schemathesis' pytest plugin does not run on this pytest).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def exercise(case) -> None:
            case.call_and_validate(headers=resident, checks=CHECKS)

        try:
            exercise()
        except Exception as failure:
            raise AssertionError(f"{operation.label}: {failure}") from failure


def test_ids_beyond_the_database_range_are_absent_not_a_server_error(client, resident):
    """Found by the run above on PostgreSQL (integer out of range): now a 404 or a 422 on every backend."""
    assert client.get("/api/v1/reports/99999999999", headers=resident).status_code == 404
    assert client.get("/api/v1/media/2147483648", headers=resident).status_code == 404
    response = client.get("/api/v1/reports/mine?cursor=5954529496", headers=resident)
    assert response.status_code == 422 and "cursor" in response.json["error"]["details"]["fields"]["query"]
