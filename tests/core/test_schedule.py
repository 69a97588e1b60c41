"""`flask schedule run`: the periodic commands run when due, by one leader, and each run is recorded."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Iterator

import click
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from core.db import db
from core.models import SweepRun
from core.schedule import (LEADER_KEY, SHANGHAI, AloneLeadership, Periodic, RedisLeadership, Scheduler,
                           register_periodic, schedule_of)
from tests.common import metrics
from tests.conftest import app_on_own_database

PRODUCTION_SCHEDULE = {"cases sweep", "cases supervise", "media sweep", "reports sweep", "rewards sweep-payouts",
                       "insight sweep", "media delete-unattached", "privacy enforce-retention", "rewards reconcile"}


def test_an_interval_is_due_once_it_has_passed():
    every_minute = Periodic("x", every=dt.timedelta(seconds=60))
    started = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.timezone.utc)
    assert every_minute.due(None, started)
    assert not every_minute.due(started, started + dt.timedelta(seconds=59))
    assert every_minute.due(started, started + dt.timedelta(seconds=60))


def test_a_daily_time_is_shanghai_time():
    nightly = Periodic("x", daily_at=dt.time(2, 30))
    # 02:30 in Shanghai is 18:30 UTC the day before.
    last = dt.datetime(2026, 12, 5, 18, 31, tzinfo=dt.timezone.utc)
    assert not nightly.due(last, dt.datetime(2026, 12, 6, 18, 29, tzinfo=dt.timezone.utc))
    assert nightly.due(last, dt.datetime(2026, 12, 6, 18, 30, tzinfo=dt.timezone.utc))
    assert dt.datetime(2026, 12, 6, 18, 30, tzinfo=dt.timezone.utc).astimezone(SHANGHAI).hour == 2


def test_the_packages_schedule_the_periodic_commands_they_have(app: Flask):
    """The eight commands the README once left to cron, each a command the app has."""
    commands = {periodic.command for periodic in schedule_of(app)}
    assert commands == PRODUCTION_SCHEDULE
    context = click.Context(app.cli)
    for command in commands:
        group_name, name = command.split()
        group = app.cli.get_command(context, group_name)
        assert group is not None and group.get_command(context, name) is not None, command


@pytest.fixture(scope="module")
def scheduled_app(tmp_path_factory, fake_wechat, request) -> Iterator[Flask]:
    """An app whose database really commits, with three test commands of its own on the schedule."""
    with app_on_own_database(tmp_path_factory.mktemp("schedule"), fake_wechat, request, "schedule") as app:
        app.extensions["schedule"] = []
        app.extensions["test_runs"] = []
        group = click.Group("test-sweep")

        @group.command("ok")
        @with_appcontext
        def ok() -> None:
            app.extensions["test_runs"].append("ok")

        @group.command("boom")
        @with_appcontext
        def boom() -> None:
            raise RuntimeError("the case system is on fire")

        @group.command("differences")
        @with_appcontext
        def differences() -> None:
            sys.exit(1)

        app.cli.add_command(group)
        register_periodic(app, "test-sweep ok", every_seconds=60)
        yield app


@pytest.fixture
def fresh_runs(scheduled_app: Flask) -> Flask:
    scheduled_app.extensions["test_runs"].clear()
    with scheduled_app.app_context():
        db.session.execute(sa.delete(SweepRun))
        db.session.commit()
    return scheduled_app


def last_run(app: Flask, name: str) -> SweepRun | None:
    with app.app_context():
        run = db.session.get(SweepRun, name)
        if run is not None:
            db.session.expunge(run)
        return run


@pytest.mark.live_database
def test_a_due_command_runs_once_and_is_recorded(fresh_runs: Flask):
    app = fresh_runs
    scheduler = Scheduler(app, AloneLeadership(), "host-a:1")
    assert scheduler.tick() == ["test-sweep ok"]
    assert app.extensions["test_runs"] == ["ok"]
    run = last_run(app, "test-sweep ok")
    assert run.succeeded is True and run.error is None and run.runner == "host-a:1"
    assert run.started_at <= run.finished_at == run.last_success_at
    # Not due again until its interval has passed.
    assert scheduler.tick() == []
    assert scheduler.tick(now=run.started_at + dt.timedelta(seconds=60)) == ["test-sweep ok"]
    assert app.extensions["test_runs"] == ["ok", "ok"]


@pytest.mark.live_database
def test_a_failing_command_is_recorded_with_its_error(fresh_runs: Flask):
    app = fresh_runs
    scheduler = Scheduler(app, AloneLeadership(), "host-a:1")
    assert scheduler.run("test-sweep ok")
    succeeded_at = last_run(app, "test-sweep ok").last_success_at
    assert not scheduler.run("test-sweep boom")
    assert not scheduler.run("test-sweep differences")
    boom = last_run(app, "test-sweep boom")
    assert boom.succeeded is False and boom.error == "RuntimeError: the case system is on fire"
    assert boom.finished_at is not None and boom.last_success_at is None
    assert last_run(app, "test-sweep differences").error == "exit status 1"
    assert last_run(app, "test-sweep ok").last_success_at == succeeded_at

    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert metrics.value(text, "sweep_last_run_succeeded", sweep="test-sweep boom") == 0
    assert metrics.value(text, "sweep_last_run_succeeded", sweep="test-sweep ok") == 1
    assert metrics.value(text, "sweep_last_success_timestamp_seconds", sweep="test-sweep ok") == pytest.approx(
        succeeded_at.timestamp())


@pytest.mark.services_only
@pytest.mark.live_database
def test_two_schedulers_on_one_redis_run_each_sweep_once(fresh_runs: Flask, redis_url: str):
    import redis

    connection = redis.Redis.from_url(redis_url)
    connection.delete(LEADER_KEY)
    app = fresh_runs
    first = Scheduler(app, RedisLeadership(connection, "host-a:1"), "host-a:1")
    second = Scheduler(app, RedisLeadership(connection, "host-b:2"), "host-b:2")
    start = threading.Barrier(2)
    ran: dict[str, list[str]] = {}

    def tick(scheduler: Scheduler) -> None:
        start.wait()
        ran[scheduler.identity] = scheduler.tick()

    threads = [threading.Thread(target=tick, args=(scheduler,)) for scheduler in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ran.values()) == [[], ["test-sweep ok"]]
    assert app.extensions["test_runs"] == ["ok"]
    leader, standby = (first, second) if ran["host-a:1"] else (second, first)
    assert connection.get(LEADER_KEY) == leader.identity.encode()

    # The leader goes on leading; the standby runs nothing, even when the sweep is due again.
    due_again = last_run(app, "test-sweep ok").started_at + dt.timedelta(seconds=61)
    assert standby.tick(now=due_again) == []
    # The leader stops (its lease released): the standby takes over, and runs nothing early.
    leader.leadership.release()
    assert standby.tick() == []
    assert connection.get(LEADER_KEY) == standby.identity.encode()
    assert standby.tick(now=due_again) == ["test-sweep ok"]
    assert leader.tick(now=due_again + dt.timedelta(seconds=61)) == []
    assert app.extensions["test_runs"] == ["ok", "ok"]
    connection.delete(LEADER_KEY)
