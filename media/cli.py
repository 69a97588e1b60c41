"""`flask media sweep` and `flask media delete-unattached`: scheduled passes (cron, or an rq scheduler running the
same jobs); `flask media verify`: do the database and the object store agree (after a restore, and weekly)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup, with_appcontext

from core.config import current_settings
from core.db import db
from media import jobs, services
from media.settings import MediaSettings

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


@media_cli.command("verify")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the problems, then the summary.")
@click.option("--repair", is_flag=True,
              help="Delete unreferenced objects older than MEDIA_ORPHAN_RETENTION_HOURS and render again media whose "
                   "derivatives are missing. Never deletes a row.")
@click.option("--checksums", is_flag=True, help="Also read every original and compare its SHA-256 (reads every byte).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="Rows and objects per batch.")
@with_appcontext
def verify_command(as_json: bool, repair: bool, checksums: bool, batch_size: int) -> None:
    """Compare the media rows with the stored objects: objects missing, objects no row refers to, sizes (and with
    --checksums, SHA-256) that differ. Exit status 1 while any problem is left unrepaired."""
    if as_json:
        click.echo('{"problems": [', nl=False)
    first = True

    def report(problem: services.Problem) -> None:
        nonlocal first
        if as_json:
            click.echo(("" if first else ",") + "\n  " + json.dumps(problem.as_dict(), ensure_ascii=False), nl=False)
        else:
            click.echo(_problem_line(problem))
        first = False

    run = services.verify_media(current_settings(MediaSettings), repair=repair, checksums=checksums, report=report,
                                batch_size=batch_size)
    db.session.commit()
    if as_json:
        click.echo(f'\n], "summary": {json.dumps(run.as_dict())}}}')
    else:
        click.echo(_summary(run))
    if run.unrepaired:
        raise SystemExit(1)


def _problem_line(problem: services.Problem) -> str:
    media = f"media {problem.media_id} {problem.role}" if problem.media_id is not None else "no media"
    sizes = f" (row: {problem.expected}, stored: {problem.found})" if problem.expected is not None else ""
    repair = f" — {problem.repair}" if problem.repair else ""
    return f"{problem.kind}: {problem.key} ({media}){sizes}{repair}"


def _summary(run: services.Verification) -> str:
    summary = run.as_dict()
    problems = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in summary["problems"].items())
    hashed = f"{run.hashed} originals hashed" if run.checksums else "sizes only (--checksums reads every original)"
    lines = [f"checked {run.media} media rows and {run.objects} objects ({run.bytes} bytes); {hashed}",
             f"problems: {problems}",
             f"unreferenced objects younger than the retention (writes in flight, not problems): "
             f"{run.recent_unreferenced}"]
    if run.repaired:
        lines.append("repaired: " + ", ".join(f"{count} {action}" for action, count in sorted(run.repaired.items())))
    lines.append("OK: the database and the object store agree" if not run.unrepaired
                 else f"FAILED: {run.unrepaired} problems left")
    return "\n".join(lines)
