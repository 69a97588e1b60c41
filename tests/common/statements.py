"""Counting the SQL statements an operation sends: cost checks that do not depend on the machine's speed."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask

from core.db import db

_SAVEPOINT = re.compile(r"(RELEASE |ROLLBACK TO )?SAVEPOINT ")


@contextlib.contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """The statements sent while the block runs, in order (the list fills as they go; clear it to restart),
    without the savepoints that the per-test rollback wraps every app context in."""
    with app.app_context():
        engine = db.engine  # under the per-test rollback: the test's own connection
    statements: list[str] = []

    def record(connection, cursor, statement, *args) -> None:  # noqa: ANN001
        if not _SAVEPOINT.match(statement):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
