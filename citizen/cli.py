"""`flask privacy enforce-retention`: the daily retention run (cron, or an rq scheduler running the same job)."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from citizen import jobs

privacy_cli = AppGroup("privacy", help="Residents' data: retention.")


@privacy_cli.command("enforce-retention")
@with_appcontext
def enforce_retention_command() -> None:
    """Clear old report IP addresses, delete media of long-finished reports, forget long-inactive residents."""
    outcome = jobs.enforce_retention()
    click.echo(f"forgot {outcome.residents_forgotten} inactive residents; cleared {outcome.ip_addresses_cleared} "
               f"IP addresses; deleted {outcome.report_media_deleted} media of finished reports")
