"""A job function for the queue tests; rq imports it by name, like any package's jobs.py."""

from __future__ import annotations

from core import services
from core.db import db


def record_job_run(marker: int) -> None:
    services.record_audit(services.SYSTEM_ACTOR, "test.job_ran", "job", marker)
    db.session.commit()
