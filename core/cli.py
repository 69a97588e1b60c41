"""Operator commands: `flask create-staff`, `flask jobs worker`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import RedisError

from core import services
from core.db import db
from core.errors import AppError
from core.jobs import DEFAULT_QUEUE, make_worker


@click.command("create-staff")
@click.option("--username", required=True)
@click.option("--display-name", default="")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(services.ROLE_NAMES),
              help="Repeat for several roles.")
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
