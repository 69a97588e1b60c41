"""`flask reports sweep` and `flask privacy enforce-retention`: scheduled passes (cron, or an rq scheduler running
the same jobs); `flask privacy rotate-key` (core.cli) joins the privacy commands."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from citizen import jobs
from core.cli import rotate_key_command
from core.db import db

reports_cli = AppGroup("reports", help="Residents' reports.")
privacy_cli = AppGroup("privacy", help="Residents' data: retention, encryption keys.")
privacy_cli.add_command(rotate_key_command)


@reports_cli.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run again the overdue automatic checks of reports (every few minutes)."""
    queued = jobs.requeue_pending_checks()
    # A command is its own unit of work; the checks are queued once it commits.
    db.session.commit()
    click.echo(f"queued the checks of {queued} reports")


@privacy_cli.command("enforce-retention")
@with_appcontext
def enforce_retention_command() -> None:
    """Clear old report IP addresses, delete media of long-finished reports, forget long-inactive residents."""
    outcome = jobs.enforce_retention()
    db.session.commit()
    click.echo(f"forgot {outcome.residents_forgotten} inactive residents; cleared {outcome.ip_addresses_cleared} "
               f"IP addresses; deleted {outcome.report_media_deleted} media of finished reports")
