"""The 任务队列 page (system administrators): queue depths, failed jobs with their error and a retry, and the last
run of each scheduled command. In the embedded default jobs run inline after the commit: there are no queues."""

from __future__ import annotations

import re

from flask import current_app, redirect, render_template, url_for
from werkzeug.wrappers import Response

from core import services
from core.admin import NavItem, actor, admin_blueprint, perform
from core.auth import require_staff_role
from core.errors import NotFound
from core.queues import failed_jobs, queue_depths, retry_failed
from core.schedule import last_runs, schedule_of

NAV = (NavItem("admin_jobs.jobs", "任务队列", ("admin",)),)
NAV_WEIGHT = 21
# rq's job ids: a UUID's hex digits (with or without dashes).
JOB_ID = re.compile(r"[0-9a-f-]{1,64}")

bp = admin_blueprint("admin_jobs", __name__)


@bp.get("/jobs")
def jobs() -> str:
    require_staff_role("admin")
    redis_connection = current_app.extensions["redis"]
    schedule = schedule_of(current_app)
    runs = last_runs()
    # Commands run by hand or left off the schedule since still show their last run.
    unscheduled = sorted(set(runs) - {periodic.command for periodic in schedule})
    return render_template(
        "admin/jobs.html", inline=redis_connection is None,
        depths=queue_depths(redis_connection) if redis_connection is not None else [],
        failed=failed_jobs(redis_connection) if redis_connection is not None else [],
        schedule=schedule, runs=runs, unscheduled=unscheduled)


@bp.post("/jobs/failed/<job_id>/retry")
def retry(job_id: str) -> Response:
    require_staff_role("admin")
    redis_connection = current_app.extensions["redis"]

    def queue_again() -> None:
        if redis_connection is None or not JOB_ID.fullmatch(job_id):
            raise NotFound("没有这个失败的任务（可能已重试或已过期）。")
        job = retry_failed(redis_connection, job_id)
        services.record_audit(actor(), "job.retry", "job", job_id,
                              after={"queue": job.queue, "function": job.name, "args": list(job.args),
                                     "error": job.error_line})

    perform(queue_again, "已重新排队该任务。")
    return redirect(url_for("admin_jobs.jobs"))
