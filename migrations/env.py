"""Alembic environment: the one linear chain used on SQLite and PostgreSQL alike."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from core.app import import_models
from core.db import UTCDateTime

config = context.config
if not logging.getLogger().handlers:
    # Only when run bare; inside the app (tests, `flask db`) its JSON logging stays in charge.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

import_models()
target_db = current_app.extensions["migrate"].db


def render_item(type_, obj, autogen_context):
    # Migrations must not import application code: our column types render as plain SQLAlchemy.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def process_revision_directives(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_online():
    engine = target_db.engine
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by dropping it, which with foreign keys on first deletes its rows, refused
            # while other tables reference them (residents). The pragma is ignored inside a transaction, so it is
            # set on the driver's connection before one begins; the references are checked before committing.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=target_db.metadata,
                render_item=render_item,
                render_as_batch=sqlite,
                compare_type=True,
                process_revision_directives=process_revision_directives,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows referencing rows that no longer exist")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `flask db upgrade` against a database")
run_migrations_online()
