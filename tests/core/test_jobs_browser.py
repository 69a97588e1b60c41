"""The 任务队列 page in a real headless Chromium: the sweeps' last runs, and (with Redis) a failed job retried."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from core.jobs import make_worker
from core.schedule import AloneLeadership, Scheduler
from tests.conftest import BACKENDS
from tests.core.test_admin_browser import log_in, make_staff

pytestmark = pytest.mark.browser


def test_an_admin_sees_the_last_runs_and_retries_a_failed_job(page, live_app, live_server, monkeypatch, request):
    scheduler = Scheduler(live_app, AloneLeadership(), "browser-host:1")
    assert scheduler.run("insight sweep")
    assert not scheduler.run("insight no-such-command")
    queue = None
    if BACKENDS == "services":
        import redis
        from rq import Queue

        connection = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        monkeypatch.setitem(live_app.extensions, "redis", connection)
        queue = Queue(f"browser-{uuid.uuid4().hex[:8]}", connection=connection)
        queue.enqueue("tests.core.sample_jobs.record_then_fail", 77)
        make_worker(live_app, [queue.name], fork=False).work(burst=True)
    try:
        make_staff(live_app, "browser_jobs_admin", ["admin"])
        log_in(page, live_server, "browser_jobs_admin")
        page.get_by_role("navigation", name="主导航").get_by_role("link", name="任务队列").click()
        expect(page.get_by_role("heading", name="任务队列")).to_be_visible()
        sweeps = page.locator("#sweeps")
        expect(sweeps.get_by_role("row").filter(has_text="insight sweep")).to_contain_text("成功")
        failed_run = sweeps.get_by_role("row").filter(has_text="insight no-such-command")
        expect(failed_run).to_contain_text("失败")
        expect(failed_run).to_contain_text("不在计划中")
        expect(sweeps.get_by_role("row").filter(has_text="rewards reconcile")).to_contain_text("每天 02:30")

        if queue is None:
            expect(page.get_by_text("没有队列")).to_be_visible()
            return
        row = page.locator("#failed-jobs").get_by_role("row").filter(has_text=queue.name)
        expect(row).to_contain_text("RuntimeError: the job failed after writing")
        row.get_by_role("button", name="重试").click()
        expect(page.get_by_text("已重新排队该任务。")).to_be_visible()
        expect(page.locator("#queues").get_by_role("row").filter(has_text=queue.name)).to_contain_text("1")
        assert queue.count == 1
    finally:
        if queue is not None:
            for failed_id in queue.failed_job_registry.get_job_ids():
                queue.failed_job_registry.remove(failed_id, delete_job=True)
            queue.delete(delete_jobs=True)
