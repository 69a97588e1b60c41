"""Concurrent work caught half-way on PostgreSQL: one transaction holds its locks while another request runs into
them, so that a race happens in the same order on every run instead of by chance."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from flask import Flask

from core.db import db

_WAITING = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND datname = current_database() AND (CAST(:pid AS integer) IS NULL OR pid = :pid)")


def lock_waiters_appear(observer: sa.Connection, count: int = 1, *, pid: int | None = None,
                        seconds: float = 10) -> bool:
    """Wait until ``count`` sessions of this database (or the one with ``pid``) wait for a lock; whether they did."""
    deadline = time.monotonic() + seconds
    while True:
        waiting = observer.scalar(_WAITING, {"pid": pid})
        # PostgreSQL reads pg_stat_activity once per transaction: each look needs a transaction of its own.
        observer.rollback()
        if waiting >= count:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


@contextlib.contextmanager
def uncommitted(app: Flask, work: Callable[[], object]) -> Iterator[None]:
    """``work`` done in a thread, app context and transaction of its own, flushed and holding its locks while the
    block runs, and committed when the block ends: another request or job caught between its writes and its commit."""
    flushed, finish = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                work()
                db.session.flush()
            except BaseException as exc:
                failures.append(exc)
                return
            finally:
                flushed.set()
            finish.wait(timeout=60)
            db.session.commit()

    thread = threading.Thread(target=run)
    thread.start()
    flushed.wait(timeout=60)
    try:
        assert not failures, failures
        yield
    finally:
        finish.set()
        thread.join(timeout=60)


def other_connection(app: Flask) -> contextlib.AbstractContextManager[sa.Connection]:
    """A connection of the app's database outside every session: to watch who waits for locks."""
    with app.app_context():
        return db.engine.connect()
