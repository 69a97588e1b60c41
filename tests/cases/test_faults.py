"""Faults on the way to the case system, against real PostgreSQL and Redis, on a database that really commits:
a worker killed mid-delivery, Redis flushed with deliveries queued, a case system failing three times."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from cases import services
from cases.models import CaseDelivery
from cases.settings import CaseSettings
from citizen import services as citizen_services
from citizen.models import Report
from core.config import Config, current_config
from core.db import db, utcnow
from core.jobs import DEFAULT_QUEUE, make_worker
from tests.cases.conftest import MODERATOR, case_settings, current_case_settings
from tests.citizen.helpers import new_report, sign_in
from tests.conftest import build_config, dispose, drop_postgres_schema, fresh_postgres_schema, migrated_app

pytestmark = [
    pytest.mark.live_database,
    pytest.mark.services_only,
]


@pytest.fixture(scope="module")
def fault_app(tmp_path_factory, fake_wechat, case_server, postgres_url, redis_url) -> Iterator[Flask]:
    schema = f"case_faults_{os.getpid()}"
    database_url = fresh_postgres_schema(Config.from_env({"DATABASE_URL": postgres_url}).database_url, schema)
    config = build_config(tmp_path_factory.mktemp("faults"), fake_wechat, database_url=database_url,
                          redis_url=redis_url, **case_settings(case_server, "open311"))
    app = migrated_app(config)
    app.extensions["redis"].flushdb()
    yield app
    app.extensions["redis"].flushdb()
    dispose(app)
    drop_postgres_schema(database_url, schema)


@pytest.fixture(autouse=True)
def _empty_queues(fault_app) -> None:
    fault_app.extensions["redis"].flushdb()


def work(app: Flask) -> None:
    make_worker(app, [DEFAULT_QUEUE], fork=False).work(burst=True)


def accepted(app: Flask, *openids: str) -> list[int]:
    """Reports accepted by a moderator, their delivery jobs queued on Redis and not yet run."""
    client = app.test_client()
    report_ids = [new_report(client, sign_in(client, openid))["id"] for openid in openids]
    work(app)
    with app.app_context():
        for report_id in report_ids:
            citizen_services.accept_report(MODERATOR, report_id,
                                           expected_version=db.session.get(Report, report_id).version)
        db.session.commit()
    return report_ids


def state(app: Flask, report_id: int) -> tuple[CaseDelivery, list[str]]:
    with app.app_context():
        delivery = db.session.scalar(sa.select(CaseDelivery).where(CaseDelivery.report_id == report_id))
        outcomes = [attempt.outcome for attempt in delivery.attempt_log]
        statuses = [event.to_status for event in db.session.get(Report, report_id).events]
        db.session.expunge(delivery)
        return delivery, outcomes + ["|"] + statuses


def sweep_later(app: Flask, seconds: int) -> int:
    with app.app_context():
        queued = services.sweep(current_case_settings(), now=utcnow() + dt.timedelta(seconds=seconds)).deliveries
        db.session.commit()
        return queued


def _deliver_in_child(app: Flask, delivery_id: int) -> None:
    with app.app_context():
        db.engine.dispose(close=False)  # never share the parent's connections
        services.deliver(delivery_id, current_case_settings(), current_config())
        db.session.commit()


def test_a_worker_killed_after_the_case_system_accepted_is_repaired_once(fault_app, case_system):
    [report_id] = accepted(fault_app, "oFaultKilledWorker0000001")
    fault_app.extensions["redis"].flushdb()  # this attempt is made by the child below instead
    delivery, _ = state(fault_app, report_id)
    child_pid: list[int] = []
    started = threading.Event()

    def kill_the_worker(case: dict) -> None:
        started.wait(10)
        os.kill(child_pid[0], signal.SIGKILL)

    case_system.on_accept = kill_the_worker
    child = multiprocessing.get_context("fork").Process(target=_deliver_in_child, args=(fault_app, delivery.id))
    child.start()
    child_pid.append(child.pid)
    started.set()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    case_system.on_accept = None
    delivery, _ = state(fault_app, report_id)
    assert delivery.status == "working" and len(case_system.cases) == 1  # accepted there, not recorded here

    assert sweep_later(fault_app, 1) == 0  # the lease still runs
    lease_seconds = fault_app.config["APP_SETTINGS"].area(CaseSettings).case_delivery_lease_seconds
    assert sweep_later(fault_app, lease_seconds + 1) == 1
    work(fault_app)
    delivery, history = state(fault_app, report_id)
    assert [post["attribute[external_id]"] for post in case_system.posts] == [str(report_id)] * 2
    assert len(case_system.cases) == 1
    assert delivery.status == "done" and delivery.external_id == case_system.cases[str(report_id)]["service_request_id"]
    assert history[history.index("|") + 1:] == ["pending_review", "accepted", "forwarded"]


def test_deliveries_queued_when_redis_is_flushed_are_swept_up(fault_app, case_system):
    reports = accepted(fault_app, *(f"oFaultRedisFlushed00000{n}" for n in range(3)))
    fault_app.extensions["redis"].flushdb()
    work(fault_app)
    assert case_system.posts == []
    assert sweep_later(fault_app, 1) == 0  # just queued: not yet taken for lost
    requeue_after_seconds = fault_app.config["APP_SETTINGS"].area(CaseSettings).case_delivery_requeue_after_seconds
    assert sweep_later(fault_app, requeue_after_seconds + 1) == 3
    work(fault_app)
    for report_id in reports:
        delivery, history = state(fault_app, report_id)
        assert delivery.status == "done" and history[-1] == "forwarded"
    assert len(case_system.cases) == 3


def test_three_500s_then_a_200_make_one_case_with_every_attempt_recorded(fault_app, case_system):
    case_system.failures = [500, 500, 500]
    [report_id] = accepted(fault_app, "oFaultThreeFailures000001")
    work(fault_app)
    for _ in range(3):
        sweep_later(fault_app, 24 * 3600)
        work(fault_app)
    delivery, history = state(fault_app, report_id)
    assert len(case_system.posts) == 4 and len(case_system.cases) == 1
    assert delivery.status == "done" and delivery.attempts == 4
    assert history[:history.index("|")] == ["retrying", "retrying", "retrying", "done"]
    assert history[history.index("|") + 1:].count("forwarded") == 1
