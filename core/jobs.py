"""Background jobs: enqueued only after the database commits, run inline or on rq workers.

Job functions live in each package's ``jobs.py`` and take ids, never objects, so the
same function runs in-process (embedded default) or on an rq worker (production). They are
queued by dotted name ("cases.jobs.deliver"), so a service never imports the jobs that run
it: jobs import services, one direction. A job is one unit of work: it commits once, when
its function returns, and rolls back when it raises.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import logging
import operator
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session, SessionTransaction

from core.db import db
from core.metrics import JOBS_FINISHED, JOBS_QUEUED, use_work_horse_identity

log = logging.getLogger(__name__)

JobFunction = Callable[..., Any]
# A job function, or its dotted name ("package.jobs.function").
JobReference = JobFunction | str
_PENDING_KEY = "jobs_pending_commit"
_COMMITTED_KEY = "jobs_committed"
DEFAULT_QUEUE = "default"


def job_name(job: JobReference) -> str:
    return job if isinstance(job, str) else f"{job.__module__}.{job.__qualname__}"


def resolve_job(job: JobReference) -> JobFunction:
    """The function a dotted name stands for, imported on first use (the name is checked when queued)."""
    if not isinstance(job, str):
        return job
    module_name, _, attribute = job.rpartition(".")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise LookupError(f"no job function {job!r}")
    return function


@dataclasses.dataclass(frozen=True)
class QueuedCall:
    """``func(*ids)``, to run on the worker queue ``queue``; ``func`` a job function or its dotted name."""

    func: JobReference
    ids: tuple[int | str, ...]
    queue: str = DEFAULT_QUEUE

    @property
    def name(self) -> str:
        return job_name(self.func)


class JobQueue(Protocol):
    def enqueue(self, calls: Sequence[QueuedCall]) -> None:
        """Run or queue the calls, in order; raise when they could not be queued."""

    def check(self) -> None:
        """Raise when the queue's backend is unreachable."""


class InlineQueue:
    """Runs each job in-process, in a fresh application context, right after the commit."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def enqueue(self, calls: Sequence[QueuedCall]) -> None:
        for call in calls:
            JOBS_QUEUED.labels(call.queue).inc()
            with self.app.app_context():
                try:
                    resolve_job(call.func)(*call.ids)
                    db.session.commit()
                except Exception:
                    log.exception("inline job failed", extra={"job": call.name})
                    db.session.rollback()
                    JOBS_FINISHED.labels(call.queue, "failed").inc()
                else:
                    JOBS_FINISHED.labels(call.queue, "done").inc()

    def check(self) -> None:
        return None


class RqQueue:
    def __init__(self, redis_connection: Any) -> None:
        self.redis = redis_connection

    def enqueue(self, calls: Sequence[QueuedCall]) -> None:
        """All the calls in one round trip (one status change fans out to several listeners' jobs)."""
        from rq import Queue, Retry

        retry = Retry(max=3, interval=[10, 60, 300])
        by_queue: dict[str, list[Any]] = {}
        for call in calls:
            by_queue.setdefault(call.queue, []).append(Queue.prepare_data(call.name, call.ids, retry=retry))
        with self.redis.pipeline() as pipeline:
            for name, jobs in by_queue.items():
                Queue(name, connection=self.redis).enqueue_many(jobs, pipeline=pipeline)
            pipeline.execute()
        for name, jobs in by_queue.items():
            JOBS_QUEUED.labels(name).inc(len(jobs))

    def check(self) -> None:
        self.redis.ping()


def job_queue() -> JobQueue:
    return current_app.extensions["job_queue"]


def enqueue_after_commit(func: JobReference, *ids: int | str, queue: str = DEFAULT_QUEUE) -> None:
    """Queue ``func(*ids)`` to run once the current transaction commits; dropped on rollback. ``func`` is best given
    by dotted name; a name that names no function fails here, in the caller's test, not later on a worker."""
    for value in ids:
        if not isinstance(value, (int, str)):
            raise TypeError("jobs take ids, not objects")
    resolve_job(func)
    session = db.session()
    if session.get_transaction() is None:
        # Tie the job to a transaction now, so that a rollback before any other work drops it.
        session.begin()
    session.info.setdefault(_PENDING_KEY, []).append((job_queue(), QueuedCall(func, ids, queue)))


@sa.event.listens_for(Session, "after_commit")
def _keep_committed_jobs(session: Session) -> None:
    # Released savepoints (begin_nested) report a commit too; their jobs wait for the transaction's own commit.
    if not session.in_nested_transaction():
        session.info[_COMMITTED_KEY] = session.info.pop(_PENDING_KEY, [])


@sa.event.listens_for(Session, "after_transaction_end")
def _dispatch_committed_jobs(session: Session, transaction: SessionTransaction) -> None:
    """Hand the committed transaction's jobs over once it has ended: its connection is back in the pool by then. At
    commit it still was not, and an inline job (the embedded default) took a second connection while the request
    held the first; twenty uploads at once on the threaded server then emptied the pool of 15 and waited 30 s for
    it (500s). A transaction that ends without committing (rolled back, or the session closed) drops its jobs."""
    if transaction.parent is not None:
        return
    session.info.pop(_PENDING_KEY, None)
    committed = session.info.pop(_COMMITTED_KEY, [])
    for backend, queued in itertools.groupby(committed, key=operator.itemgetter(0)):
        calls = [call for _, call in queued]
        try:
            backend.enqueue(calls)
        except Exception as exc:
            # The transaction has committed: failing the caller now would report as lost what is stored (and
            # leave the session unusable). A job lost here is lost as one in a Redis that restarts empty:
            # the sweeps find its work from the database (case deliveries, payouts, media, rewards).
            for call in calls:
                log.error("job not queued", extra={"job": call.name, "ids": list(call.ids),
                                                   "error": f"{type(exc).__name__}: {exc}"})


def make_worker(app: Flask, queues: list[str], *, fork: bool = True) -> Any:
    """An rq worker whose every job runs inside an application context of ``app``.

    ``fork=False`` runs jobs in the worker's own process (rq's SimpleWorker), as tests do.
    """
    from rq import Queue, SimpleWorker, Worker
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    class UnitOfWorkJob(Job):
        def _execute(self) -> Any:
            # perform_job below removes the session afterwards, which rolls back whatever a failed job left.
            result = super()._execute()
            db.session.commit()
            return result

    class AppWorker(Worker if fork else SimpleWorker):  # type: ignore[misc, valid-type]
        def main_work_horse(self, *args: Any, **kwargs: Any) -> None:
            # A forked work-horse must not reuse the parent's pooled database connections.
            with app.app_context():
                db.engine.dispose(close=False)
            super().main_work_horse(*args, **kwargs)

        def perform_job(self, *args: Any, **kwargs: Any) -> bool:
            with app.app_context():
                try:
                    return super().perform_job(*args, **kwargs)
                finally:
                    db.session.remove()

        def execute_job(self, job: Job, queue: Queue) -> None:
            # Counted here, in the worker itself (a forked work-horse is gone by now): done, failed for good, or
            # failed and queued again by its Retry.
            super().execute_job(job, queue)
            try:
                status = job.get_status(refresh=True)
            except NoSuchJobError:  # its result already expired: it finished
                status = JobStatus.FINISHED
            outcome = {JobStatus.FINISHED: "done", JobStatus.FAILED: "failed"}.get(status, "retrying")
            JOBS_FINISHED.labels(queue.name, outcome).inc()

    if fork:
        use_work_horse_identity(os.getpid())
    redis_connection = app.extensions["redis"]
    return AppWorker([Queue(name, connection=redis_connection, job_class=UnitOfWorkJob) for name in queues],
                     connection=redis_connection, job_class=UnitOfWorkJob)
