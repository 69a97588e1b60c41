"""The figures as pages: the charts of the dashboard and of the monthly report, HTML, and PDF via Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from flask import current_app

from cases.services import OUTBOX_STATUS_NAMES as DELIVERY_STATUSES
from citizen import services as citizen_services
from insight import charts, districts, pdf_fonts
from insight.services import Dashboard, MonthlyReport, PeriodFigures
from signboard_templates.services import STATUSES as SIGNBOARD_STATUSES

SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"
CLOSE_BUCKETS = ((0, 24, "24 小时内"), (24, 48, "1–2 天"), (48, 72, "2–3 天"), (72, 168, "3–7 天"),
                 (168, None, "7 天以上"))
PDF_TIMEOUT_SECONDS = 120


class PdfFailed(RuntimeError):
    """Chromium could not print the report; the message says why."""


def _top(counts: dict[str, int], names: dict[str, str], limit: int) -> list[tuple[str, int]]:
    return [(names.get(key, key or "未知"), count) for key, count in list(counts.items())[:limit]]


def close_buckets(histogram: dict[int, int]) -> list[tuple[str, int]]:
    return [(label, sum(count for hours, count in histogram.items() if low <= hours and (high is None or hours < high)))
            for low, high, label in CLOSE_BUCKETS]


def figure_charts(prefix: str, figures: PeriodFigures, category_names: dict[str, str]) -> dict[str, charts.Chart]:
    """The charts of one period's figures, the same on the dashboard and in the report."""
    reports = figures.reports
    label = reports.period.label
    return {
        "daily": charts.column_chart(f"{prefix}-daily", f"每日反映量（{label}）",
                                     [(day.strftime("%m-%d"), count) for day, count in reports.by_day.items()]),
        "status": charts.bar_chart(f"{prefix}-status", f"反映状态（{label}）",
                                   [(citizen_services.STATUS_NAMES[status], count)
                                    for status, count in reports.by_status.items()]),
        "category": charts.bar_chart(f"{prefix}-category", f"问题类别前十（{label}）",
                                     _top(reports.by_category, category_names, 10), label_width=150),
        "district": charts.bar_chart(f"{prefix}-district", f"各区（市）反映量（{label}）",
                                     _top(reports.by_district, {}, 12)),
        "close": charts.bar_chart(f"{prefix}-close", f"从反映到结案的用时（{label}）",
                                  close_buckets(reports.closing.histogram)),
    }


def hot_spot_chart(slug: str, title: str, dashboard_or_report: Dashboard | MonthlyReport,
                   service_area: tuple[tuple[float, float], ...], districts_file: Path) -> charts.Chart:
    return charts.grid_map(slug, title, dashboard_or_report.hot_spots, outline=service_area,
                           places=citizen_services.district_seats(), districts=districts.load(districts_file))


def render_monthly_html(report: MonthlyReport, service_area: tuple[tuple[float, float], ...],
                        districts_file: Path) -> str:
    title = f"青岛市城市管理{report.district or ''}月度分析报告 · {report.period.label}"
    # Straight from the template: the command has no request, and the page needs nothing of one.
    return current_app.jinja_env.get_template("insight/monthly.html").render(
        report=report, title=title, signboard_statuses=SIGNBOARD_STATUSES, delivery_statuses=DELIVERY_STATUSES,
        charts=figure_charts("month", report.current, report.category_names),
        hot_spots=hot_spot_chart("month-hot-spots", f"问题热点网格（{report.period.label}）", report, service_area,
                                 districts_file))


def _fontconfig(work: Path, html: str) -> Path:
    """A fontconfig file for Chromium: the system's fonts, and Noto Sans CJK (cut to the page's characters, with
    TrueType outlines: see ``insight.pdf_fonts``) as if it were installed.

    A font installed is used as it is; a web font (@font-face) Chromium first loads and checks whole.
    """
    system = os.environ.get("FONTCONFIG_FILE", SYSTEM_FONTCONFIG)
    fonts = work / "fonts"
    pdf_fonts.write_subsets(html, fonts)
    config = work / "fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
                      f'<fontconfig><include ignore_missing="yes">{xml_escape(system)}</include>'
                      f'<dir>{xml_escape(str(fonts))}</dir><cachedir>{xml_escape(str(work))}/fc-cache</cachedir>'
                      '</fontconfig>\n', encoding="utf-8")
    return config


def print_pdf(html: str, chromium: str) -> bytes:
    """The page printed by headless Chromium (``chromium``: INSIGHT_CHROMIUM; A4, the glyphs it uses embedded as
    subsetted CID fonts)."""
    executable = shutil.which(chromium)
    if executable is None:
        raise PdfFailed(f"Chromium not found ({chromium}); install Debian's chromium or set "
                        "INSIGHT_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="insight-pdf-") as work:
        page, output = Path(work) / "report.html", Path(work) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [executable, "--headless", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
                   f"--user-data-dir={work}/profile", f"--print-to-pdf={output}", page.as_uri()]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        fonts = {"FONTCONFIG_FILE": str(_fontconfig(Path(work), html))}
        try:
            finished = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False,
                                      env={**os.environ, **fonts})
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not finish within {PDF_TIMEOUT_SECONDS} s") from exc
        if finished.returncode != 0 or not output.exists():
            reason = finished.stderr.decode(errors="replace")[-500:]
            raise PdfFailed(f"Chromium failed ({finished.returncode}): {reason}")
        return output.read_bytes()
