"""Job functions and event handlers for the queue tests; rq imports them by name, like any package's jobs.py."""

from __future__ import annotations

from core import services


def record_job_run(marker: int) -> None:
    # No commit here: a job is one unit of work, committed by the queue when it returns.
    services.record_audit(services.SYSTEM_ACTOR, "test.job_ran", "job", marker)


def record_then_fail(marker: int) -> None:
    services.record_audit(services.SYSTEM_ACTOR, "test.job_ran", "job", marker)
    raise RuntimeError("the job failed after writing")


def record_handled(report_id: int) -> None:
    services.record_audit(services.SYSTEM_ACTOR, "test.handled", "report", report_id)
