"""The figures as pages: the charts of the dashboard and of the monthly report, HTML, and PDF via Chromium."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from cases.services import OUTBOX_STATUS_NAMES as DELIVERY_STATUSES
from citizen import services as citizen_services
from core import districts, pdf
from insight import charts
from insight.services import Dashboard, MonthlyReport, PeriodFigures
from signboard_templates.services import STATUSES as SIGNBOARD_STATUSES

CLOSE_BUCKETS = ((0, 24, "24 小时内"), (24, 48, "1–2 天"), (48, 72, "2–3 天"), (72, 168, "3–7 天"),
                 (168, None, "7 天以上"))
PdfFailed = pdf.PdfFailed
PDF_TIMEOUT_SECONDS = pdf.PDF_TIMEOUT_SECONDS


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


def print_pdf(html: str, chromium: str) -> bytes:
    """The report printed by headless Chromium (``chromium``: INSIGHT_CHROMIUM; A4, subsetted CID fonts)."""
    return pdf.print_pdf(html, chromium)
