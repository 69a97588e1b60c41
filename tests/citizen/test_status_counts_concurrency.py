"""The kept per-status counts while reports change status at once, on PostgreSQL (SQLite has one writer)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.models import Report, ReportStatusCount
from core.db import db
from tests.citizen.helpers import QINGDAO
from tests.common.factories import ResidentFactory
from tests.common.locks import lock_waiters_appear

pytestmark = [pytest.mark.live_database, pytest.mark.services_only]


def reports_of_one_shard(statuses: list[str]) -> list[int]:
    owner = ResidentFactory().id
    first = (db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Report.id), 0))) // 1000 + 1) * 1000
    reports = [Report(id=first + ReportStatusCount.SHARDS * n, resident_id=owner, category_id="S0104",
                      description="同一分片的反映", lat=QINGDAO[0], lng=QINGDAO[1], address="青岛市市南区",
                      district="市南区", status=status, idempotency_key=f"shard-{first}-{n}", request_fingerprint="fp",
                      flags=[], checks={})
               for n, status in enumerate(statuses)]
    db.session.add_all(reports)
    db.session.commit()
    return [report.id for report in reports]


def move(connection: sa.Connection, report_id: int, status: str) -> None:
    connection.execute(sa.update(Report).where(Report.id == report_id).values(status=status))


def test_reports_of_one_shard_moving_opposite_ways_at_once_do_not_deadlock(live_app):
    """One case reopened (resolved → in_progress) while another of the same shard is resolved: the two count rows
    were locked in opposite orders, and PostgreSQL aborted one of the changes."""
    with live_app.app_context():
        accepted, resolved, in_progress = reports_of_one_shard(["accepted", "resolved", "in_progress"])
        engine = db.engine
    failures: list[BaseException] = []
    with engine.connect() as first, engine.connect() as second, engine.connect() as observer:
        outer = first.begin()
        move(first, accepted, "in_progress")  # holds the shard's in_progress count until it commits

        def reopen() -> None:
            try:
                with second.begin():
                    move(second, resolved, "in_progress")
            except sa.exc.DBAPIError as exc:
                failures.append(exc)

        reopening = threading.Thread(target=reopen)
        reopening.start()
        assert lock_waiters_appear(observer, pid=second.connection.dbapi_connection.info.backend_pid)
        try:
            move(first, in_progress, "resolved")
            outer.commit()
        except sa.exc.DBAPIError as exc:
            failures.append(exc)
            outer.rollback()
        reopening.join(timeout=30)
    assert failures == []
    with live_app.app_context():
        kept = services.status_counts(services.QueueFilter())
        counted = dict.fromkeys(kept, 0)
        counted.update(db.session.execute(sa.select(Report.status, sa.func.count()).group_by(Report.status)).all())
        assert kept == counted


def test_forgetting_a_resident_while_one_of_the_shard_is_rejected_does_not_deadlock(live_app):
    """Deleting a resident's reports took their count rows in id order (rejected, then pending_review) while a
    moderator's rejection took them in status order: each held the row the other waited for."""
    with live_app.app_context():
        rejected, pending = reports_of_one_shard(["rejected", "pending_review"])
        leaving = db.session.get(Report, rejected).resident_id
        (waiting_for_moderator,) = reports_of_one_shard(["pending_review"])
        engine = db.engine
    failures: list[BaseException] = []

    def forget() -> None:
        with live_app.app_context():
            try:
                services.forget_resident_everywhere(leaving)
                db.session.commit()  # as the request that asked for it does at its end
            except sa.exc.DBAPIError as exc:
                failures.append(exc)
                db.session.rollback()

    def reject(connection: sa.Connection) -> None:
        try:
            with connection.begin():
                move(connection, waiting_for_moderator, "rejected")
        except sa.exc.DBAPIError as exc:
            failures.append(exc)

    with engine.connect() as holder, engine.connect() as moderator, engine.connect() as observer:
        held = holder.begin()
        # The second report's row is busy: forgetting stops between its two deletions.
        holder.execute(sa.select(Report.id).where(Report.id == pending).with_for_update())
        forgetting = threading.Thread(target=forget)
        forgetting.start()
        assert lock_waiters_appear(observer, 1)
        rejecting = threading.Thread(target=reject, args=(moderator,))
        rejecting.start()
        assert lock_waiters_appear(observer, 2)
        held.commit()
        forgetting.join(timeout=30)
        rejecting.join(timeout=30)
    assert failures == []
    with live_app.app_context():
        assert db.session.get(Report, pending) is None
        kept = services.status_counts(services.QueueFilter())
        counted = dict.fromkeys(kept, 0)
        counted.update(db.session.execute(sa.select(Report.status, sa.func.count()).group_by(Report.status)).all())
        assert kept == counted
