"""`flask insight rebuild`, `flask insight sweep` and `flask insight monthly --month 2026-10 [--district 市南区]`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from citizen.settings import CitizenSettings
from core.config import current_settings
from core.db import db
from insight import report as report_pages
from insight import services
from insight.settings import InsightSettings

insight_cli = AppGroup("insight", help="City insight: counters and the monthly report.")


@insight_cli.command("rebuild")
@with_appcontext
def rebuild_command() -> None:
    """Count every report afresh (first install, or after INSIGHT_GRID_M changed)."""
    counted = services.rebuild(current_settings(InsightSettings))
    db.session.commit()
    click.echo(f"counted {counted} reports")


@insight_cli.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Count again reports whose refresh was lost with Redis or a worker (cron, every few minutes)."""
    click.echo(f"counted again {services.catch_up(current_settings(InsightSettings))} reports")


@insight_cli.command("monthly")
@click.option("--month", "month_text", required=True, help="YYYY-MM, e.g. 2026-10")
@click.option("--district", default=None, help="one district, e.g. 市南区 (default: the whole city)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="directory for the HTML and PDF (default: INSIGHT_OUTPUT_DIR)")
@with_appcontext
def monthly_command(month_text: str, district: str | None, out_dir: Path | None) -> None:
    """Write the month's analysis report as HTML and PDF."""
    settings = current_settings(InsightSettings)
    try:
        report = services.monthly_report(services.parse_month(month_text), settings, district=district)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    directory = out_dir or settings.insight_output_dir
    stem = directory / f"insight-{report.period.first:%Y-%m}{'-' + district if district else ''}"
    html = report_pages.render_monthly_html(report, current_settings(CitizenSettings).service_area,
                                           settings.insight_districts_geojson)
    _write(stem.with_suffix(".html"), html.encode("utf-8"))
    try:
        pdf = report_pages.print_pdf(html, settings.insight_chromium)
    except report_pages.PdfFailed as exc:
        raise click.ClickException(str(exc)) from exc
    _write(stem.with_suffix(".pdf"), pdf)
    click.echo(f"wrote {stem}.html and {stem}.pdf")


def _write(path: Path, content: bytes) -> None:
    """One output file; a directory that is a file, is not writable or is on a full disk (INSIGHT_OUTPUT_DIR or
    --out) is a message naming it, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {path.parent}: {exc.strerror or exc}") from exc
