"""`flask cases sweep` (cron every minute, or ``--every`` as a loop), which also polls an Open311 case system."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup, with_appcontext

from cases import services
from cases.settings import CaseSettings
from core.config import current_settings
from core.db import db

cases_cli = AppGroup("cases", help="Forwarding reports to the case system.")


@cases_cli.command("sweep")
@click.option("--every", type=int, default=0, help="Repeat every N seconds instead of once (for a container).")
@with_appcontext
def sweep_command(every: int) -> None:
    """Queue deliveries and notifications that are due or were lost, then poll an Open311 case system."""
    settings = current_settings(CaseSettings)
    while True:
        result = services.sweep(settings)
        applied = services.poll_case_system(settings)
        db.session.commit()  # each round is a unit of work of its own: what it queued leaves now
        click.echo(f"queued {result.deliveries} deliveries, {result.notifications} notifications, "
                   f"{result.reopenings} reopenings; "
                   f"applied {applied} polled updates")
        if every <= 0:
            return
        time.sleep(every)


@cases_cli.command("supervise")
@with_appcontext
def supervise_command() -> None:
    """督办: mark the desk cases newly past their step's deadline and notify their departments."""
    marked = services.supervise_overdue()
    db.session.commit()
    click.echo(f"supervised {marked} overdue cases")
