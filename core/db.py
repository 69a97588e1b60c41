"""The database: typed declarative base, the session, and engine set-up per dialect."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every database; SQLite would otherwise hand back naive values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    registry = registry(metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
                        type_annotation_map={dt.datetime: UTCDateTime()})


# Primary keys are 32-bit integers (PostgreSQL's serial): a larger id in a URL or a cursor is absent, not an error.
MAX_DATABASE_ID = 2**31 - 1
# The table arguments of a table whose ids other rows, audit entries or outside systems refer to: SQLite hands the
# largest id out again once its row is deleted unless the table is AUTOINCREMENT (PostgreSQL's sequences never do).
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}
Row = TypeVar("Row")


# PostgreSQL stores no NUL character, and no database a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def database_ids(texts: Iterable[str]) -> list[int]:
    """The ids among texts sent in a form: ASCII digits within 32 bits (``str.isdigit`` also takes "²", which
    ``int`` refuses); anything else is no id of ours and is left out."""
    return [int(text) for text in texts if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_DATABASE_ID]


def get_row(model: type[Row], key: Any, **options: Any) -> Row | None:
    """The row with this primary key, or None; an integer no database id can be (beyond 32 bits) is absent
    rather than a database error."""
    if isinstance(key, int) and not 0 < key <= MAX_DATABASE_ID:
        return None
    return db.session.get(model, key, **options)


def lock_for_transaction(key: str) -> None:
    """Hold ``key`` until the transaction ends, against others taking it: for checks that count rows no single
    row lock covers. SQLite needs nothing: its transactions all begin IMMEDIATE, one writer at a time."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))


def release_connection() -> None:
    """Commit what the request did so far (usually only reading who is asking) and hand the session's connection back
    to the pool, before a long wait that needs no database: a request body arriving over a phone's network, many
    seconds for a photo. Held meanwhile, the connection is one fewer for every other request of the process, and on
    SQLite, where every transaction begins IMMEDIATE, it holds the database's only write lock: everyone else's writes
    waited for the slowest upload, and failed after the 30 s busy timeout."""
    db.session.commit()


def get_or_not_found(model: type[Row], key: Any, message: str, *, code: str | None = None,
                     **options: Any) -> Row:
    """The row with this primary key, or ``NotFound(message)`` for the API's 404."""
    from core.errors import NotFound

    row = get_row(model, key, **options)
    if row is None:
        raise NotFound(message, **({"code": code} if code else {}))
    return row


def id_digests(column: sa.ColumnElement[int], first_id: int, last_id: int, *,
               bucket: int) -> dict[int, tuple[int, int]]:
    """For the ids of ``column`` in [first_id, last_id], per bucket of ``bucket`` consecutive ids (id // bucket):
    how many there are and their sum. Where two packages keep a row per same id, comparing these shows which
    buckets disagree (an index range scan and a few rows per bucket, instead of every id)."""
    key = column // bucket
    rows = db.session.execute(sa.select(key, sa.func.count(), sa.func.sum(column))
                              .where(column.between(first_id, last_id)).group_by(key))
    return {int(number): (int(count), int(total)) for number, count, total in rows}


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


db = SQLAlchemy(model_class=Base)


# How long a transaction waits for SQLite's one write lock before failing with "database is locked".
SQLITE_LOCK_WAIT_SECONDS = 30
# How often a waiting transaction asks for the lock again.
_SQLITE_LOCK_POLL_SECONDS = 0.001


def engine_options(database_url: str) -> dict:
    # A failed statement's error names the statement, never its values: errors end up in logs and in the failed
    # jobs rq keeps in Redis, and values are residents' text, openids and coordinates.
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_LOCK_WAIT_SECONDS}, "hide_parameters": True}
    return {"pool_pre_ping": True, "hide_parameters": True}


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_connection_setup(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    # pysqlite's own transaction handling off (it would BEGIN deferred, and not before SAVEPOINT): _sqlite_begin
    # emits every BEGIN, and SQLAlchemy's savepoints then nest inside it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Readers never wait for the writer nor it for them; only writers take turns.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL cannot corrupt the database; it syncs at checkpoints instead of every commit, so a
    # power cut (not a crash of the app) may lose the last commits. An fsync per commit cost a submission
    # (three commits: the report and two listeners) more than all its SQL (bench/reports.py).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")
    # 64 MB of page cache per connection (the default is 2 MB): index descents and row lookups into a large
    # table (millions of facilities) then stay in memory instead of a read from the OS per page.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection: sa.Connection) -> None:
    """Every transaction begins IMMEDIATE, taking the write lock up front: a deferred transaction that reads and then
    writes fails at once (SQLITE_BUSY_SNAPSHOT, no waiting) when another writer got in between.

    It waits for the lock by asking again every millisecond, not in SQLite's busy handler: that one sleeps the longer
    the longer a transaction has waited (up to 100 ms between tries), so under contention the oldest waiters kept
    losing the lock to newcomers: eight clients submitting reports saw p99 1.1 s on SQLite, 0.18 s on PostgreSQL
    (bench/reports.py). Eight processes each holding the lock 10 ms in every 30: p99 from asking to holding 1.2–1.5 s
    in the busy handler, 0.25–0.3 s asking every millisecond."""
    if connection.dialect.name != "sqlite":
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                # The primary code: SQLITE_BUSY_RECOVERY (another connection recovering the WAL) waits as well.
                if (exc.sqlite_errorcode & 0xFF) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    break
            time.sleep(_SQLITE_LOCK_POLL_SECONDS)
        # Once more through SQLAlchemy, to fail as any statement does (sqlalchemy.exc.OperationalError).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")
        cursor.close()


def commit_early(reason: str) -> None:
    """Commit now, before the unit of work ends, for ``reason``: the few steps whose record must be durable before
    what comes next (a payout step before WeChat Pay is called, a delivery attempt before the case system is).
    Everything else commits once, when the request or job ends."""
    if not reason:
        raise ValueError("an early commit says why")
    db.session.commit()


def install_unit_of_work(app: Any) -> None:
    """A request is one unit of work: committed once, when it ends with a status below 400, and rolled back
    otherwise (pyramid_tm's rule), so a refused request leaves nothing half-written and services only flush."""
    @app.after_request
    def _commit_unit_of_work(response: Any) -> Any:
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response
