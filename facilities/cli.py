"""Operator commands: `flask facilities import|export|sample`."""

from __future__ import annotations

import os
import sys
import time

import click
from flask.cli import AppGroup, with_appcontext

from core.config import current_config
from core.geo import COORD_TYPES
from facilities import imports

facilities_cli = AppGroup("facilities", help="Facility data: import, export, the development sample.")


class _ProgressLine:
    """Rows, rate and ETA for the progress bar, from the bytes read so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.progress = imports.Progress()

    def rate(self) -> float:
        return self.progress.rows_read / max(time.monotonic() - self.started, 1e-9)

    def label(self, _item: object = None) -> str:
        p = self.progress
        return f"{p.rows_read:,} rows ({p.rows_rejected:,} rejected), {self.rate():,.0f} rows/s"


@facilities_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "file_format", type=click.Choice(imports.FORMATS), required=True)
@click.option("--kind", "kind_code", default=None, help="Give every row this kind code (e.g. 0301).")
@click.option("--coord-type", type=click.Choice(COORD_TYPES), default="wgs84", show_default=True,
              help="Datum of the file's coordinates.")
@click.option("--batch-size", type=click.IntRange(100, 100_000), default=imports.BATCH_SIZE, show_default=True)
@with_appcontext
def import_command(file: str, file_format: str, kind_code: str | None, coord_type: str, batch_size: int) -> None:
    """Stream FILE into the facilities, upserting by source id (safe to rerun)."""
    line = _ProgressLine()

    def reject(rejection: imports.Rejection) -> None:
        column = f" {rejection.column}" if rejection.column else ""
        source_id = f" {rejection.source_id}" if rejection.source_id else ""
        click.echo(f"line {rejection.line}: rejected{source_id}:{column} {rejection.reason}", err=True)

    with click.progressbar(length=max(1, os.path.getsize(file)), label="importing", show_eta=True, show_percent=True,
                           item_show_func=line.label, file=sys.stderr) as bar:
        def progress(p: imports.Progress) -> None:
            line.progress = p
            bar.update(p.bytes_done - bar.pos)

        try:
            record = imports.import_file(file, file_format, kind_override=kind_code, coord_type=coord_type,
                                         batch_size=batch_size, on_progress=progress, on_reject=reject)
        except (imports.ImportFailed, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    elapsed = time.monotonic() - line.started
    click.echo(f"import #{record.id}: {record.rows_read:,} rows read, {record.rows_accepted:,} accepted "
               f"({record.rows_inserted:,} new), {record.rows_rejected:,} rejected in {elapsed:,.1f} s "
               f"({record.rows_read / max(elapsed, 1e-9):,.0f} rows/s)")


@facilities_cli.command("export")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", show_default=True)
@click.option("--kind", "kind_code", default=None)
@with_appcontext
def export_command(output, kind_code: str | None) -> None:  # noqa: ANN001
    """Write the facilities as GeoJSON (WGS-84)."""
    count = imports.export_geojson(output, kind=kind_code)
    click.echo(f"exported {count:,} facilities", err=True)


@facilities_cli.command("sample")
@with_appcontext
def sample_command() -> None:
    """Load the generated sample facilities (development only; `make run` calls it)."""
    if current_config().is_production:
        raise click.ClickException("the sample is for the embedded default; production never loads it")
    click.echo(f"sample facilities loaded: {imports.load_sample():,}")
