"""The figures as pages: the charts of the dashboard and of the monthly report, HTML, and PDF via Chromium."""

from __future__ import annotations

import base64
import functools
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import cvttf_NotoSansCJK_Bold
import cvttf_NotoSansCJK_Regular
from flask import current_app
from fontTools import subset as font_subset

from cases.services import OUTBOX_STATUS_NAMES as DELIVERY_STATUSES
from citizen import services as citizen_services
from core.config import Config
from insight import charts
from insight.services import Dashboard, MonthlyReport, PeriodFigures
from signboard_templates.models import STATUSES as SIGNBOARD_STATUSES

# Noto Sans CJK from the project's Python install, embedded into every PDF: no system font needed.
FONT_FILES = {"normal": cvttf_NotoSansCJK_Regular.get_TTF_path(), "bold": cvttf_NotoSansCJK_Bold.get_TTF_path()}
# Always in the cut-down fonts, whether or not the page spells them out (escaped quotes, say).
PRINTABLE_ASCII = "".join(map(chr, range(0x20, 0x7F)))
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


def hot_spot_chart(slug: str, title: str, dashboard_or_report: Dashboard | MonthlyReport, settings: Config,
                   ) -> charts.Chart:
    places = citizen_services.district_seats()
    return charts.grid_map(slug, title, dashboard_or_report.hot_spots, outline=settings.service_area, places=places)


@functools.lru_cache(maxsize=16)
def cut_down_font(path: str, characters: str) -> bytes:
    """The font with only the glyphs of ``characters`` (~80 kB of 16 MB): Chromium loads a whole font it is
    given before it prints, a second or more for the two weights. The default OpenType features stay, ``locl``
    among them: the simplified-Chinese forms a zh-CN page asks for."""
    options = font_subset.Options()
    data = io.BytesIO()
    with font_subset.load_font(path, options, lazy=True) as font:
        subsetter = font_subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
        font_subset.save_font(font, data, options)
    return data.getvalue()


def page_fonts(text: str) -> dict[str, str]:
    """Each weight of the report font cut down to the characters of ``text``, as a data: URI."""
    characters = "".join(sorted(set(text) | set(PRINTABLE_ASCII)))
    return {weight: "data:font/otf;base64," + base64.b64encode(cut_down_font(path, characters)).decode("ascii")
            for weight, path in FONT_FILES.items()}


def render_monthly_html(report: MonthlyReport, settings: Config, *, embed_fonts: bool = False) -> str:
    """The report page; with ``embed_fonts``, for printing: the fonts inside, cut down to the page's characters."""
    title = f"青岛市城市管理{report.district or ''}月度分析报告 · {report.period.label}"
    # Straight from the template: the command has no request, and the page needs nothing of one.
    template = current_app.jinja_env.get_template("insight/monthly.html")
    context = {"report": report, "title": title, "signboard_statuses": SIGNBOARD_STATUSES,
               "delivery_statuses": DELIVERY_STATUSES,
               "charts": figure_charts("month", report.current, report.category_names),
               "hot_spots": hot_spot_chart("month-hot-spots", f"问题热点网格（{report.period.label}）", report, settings)}
    page = template.render(**context, fonts=None)
    if not embed_fonts:
        return page
    # Every category's and district's name in the fonts too, not only those on this page: the reports of other
    # months and districts then mostly need the same cut, already made.
    names = "".join(report.category_names.values()) + "".join(citizen_services.district_names())
    return template.render(**context, fonts=page_fonts(page + names))


def print_pdf(html: str, settings: Config) -> bytes:
    """The page printed by headless Chromium (A4, fonts embedded)."""
    executable = shutil.which(settings.insight_chromium)
    if executable is None:
        raise PdfFailed(f"Chromium not found ({settings.insight_chromium}); install Debian's chromium or set "
                        "INSIGHT_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="insight-pdf-") as work:
        page, output = Path(work) / "report.html", Path(work) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [executable, "--headless", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
                   f"--user-data-dir={work}/profile", f"--print-to-pdf={output}", page.as_uri()]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        try:
            finished = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not finish within {PDF_TIMEOUT_SECONDS} s") from exc
        if finished.returncode != 0 or not output.exists():
            raise PdfFailed(f"Chromium failed ({finished.returncode}): {finished.stderr.decode(errors='replace')[-500:]}")
        return output.read_bytes()
