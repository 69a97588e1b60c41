"""What the rq queues hold, for the jobs page and the metrics: depths, failed jobs and their errors, a retry."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

from core.errors import NotFound
from core.metrics import Gauge

FAILED_SHOWN = 50


@dataclasses.dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int
    running: int
    scheduled: int
    failed: int


@dataclasses.dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    name: str
    args: tuple[Any, ...]
    ended_at: dt.datetime | None
    error: str

    @property
    def error_line(self) -> str:
        """The exception itself: the last line of the traceback."""
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


def queue_depths(redis_connection: Any) -> list[QueueDepth]:
    from rq import Queue

    return [QueueDepth(queue.name, queue.count, queue.started_job_registry.count, queue.scheduled_job_registry.count,
                       queue.failed_job_registry.count)
            for queue in sorted(Queue.all(connection=redis_connection), key=lambda queue: queue.name)]


def failed_jobs(redis_connection: Any, limit: int = FAILED_SHOWN) -> list[FailedJob]:
    """The latest failed jobs of every queue, newest first."""
    from rq import Queue
    from rq.job import Job

    found = []
    for queue in Queue.all(connection=redis_connection):
        ids = queue.failed_job_registry.get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis_connection):
            if job is not None:
                result = job.latest_result()
                found.append(FailedJob(job.id, queue.name, job.func_name, tuple(job.args or ()), job.ended_at,
                                       (result.exc_string if result is not None else None) or ""))
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda job: job.ended_at or oldest, reverse=True)[:limit]


def retry_failed(redis_connection: Any, job_id: str) -> FailedJob:
    """Queue a failed job again (at the back of its queue); NotFound when no queue holds it as failed."""
    for job in failed_jobs(redis_connection, limit=10_000):
        if job.id == job_id:
            from rq import Queue

            Queue(job.queue, connection=redis_connection).failed_job_registry.requeue(job_id)
            return job
    raise NotFound("没有这个失败的任务（可能已重试或已过期）。")


def queue_gauges(redis_connection: Any) -> Iterator[Gauge]:
    depths = queue_depths(redis_connection)
    for name, documentation, attribute in (
            ("jobs_waiting", "Jobs waiting in each rq queue.", "waiting"),
            ("jobs_running", "Jobs being run now, by queue.", "running"),
            ("jobs_scheduled", "Jobs waiting for a retry or a set time, by queue.", "scheduled"),
            ("jobs_failed", "Failed jobs kept in each queue's failed registry (retry them on the jobs page).",
             "failed")):
        yield Gauge(name, documentation, ("queue",),
                    {(depth.name,): getattr(depth, attribute) for depth in depths})
