"""`flask rewards reconcile` and `flask rewards sweep-payouts`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup, with_appcontext

from core.db import db
from rewards import jobs, services

rewards_cli = AppGroup("rewards", help="Rewarded snapshots: payouts and reconciliation.")


@rewards_cli.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Check that the ledger, the payouts and the budgets agree; print every difference (exit 1 if any)."""
    differences = services.reconcile()
    for difference in differences:
        click.echo(str(difference))
    click.echo(f"{len(differences)} difference(s)")
    if differences:
        sys.exit(1)


@rewards_cli.command("sweep-payouts")
@with_appcontext
def sweep_payouts_command() -> None:
    """Decide status changes that reached no decision, query bills not final after
    REWARD_PAYOUT_QUERY_AFTER_MINUTES and send approved rewards without a bill."""
    checked = jobs.sweep_payouts()
    db.session.commit()  # a command is one unit of work, as a queued job is
    click.echo(f"checked {checked} reward(s)")
