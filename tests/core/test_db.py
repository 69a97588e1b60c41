"""How every SQLite connection of the embedded default is set up."""

from __future__ import annotations

import sqlalchemy as sa

import core.db  # noqa: F401  (its connect listener is what is tested)


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
