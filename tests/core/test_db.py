"""How the database engines and every SQLite connection of the embedded default are set up."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import core.db  # its connect and begin listeners are what is tested
from core.db import db


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}", **core.db.engine_options("sqlite://"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE items (name TEXT)")
    yield engine
    engine.dispose()


def names(connection: sa.Connection) -> list[str]:
    return list(connection.exec_driver_sql("SELECT name FROM items ORDER BY rowid").scalars())


def write_later(engine: sa.Engine, name: str, outcome: dict[str, object]) -> threading.Thread:
    """A second writer in a thread of its own: what it met (None, or its error) and when it committed."""
    def write() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO items VALUES (:name)"), {"name": name})
            outcome["error"], outcome["committed"] = None, time.monotonic()
        except sa.exc.OperationalError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_sqlite_connections_use_wal_with_normal_sync_and_foreign_keys(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_failed_statement_names_none_of_its_values(app_ctx):
    """Its error is logged, and kept in Redis with a failed rq job: values are residents' text and openids."""
    with pytest.raises(sa.exc.DBAPIError) as failed:
        with db.session.begin_nested():
            db.session.execute(sa.text("SELECT :openid FROM no_such_table"), {"openid": "dev-resident-4242"})
    assert "no_such_table" in str(failed.value) and "dev-resident-4242" not in str(failed.value)


def test_a_second_writer_waits_for_the_first_instead_of_failing(sqlite_engine):
    """The first reads, then writes: begun IMMEDIATE, it holds the lock from its first statement, so neither fails
    (a deferred reader turned writer would get SQLITE_BUSY_SNAPSHOT at once)."""
    outcome: dict[str, object] = {}
    with sqlite_engine.begin() as first:
        assert first.exec_driver_sql("SELECT count(*) FROM items").scalar() == 0
        second = write_later(sqlite_engine, "second", outcome)
        time.sleep(0.3)
        assert second.is_alive() and not outcome
        first.exec_driver_sql("INSERT INTO items VALUES ('first')")
        first_committed = time.monotonic()
    second.join(10)
    assert outcome["error"] is None and outcome["committed"] >= first_committed
    with sqlite_engine.connect() as connection:
        assert names(connection) == ["first", "second"]


def test_a_writer_waits_only_so_long_then_fails_as_any_statement_does(sqlite_engine, monkeypatch):
    monkeypatch.setattr(core.db, "SQLITE_LOCK_WAIT_SECONDS", 0.2)
    outcome: dict[str, object] = {}
    with sqlite_engine.begin() as first:
        first.exec_driver_sql("INSERT INTO items VALUES ('first')")
        write_later(sqlite_engine, "second", outcome).join(10)
    assert isinstance(outcome["error"], sa.exc.OperationalError) and "database is locked" in str(outcome["error"])
    with sqlite_engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
        connection.exec_driver_sql("INSERT INTO items VALUES ('after')")


def test_a_transaction_holds_the_write_lock_from_its_start_with_the_busy_timeout_in_place(sqlite_engine, tmp_path):
    with sqlite_engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        other = sqlite3.connect(tmp_path / "app.db", timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
            assert other.execute("SELECT count(*) FROM items").fetchone() == (0,)  # readers do not wait (WAL)
        finally:
            other.close()


def test_savepoints_nest_inside_the_immediate_transaction(sqlite_engine):
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO items VALUES ('kept')")
        savepoint = connection.begin_nested()
        connection.exec_driver_sql("INSERT INTO items VALUES ('undone')")
        savepoint.rollback()
        with connection.begin_nested():
            connection.exec_driver_sql("INSERT INTO items VALUES ('released')")
    with sqlite_engine.connect() as connection:
        assert names(connection) == ["kept", "released"]
