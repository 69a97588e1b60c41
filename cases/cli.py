"""`flask cases sweep` (cron every minute, or ``--every`` as a loop), which also polls an Open311 case system;
`flask cases departments-import FILE`, the departments directory from CSV (`make run` loads the Qingdao sample)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from cases import services
from cases.settings import CaseSettings
from core.config import current_settings
from core.db import db
from core.services import SYSTEM_ACTOR

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


@cases_cli.command("departments-import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def departments_import_command(file: Path) -> None:
    """Create or update the departments and routing rules of a CSV file (columns: name, kind, district,
    categories, active); a file with any bad row is refused whole, each problem printed."""
    try:
        outcome = services.import_departments(SYSTEM_ACTOR, file.read_text(encoding="utf-8-sig"))
    except services.DepartmentImportRefused as refused:
        db.session.rollback()
        raise click.ClickException("\n".join(["部门文件有误，未导入任何内容：", *refused.problems])) from None
    db.session.commit()
    click.echo(f"departments: {outcome.created} created, {outcome.updated} updated, {outcome.rules} routing rules")


@cases_cli.command("supervise")
@with_appcontext
def supervise_command() -> None:
    """督办: mark the desk cases newly past their step's deadline and notify their departments."""
    marked = services.supervise_overdue()
    db.session.commit()
    click.echo(f"supervised {marked} overdue cases")
