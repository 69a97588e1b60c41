"""The forwarding figures insight reads: deliveries opened in a period by status, and the backlog now."""

from __future__ import annotations

from cases import services
from tests.insight.helpers import local, make_delivery

OCTOBER = (local(2026, 10, 1, 0), local(2026, 11, 1, 0))


def test_deliveries_opened_in_a_period_by_status_and_the_backlog(app_ctx):
    make_delivery(local(2026, 9, 30, 23, 59), "retrying")  # accepted 30 September, Beijing time
    make_delivery(local(2026, 10, 1, 0, 0), "done")
    make_delivery(local(2026, 10, 5), "pending")
    make_delivery(local(2026, 10, 31, 23, 30), "failed")
    make_delivery(local(2026, 11, 1, 0, 30), "working")
    counts = services.delivery_counts(since=OCTOBER[0], until=OCTOBER[1])
    assert {status: n for status, n in counts.items() if n} == {"done": 1, "pending": 1, "failed": 1}
    assert sum(services.delivery_counts().values()) == 5
    backlog = services.forwarding_backlog()
    assert (backlog.waiting, backlog.failed) == (3, 1)
    assert backlog.oldest_opened_at == local(2026, 9, 30, 23, 59)


def test_no_backlog(app_ctx):
    make_delivery(local(2026, 10, 1), "done")
    assert services.forwarding_backlog() == services.Backlog(waiting=0, failed=0, oldest_opened_at=None)
