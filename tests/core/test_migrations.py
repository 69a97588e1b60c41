"""One linear Alembic chain that builds the whole schema on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from core.app import import_models
from core.config import PROJECT_ROOT, Config
from core.db import db
from tests.conftest import BACKENDS, dispose, drop_postgres_schema, fresh_postgres_schema

pytestmark = pytest.mark.live_database


@pytest.fixture
def empty_database_url(tmp_path: Path, request: pytest.FixtureRequest):
    if BACKENDS == "services":
        url = Config.from_env({"DATABASE_URL": request.getfixturevalue("postgres_url")}).database_url
        schema = f"migrations_{os.getpid()}"
        yield fresh_postgres_schema(url, schema)
        drop_postgres_schema(url, schema)
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def empty_app(make_app, empty_database_url):
    app = make_app(database_url=empty_database_url)
    yield app
    dispose(app)


def test_the_chain_is_linear_with_one_head():
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    assert len(script.get_heads()) == 1
    assert all(len(revision._all_down_revisions) <= 1 for revision in script.walk_revisions())


def test_the_files_sort_in_chain_order():
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    chain = [Path(revision.path).name for revision in reversed(list(script.walk_revisions()))]
    assert chain == sorted(chain)


def test_models_and_migrations_do_not_drift(empty_app):
    with empty_app.app_context():
        upgrade()
        import_models()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
            # Alembic compares no AUTOINCREMENT: the tables whose ids are never reused are so on SQLite as modelled.
            if connection.dialect.name == "sqlite":
                autoincrement = set(connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'").scalars())
                modelled = {table.name for table in db.metadata.sorted_tables
                            if table.dialect_options["sqlite"]["autoincrement"]}
                assert autoincrement == modelled and "reports" in modelled
    assert differences == []


def test_the_chain_downgrades_to_empty_and_upgrades_again(empty_app):
    with empty_app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        assert "staff_accounts" in sa.inspect(db.engine).get_table_names()
