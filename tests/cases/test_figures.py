"""The forwarding backlog insight reads: reports accepted and not yet delivered, all or accepted in a period."""

from __future__ import annotations

from cases import services
from tests.insight.helpers import local, make_delivery

OCTOBER = (local(2026, 10, 1, 0), local(2026, 11, 1, 0))


def test_the_backlog_now_and_of_the_reports_accepted_in_a_period(app_ctx):
    make_delivery(local(2026, 9, 30, 23, 59), "retrying")  # accepted 30 September, Beijing time
    make_delivery(local(2026, 10, 1, 0, 0), "done")
    make_delivery(local(2026, 10, 5), "pending")
    make_delivery(local(2026, 10, 31, 23, 30), "failed")
    make_delivery(local(2026, 11, 1, 0, 30), "working")
    october = services.forwarding_backlog(since=OCTOBER[0], until=OCTOBER[1])
    assert october.by_status == {"pending": 1, "working": 0, "retrying": 0, "failed": 1}
    assert october.oldest_opened_at == local(2026, 10, 5)
    backlog = services.forwarding_backlog()
    assert backlog.by_status == {"pending": 1, "working": 1, "retrying": 1, "failed": 1}
    assert (backlog.waiting, backlog.failed) == (3, 1)
    assert backlog.oldest_opened_at == local(2026, 9, 30, 23, 59)


def test_no_backlog(app_ctx):
    make_delivery(local(2026, 10, 1), "done")
    backlog = services.forwarding_backlog()
    assert (backlog.waiting, backlog.failed, backlog.oldest_opened_at) == (0, 0, None)
