"""Operator commands: `flask create-staff`, `flask jobs worker`, `flask privacy rotate-key`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from redis.exceptions import RedisError

from core import crypto, services
from core.auth import staff_roles
from core.db import db
from core.errors import AppError
from core.jobs import DEFAULT_QUEUE, make_worker


def _known_roles(ctx: click.Context, param: click.Parameter, roles: tuple[str, ...]) -> tuple[str, ...]:
    # The roles are the app's, registered by its packages: known once the app is loaded, not when this is imported.
    known = staff_roles(ctx.ensure_object(ScriptInfo).load_app())
    unknown = [role for role in roles if role not in known]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(map(repr, known))}.", ctx, param)
    return roles


@click.command("create-staff")
@click.option("--username", required=True)
@click.option("--display-name", default="")
@click.option("--role", "roles", multiple=True, required=True, callback=_known_roles,
              help="A staff role the app knows (admin, moderator, …); repeat for several.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_staff_command(username: str, display_name: str, roles: tuple[str, ...], password: str) -> None:
    """Create a staff account for the admin view."""
    try:
        staff = services.create_staff(services.SYSTEM_ACTOR, username=username, display_name=display_name,
                                      password=password, roles=list(roles))
    except AppError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created staff account {staff.username} ({', '.join(staff.roles)})")


jobs_cli = AppGroup("jobs", help="Background job workers.")


@jobs_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an rq worker (needs REDIS_URL)."""
    redis_connection = current_app.extensions["redis"]
    if redis_connection is None:
        raise click.ClickException("REDIS_URL is not set: jobs run inline in the embedded default, no worker needed")
    try:
        redis_connection.ping()
    except RedisError as exc:
        raise click.ClickException(f"Redis at REDIS_URL cannot be reached: {exc}") from None
    worker = make_worker(current_app._get_current_object(), list(queues) or [DEFAULT_QUEUE])  # type: ignore[attr-defined]
    worker.work(burst=burst, with_scheduler=True)


@click.command("rotate-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows per transaction.")
@with_appcontext
def rotate_key_command(batch_size: int) -> None:
    """Re-encrypt under FIELD_ENCRYPTION_KEY every value still under one of FIELD_ENCRYPTION_OLD_KEYS.

    Run it once every process has the new key as FIELD_ENCRYPTION_KEY and the old one in FIELD_ENCRYPTION_OLD_KEYS:
    they then write under the new key and read both while this runs. Each batch is its own short transaction;
    stopped, it resumes when run again (rows done are skipped). Once it reports nothing left, the old key can go.
    """
    from core.app import import_models

    import_models()
    ring = crypto.current_key_ring()
    unreadable = 0
    for table, column in crypto.encrypted_columns(db.metadata):
        progress = crypto.RotationProgress(f"{table.name}.{column.name}")
        for progress in crypto.reencrypt_column(db.engine.connect, ring, table, column, batch_size):
            click.echo(f"{progress.column}: {progress.rows} rows read, {progress.reencrypted} re-encrypted")
        unreadable += progress.unreadable
        if progress.unreadable:
            click.echo(f"{progress.column}: {progress.unreadable} values under no configured key (or altered), "
                       "left as they are", err=True)
    if unreadable:
        raise click.ClickException(f"{unreadable} values could not be read with the configured keys; "
                                   "keep the old keys until they are found")
    click.echo(f"every value is under the current key ({ring.current_id}); FIELD_ENCRYPTION_OLD_KEYS may be removed")
