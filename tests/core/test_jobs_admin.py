"""The 任务队列 page: system administrators only; failed rq jobs retried (audited); the sweeps' last runs."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from flask import Flask

from core.db import db
from core.jobs import make_worker
from core.models import AuditEntry
from tests.common import metrics
from tests.core.admin_helpers import admin_post, signed_in_staff


def test_only_system_administrators_see_the_jobs_page(app: Flask):
    moderator = signed_in_staff(app, "jobs_moderator", "moderator")
    assert moderator.get("/admin/jobs").status_code == 403
    assert moderator.post("/admin/jobs/failed/abc/retry").status_code in (400, 403)
    admin = signed_in_staff(app, "jobs_admin", "admin")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert "定时任务" in page and "cases sweep" in page and "每 60 秒" in page


def test_the_embedded_default_has_no_queues(app: Flask, monkeypatch):
    monkeypatch.setitem(app.extensions, "redis", None)
    page = signed_in_staff(app, "jobs_admin_inline", "admin").get("/admin/jobs").get_data(as_text=True)
    assert "没有队列" in page and "失败的任务" not in page


def test_retrying_an_unknown_job_is_refused_and_not_audited(app: Flask):
    admin = signed_in_staff(app, "jobs_admin_unknown", "admin")
    answer = admin_post(admin, "/admin/jobs/failed/0123abcd/retry", {}, form_page="/admin/jobs")
    assert answer.status_code == 302
    assert "没有这个失败的任务" in admin.get("/admin/jobs").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "job.retry")) == 0


@pytest.mark.services_only
def test_a_failed_job_is_shown_with_its_error_and_retried(app: Flask):
    from rq import Queue

    redis_connection = app.extensions["redis"]
    queue_name = f"admin-test-{uuid.uuid4().hex[:8]}"
    queue = Queue(queue_name, connection=redis_connection)
    job = queue.enqueue("tests.core.sample_jobs.record_then_fail", 4242)
    make_worker(app, [queue_name], fork=False).work(burst=True)
    try:
        admin = signed_in_staff(app, "jobs_admin_retry", "admin")
        page = admin.get("/admin/jobs").get_data(as_text=True)
        assert job.id in page and "RuntimeError: the job failed after writing" in page
        scrape = app.test_client().get("/metrics").get_data(as_text=True)
        assert metrics.value(scrape, "jobs_failed", queue=queue_name) == 1
        assert metrics.value(scrape, "jobs_finished_total", queue=queue_name, outcome="failed") == 1

        answer = admin_post(admin, f"/admin/jobs/failed/{job.id}/retry", {}, form_page="/admin/jobs")
        assert answer.status_code == 302
        assert queue.count == 1 and queue.failed_job_registry.count == 0
        with app.app_context():
            entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "job.retry"))
            assert entry.object_id == job.id and entry.actor_name == "jobs_admin_retry"
            assert entry.after["function"] == "tests.core.sample_jobs.record_then_fail"
            assert entry.after["args"] == [4242]
    finally:
        for failed_id in queue.failed_job_registry.get_job_ids():
            queue.failed_job_registry.remove(failed_id, delete_job=True)
        queue.delete(delete_jobs=True)
