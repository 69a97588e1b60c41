"""`flask media sweep` and `flask media delete-unattached`: scheduled passes (cron, or an rq scheduler running the
same jobs)."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from core.db import db
from media import jobs

media_cli = AppGroup("media", help="Residents' media.")


@media_cli.command("delete-unattached")
@with_appcontext
def delete_unattached_command() -> None:
    """Delete media not attached to a report or application within MEDIA_UNATTACHED_TTL_HOURS."""
    deleted = jobs.delete_unattached_media()
    db.session.commit()
    click.echo(f"deleted {deleted} unattached media")


@media_cli.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Queue again the processing of media whose job was lost (still processing after 10 minutes), and remove what
    uploads left behind (expired or used direct uploads' staging objects, a killed worker's temporary files)."""
    queued = jobs.requeue_unprocessed()
    db.session.commit()
    click.echo(f"queued {queued} media for processing again")
    click.echo(f"removed {jobs.remove_upload_leftovers()} upload leftovers")
