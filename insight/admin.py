"""The data dashboard (数据看板) and the monthly report in the admin view."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, abort, current_app, render_template, request

from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.admin import NavItem, admin_blueprint
from core.auth import require_staff_role
from core.config import current_settings
from core.ratelimit import held_slot, rate_limit
from core.security import DOCUMENT_POLICY
from insight import report as report_pages
from insight import services
from insight.settings import InsightSettings

bp = admin_blueprint("insight_admin", __name__)
NAV = (NavItem("insight_admin.dashboard", "数据看板", ()),)
FIGURE_FORMATS = {"count": "{:d}", "rate": "{:.1%}", "hours": "{:d} 小时", "score": "{:.2f}"}
DIFFERENCE_FORMATS = {"count": "{:+d}", "rate": "{:+.1f} 个百分点", "hours": "{:+d} 小时", "score": "{:+.2f}"}


@bp.app_template_filter("figure")
def figure(value: Any, kind: str = "count") -> str:
    return "—" if value is None else FIGURE_FORMATS[kind].format(value)


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    return figure(value, "rate")


@bp.app_template_filter("hours")
def hours(value: int | None) -> str:
    return figure(value, "hours")


@bp.app_template_filter("difference")
def difference(change: services.Change, kind: str = "count") -> str:
    """The change as a difference: points for rates, hours for hours; "—" with no base."""
    if change.absolute is None:
        return "—"
    return DIFFERENCE_FORMATS[kind].format(change.absolute * 100 if kind == "rate" else change.absolute)


@bp.app_template_filter("relative")
def relative(change: services.Change) -> str:
    """The change relative to its base; "—" with no base or a base of 0."""
    return "—" if change.relative is None else f"{change.relative:+.1%}"


@bp.get("/insight")
def dashboard() -> str:
    require_staff_role()
    settings = current_settings(InsightSettings)
    days = request.args.get("days", 30, type=int)
    if days not in services.DASHBOARD_PERIODS:
        days = 30
    category = request.args.get("category") or None
    board = services.dashboard(settings, hot_spot_days=days, hot_spot_category=category)
    of_category = f"，{board.category_names.get(category, category)}" if category else ""
    hot_spots = report_pages.hot_spot_chart(
        "hot-spots", f"问题热点网格（{board.hot_spot_period.label}{of_category}）", board,
        current_settings(CitizenSettings).service_area, settings.insight_districts_geojson)
    return render_template(
        "insight/dashboard.html", board=board, hot_spots=hot_spots, hot_days=days, hot_category=category,
        recent_charts=report_pages.figure_charts("recent", board.recent, board.category_names),
        periods=services.DASHBOARD_PERIODS, signboard_statuses=report_pages.SIGNBOARD_STATUSES,
        delivery_statuses=report_pages.DELIVERY_STATUSES, districts=citizen_services.district_names(),
        default_month=services.last_whole_month().first.strftime("%Y-%m"),
        most_followed=citizen_services.most_followed_open())


@bp.get("/insight/monthly")
def monthly() -> Response:
    staff = require_staff_role()
    settings = current_settings(InsightSettings)
    service_area = current_settings(CitizenSettings).service_area
    district = request.args.get("district") or None
    try:
        period = services.parse_month(request.args.get("month", ""))
        report = services.monthly_report(period, settings, district=district)
    except ValueError:
        abort(400)
    name = f"insight-{period.first:%Y-%m}{'-' + district if district else ''}"
    html = report_pages.render_monthly_html(report, service_area, settings.insight_districts_geojson)
    if request.args.get("format") == "pdf":
        # Each print is a Chromium for a second or more: so many per staff member, so many at once in all processes.
        rate_limit("pdf", str(staff.id))
        try:
            with held_slot(current_app.extensions["concurrency_slots"], "pdf", settings.pdf_prints_at_once,
                           lease_seconds=report_pages.PDF_TIMEOUT_SECONDS + 10):
                pdf = report_pages.print_pdf(html, settings.insight_chromium)
        except report_pages.PdfFailed as exc:
            current_app.logger.error("monthly report PDF failed", extra={"reason": str(exc)})
            abort(503)
        disposition = f"attachment; filename={period.first:%Y-%m}.pdf; filename*=UTF-8''{quote(name)}.pdf"
        return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": disposition})
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": DOCUMENT_POLICY})
