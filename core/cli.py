"""Operator commands: `flask create-staff`, `flask jobs worker`, `flask schedule run`, `flask privacy rotate-key`;
`make run`'s banner."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from redis.exceptions import RedisError

from core import crypto, services
from core.auth import staff_roles
from core.db import db
from core.errors import AppError
from core.jobs import DEFAULT_QUEUE, make_worker
from core.models import StaffAccount
from core.schedule import Scheduler, echo_schedule, leadership_for, runner_identity


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


schedule_cli = AppGroup("schedule", help="The periodic commands (sweeps, retention, reconciliation).")


@schedule_cli.command("run")
@click.option("--poll", default=5.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds between looks at what is due.")
@with_appcontext
def schedule_run_command(poll: float) -> None:
    """Run the periodic commands when due, until SIGTERM or Ctrl+C. Start one per host: one leads (through
    Redis), the others stand by."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    identity = runner_identity()
    scheduler = Scheduler(app, leadership_for(app, identity), identity)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop.set())
    click.echo(f"scheduler {identity}: {len(app.extensions.get('schedule', []))} periodic commands")
    try:
        scheduler.run_until_stopped(poll_seconds=poll)
    except KeyboardInterrupt:
        scheduler.stop.set()


@schedule_cli.command("show")
@with_appcontext
def schedule_show_command() -> None:
    """Print the schedule and each command's last run."""
    echo_schedule(current_app._get_current_object())  # type: ignore[attr-defined]


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


def banner(url: str, *, staff_accounts: int, dev_login: bool) -> str:
    """Where the docs and the admin are and how to get in: what `make run` prints last, once the server listens,
    so that no start-up line scrolls it away."""
    flask = os.path.relpath(Path(sys.executable).parent / "flask")
    lines = [f"  API docs:  {url}/api/docs   (OpenAPI: {url}/api/openapi.json)", f"  Admin:     {url}/admin/"]
    if not staff_accounts:
        lines.append(f"  First admin account:  {flask} create-staff --username admin --role admin")
    if dev_login:
        lines.append(f"  A resident without WeChat:  POST {url}/api/v1/auth/dev {{\"openid\": \"dev-1\"}}")
    lines.append("  This is werkzeug's development server (production runs gunicorn: deploy/). Ctrl+C stops it.")
    return "\n".join(["", *lines, ""])


def show_banner(app: Flask, url: str) -> None:
    with app.app_context():
        staff_accounts = db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount)) or 0
        db.session.rollback()
    click.echo(banner(url, staff_accounts=staff_accounts, dev_login=app.config["APP_SETTINGS"].dev_login_enabled))
