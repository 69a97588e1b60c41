"""The forwarding's gauges on /metrics: deliveries not delivered by state, and the oldest one's age."""

from __future__ import annotations

from tests.cases.conftest import accept, delivery_of
from tests.citizen.helpers import new_report
from tests.common import metrics


def test_an_undelivered_report_shows_in_the_backlog(app, client, resident, run_jobs, jobs_lost, use_case_system):
    use_case_system("desk")
    before = client.get("/metrics").get_data(as_text=True)
    report_id = new_report(client, resident)["id"]
    run_jobs()
    with jobs_lost():
        accept(app, report_id)
    assert delivery_of(app, report_id).status == "pending"
    after = client.get("/metrics").get_data(as_text=True)
    pending = {"state": "pending"}
    assert metrics.value(after, "case_deliveries", **pending) == metrics.value(before, "case_deliveries",
                                                                                **pending) + 1
    assert metrics.value(after, "case_delivery_oldest_pending_seconds") > 0

