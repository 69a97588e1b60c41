"""Public work is rate-limited (security review, issue 19, finding 10): certificate look-ups, Open311 reads and
nearby reports per address, monthly PDFs per staff member, and PDF printing bounded in all processes together."""

from __future__ import annotations

import pytest

from core.errors import RateLimited
from core.ratelimit import MemorySlots, RedisSlots, held_slot
from tests.citizen.helpers import QINGDAO, sign_in
from tests.core.admin_helpers import signed_in_staff

ANOTHER_ADDRESS = {"REMOTE_ADDR": "192.0.2.7"}


def _refused_in_the_error_shape(response, limit: str) -> None:
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json["error"]["code"] == "rate_limited"
    assert response.json["error"]["details"]["limit"] == limit


def test_certificate_look_ups_are_limited_per_address(client, override_settings):
    override_settings(rate_limit_certificate=(2, 60))
    path = "/signboard-certificates/QDZP2026000001AAAA"
    assert [client.get(path).status_code for _ in range(2)] == [404, 404]
    _refused_in_the_error_shape(client.get(path), "certificate")
    assert client.get(path, environ_base=ANOTHER_ADDRESS).status_code == 404


def test_open311_reads_are_limited_per_address_with_retry_after(client, override_settings):
    override_settings(rate_limit_open311=(2, 60))
    assert [client.get("/open311/v2/services.json").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/open311/v2/requests.xml")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert b"<code>429</code>" in refused.data
    assert client.get("/open311/v2/services.json", environ_base=ANOTHER_ADDRESS).status_code == 200


def test_nearby_reports_are_limited_per_address(client, override_settings):
    override_settings(rate_limit_nearby=(2, 60))
    resident = sign_in(client, "oNearbyLimited")
    path = f"/api/v1/reports/nearby?lat={QINGDAO[0]}&lng={QINGDAO[1]}&coord_type=wgs84"
    assert [client.get(path, headers=resident).status_code for _ in range(2)] == [200, 200]
    _refused_in_the_error_shape(client.get(path, headers=resident), "nearby")
    assert client.get(path, headers=resident, environ_base=ANOTHER_ADDRESS).status_code == 200


MONTHLY_PDF = "/admin/insight/monthly?month=2026-01&format=pdf"


@pytest.fixture
def no_chromium(override_settings):
    """Printing fails at once (503): what is tested is whether it was tried."""
    return override_settings(insight_chromium="no-such-chromium-for-tests")


def test_monthly_pdfs_are_limited_per_staff_member(app, override_settings, no_chromium):
    override_settings(rate_limit_pdf=(1, 600))
    analyst = signed_in_staff(app, "pdf_limited", "admin")
    colleague = signed_in_staff(app, "pdf_colleague", "admin")
    assert analyst.get(MONTHLY_PDF).status_code == 503
    refused = analyst.get(MONTHLY_PDF)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "请求过于频繁" in refused.get_data(as_text=True)
    assert colleague.get(MONTHLY_PDF).status_code == 503


def test_pdf_printing_waits_for_a_free_slot(app, override_settings, no_chromium):
    override_settings(pdf_prints_at_once=1)
    analyst = signed_in_staff(app, "pdf_slots", "admin")
    slots = app.extensions["concurrency_slots"]
    token = slots.acquire("pdf", 1, 120)
    assert token is not None
    try:
        refused = analyst.get(MONTHLY_PDF)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    finally:
        slots.release("pdf", token)
    assert analyst.get(MONTHLY_PDF).status_code == 503
    assert analyst.get(MONTHLY_PDF).status_code == 503  # the failed print gave its slot back


@pytest.fixture(params=["memory", "redis"])
def slots(request):
    if request.param == "memory":
        yield MemorySlots()
        return
    import redis

    connection = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    slots = RedisSlots(connection)
    slots.prefix = "slots-test:"
    connection.delete(slots.prefix + "unit")
    yield slots
    connection.delete(slots.prefix + "unit")
    connection.close()


def test_slots_are_held_up_to_their_number_and_freed(slots):
    first, second = slots.acquire("unit", 2, 60, now=1000.0), slots.acquire("unit", 2, 60, now=1000.0)
    assert first and second and first != second
    assert slots.acquire("unit", 2, 60, now=1001.0) is None
    slots.release("unit", first)
    assert slots.acquire("unit", 2, 60, now=1002.0) is not None


def test_a_slot_whose_holder_died_is_freed_when_its_lease_ends(slots):
    assert slots.acquire("unit", 1, 60, now=1000.0) is not None  # never released: its process was killed
    assert slots.acquire("unit", 1, 60, now=1059.0) is None
    assert slots.acquire("unit", 1, 60, now=1061.0) is not None


def test_held_slot_refuses_with_retry_after_and_releases_on_failure(slots):
    with pytest.raises(ValueError), held_slot(slots, "unit", 1, lease_seconds=60):
        with pytest.raises(RateLimited) as refused, held_slot(slots, "unit", 1, lease_seconds=60):
            pass
        assert int(refused.value.headers["Retry-After"]) > 0
        raise ValueError("the print failed")
    with held_slot(slots, "unit", 1, lease_seconds=60):
        pass
