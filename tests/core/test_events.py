"""Events reach every subscribed listener as a job after the commit, and never on rollback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import services
from core.db import db
from core.events import emit, handle, publish, subscribe
from core.models import AuditEntry
from tests.core.sample_jobs import record_job_run


def test_listeners_run_after_commit_and_not_after_rollback(app, run_jobs):
    subscribe(app, "test.something_happened", record_job_run)
    try:
        with app.app_context():
            publish("test.something_happened", 31)
            db.session.rollback()
            publish("test.something_happened", 32)
            db.session.commit()
        run_jobs()
        with app.app_context():
            ran = set(db.session.scalars(sa.select(AuditEntry.object_id).where(AuditEntry.action == "test.job_ran")))
        assert ran == {"32"}
    finally:
        app.extensions["event_listeners"]["test.something_happened"].remove(record_job_run)


def test_an_event_without_listeners_is_fine(app_ctx):
    publish("test.nobody_listens", 1)
    services.record_audit(services.SYSTEM_ACTOR, "test.noop", "thing")
    db.session.commit()


def test_listeners_subscribed_by_name_run_after_commit(app, run_jobs):
    subscribe(app, "test.named", "tests.core.sample_jobs.record_job_run")
    try:
        with app.app_context():
            publish("test.named", 33)
            db.session.commit()
        run_jobs()
        with app.app_context():
            ran = set(db.session.scalars(sa.select(AuditEntry.object_id).where(AuditEntry.action == "test.job_ran")))
        assert "33" in ran
    finally:
        app.extensions["event_listeners"]["test.named"].remove("tests.core.sample_jobs.record_job_run")


def test_same_transaction_handlers_write_with_the_emitter_or_not_at_all(app):
    handle(app, "test.accepted", "tests.core.sample_jobs.record_handled")
    try:
        with app.app_context():
            emit("test.accepted", report_id=41)
            db.session.rollback()
            emit("test.accepted", report_id=42)
            db.session.commit()
            handled = set(db.session.scalars(sa.select(AuditEntry.object_id)
                                             .where(AuditEntry.action == "test.handled")))
        assert handled == {"42"}
    finally:
        app.extensions["event_handlers"]["test.accepted"].remove("tests.core.sample_jobs.record_handled")


def test_a_handler_or_listener_registered_twice_is_refused(app):
    handle(app, "test.twice", "tests.core.sample_jobs.record_handled")
    subscribe(app, "test.twice", "tests.core.sample_jobs.record_job_run")
    try:
        with pytest.raises(ValueError):
            handle(app, "test.twice", "tests.core.sample_jobs.record_handled")
        with pytest.raises(ValueError):
            subscribe(app, "test.twice", "tests.core.sample_jobs.record_job_run")
    finally:
        app.extensions["event_handlers"]["test.twice"].clear()
        app.extensions["event_listeners"]["test.twice"].clear()
