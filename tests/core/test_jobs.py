"""Jobs leave only after the commit, take ids, and run the same inline or on rq workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from core import services
from core.db import db
from core.jobs import DEFAULT_QUEUE, InlineQueue, RqQueue, enqueue_after_commit, make_worker
from core.models import AuditEntry
from tests.core.sample_jobs import record_job_run
from tests.common.stack import free_port


@dataclasses.dataclass
class QueueUnderTest:
    name: str
    drain: Callable[[], None]


@pytest.fixture(params=["inline", "rq"])
def queue(request, app: Flask):
    """Each backend installed on the app in turn; ``drain`` runs whatever the backend still holds."""
    original = app.extensions["job_queue"]
    if request.param == "inline":
        app.extensions["job_queue"] = InlineQueue(app)
        under_test = QueueUnderTest("inline", lambda: None)
    else:
        import redis

        connection = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        connection.delete(f"rq:queue:{DEFAULT_QUEUE}")
        app.extensions["job_queue"] = RqQueue(connection)
        original_redis = app.extensions["redis"]
        app.extensions["redis"] = connection

        def drain() -> None:
            make_worker(app, [DEFAULT_QUEUE], fork=False).work(burst=True)

        under_test = QueueUnderTest("rq", drain)
        request.addfinalizer(lambda: (app.extensions.__setitem__("redis", original_redis), connection.close()))
    yield under_test
    app.extensions["job_queue"] = original


def job_runs(marker: int) -> int:
    query = sa.select(sa.func.count()).where(AuditEntry.action == "test.job_ran", AuditEntry.object_id == str(marker))
    return db.session.scalar(query)


def test_a_job_runs_once_after_the_commit(app, queue):
    with app.app_context():
        services.record_audit(services.SYSTEM_ACTOR, "test.work", "job", 101)
        enqueue_after_commit(record_job_run, 101)
        assert job_runs(101) == 0
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(101) == 1


def test_a_job_queued_by_name_runs_and_its_work_is_committed_when_it_returns(app, queue):
    with app.app_context():
        enqueue_after_commit("tests.core.sample_jobs.record_job_run", 105)
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(105) == 1


def test_a_job_that_raises_leaves_nothing_written(app, queue):
    with app.app_context():
        enqueue_after_commit("tests.core.sample_jobs.record_then_fail", 106)
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(106) == 0


def test_a_name_that_names_no_job_is_refused_when_queued(app_ctx):
    with pytest.raises(LookupError):
        enqueue_after_commit("tests.core.sample_jobs.no_such_job", 1)
    with pytest.raises(ModuleNotFoundError):
        enqueue_after_commit("tests.core.no_such_module.job", 1)


def test_every_job_of_one_commit_leaves_with_it(app, queue):
    """A status change fans out to several listeners' jobs: they all leave with the commit (on rq in one round trip)."""
    with app.app_context():
        for marker in (111, 112, 113):
            enqueue_after_commit(record_job_run, marker)
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert [job_runs(marker) for marker in (111, 112, 113)] == [1, 1, 1]


def test_a_rolled_back_transaction_queues_nothing(app, queue):
    with app.app_context():
        enqueue_after_commit(record_job_run, 202)
        db.session.rollback()
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(202) == 0


def test_a_released_savepoint_is_no_commit(app, queue):
    """A job queued before a savepoint left when the savepoint was released, before its transaction committed."""
    with app.app_context():
        enqueue_after_commit(record_job_run, 221)
        with db.session.begin_nested():
            services.record_audit(services.SYSTEM_ACTOR, "test.work", "job", 221)
        queue.drain()
        assert job_runs(221) == 0
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(221) == 1


def test_a_closed_session_queues_nothing_it_had_pending(app, queue):
    """Closing the session ends its transaction unfinished: its jobs went with the next commit in that session."""
    with app.app_context():
        enqueue_after_commit(record_job_run, 212)
        db.session.close()
        services.record_audit(services.SYSTEM_ACTOR, "test.work", "job", 213)
        db.session.commit()
    queue.drain()
    with app.app_context():
        assert job_runs(212) == 0


def test_an_inline_job_runs_once_the_commit_has_given_its_connection_back(live_app, monkeypatch):
    """At commit the connection was still out: an inline job took a second one while its request held the first,
    and twenty uploads at once on the threaded server (`make run`) emptied the pool of 15 (500s after 30 s)."""
    monkeypatch.setitem(live_app.extensions, "job_queue", InlineQueue(live_app))
    checked_out: list[int] = []

    def count_connections(marker: int) -> None:
        checked_out.append(db.engine.pool.checkedout())

    with live_app.app_context():
        db.session.execute(sa.select(1))
        assert db.engine.pool.checkedout() == 1
        enqueue_after_commit(count_connections, 1)
        db.session.commit()
    assert checked_out == [0]


def test_jobs_take_ids_not_objects(app_ctx):
    with pytest.raises(TypeError, match="ids"):
        enqueue_after_commit(record_job_run, object())


@pytest.fixture
def redis_unreachable(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's jobs go to a Redis that refuses connections (stopped, restarting)."""
    connection = redis.Redis(port=free_port(), socket_connect_timeout=1)
    monkeypatch.setitem(app.extensions, "job_queue", RqQueue(connection))


def test_a_queue_that_is_down_fails_neither_the_commit_nor_the_caller(app, redis_unreachable, caplog):
    # The commit has happened when the jobs leave: the work is done, and the sweeps find what needs a job.
    with app.app_context():
        services.record_audit(services.SYSTEM_ACTOR, "test.work", "job", 303)
        enqueue_after_commit(record_job_run, 303)
        enqueue_after_commit(record_job_run, 304)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "test.work",
                                                                  AuditEntry.object_id == "303")) == 1
    # Each lost job is named, for whoever looks for it.
    assert [record.ids for record in caplog.records if record.message == "job not queued"] == [[303], [304]]


def test_the_worker_command_names_a_redis_it_cannot_reach(make_app):
    """It ended in a traceback of redis' ConnectionError."""
    unreachable = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    result = unreachable.test_cli_runner().invoke(args=["jobs", "worker", "--burst"])
    assert result.exit_code == 1 and "Redis at REDIS_URL cannot be reached" in result.output
    assert isinstance(result.exception, SystemExit)
