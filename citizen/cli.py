"""`flask reports sweep` and `flask privacy enforce-retention`: scheduled passes (cron, or an rq scheduler running
the same jobs); `flask privacy rotate-key` (core.cli) joins the privacy commands; `flask citizen block` and
`unblock` for an administrator at the server's shell."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup, with_appcontext

from citizen import jobs, services
from core.cli import rotate_key_command
from core.db import db
from core.errors import AppError
from core.services import Actor

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


citizen_cli = AppGroup("citizen", help="Residents: blocking and unblocking (spam, abuse).")
# Who the audit log names for what is done at the server's shell.
CLI_ACTOR = Actor(staff_id=None, name="cli")


@citizen_cli.command("block")
@click.argument("resident_id", type=int)
@click.option("--reason", required=True, help="Why (kept with the block and in the audit log).")
@with_appcontext
def block_command(resident_id: int, reason: str) -> None:
    """Block a resident: sign-in and every API call answer 403 resident_blocked."""
    _run_or_fail(lambda: services.block_resident(CLI_ACTOR, resident_id, reason=reason))
    click.echo(f"blocked resident {resident_id}")


@citizen_cli.command("unblock")
@click.argument("resident_id", type=int)
@click.option("--reason", required=True, help="Why the block is lifted (kept in the audit log).")
@with_appcontext
def unblock_command(resident_id: int, reason: str) -> None:
    """Lift a resident's block."""
    _run_or_fail(lambda: services.unblock_resident(CLI_ACTOR, resident_id, reason=reason))
    click.echo(f"unblocked resident {resident_id}")


def _run_or_fail(action: Callable[[], object]) -> None:
    """Run and commit the command's action, or exit non-zero with the service's message."""
    try:
        action()
    except AppError as refused:
        db.session.rollback()
        raise click.ClickException(refused.message) from None
    db.session.commit()
