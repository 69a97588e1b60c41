"""How the database engines and every SQLite connection of the embedded default are set up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import core.db  # noqa: F401  (its connect listener is what is tested)
from core.db import db


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
