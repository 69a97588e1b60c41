"""Insight's listeners: each takes a report id and brings the counters in line with that report."""

from __future__ import annotations

from core.config import current_settings
from insight import services
from insight.settings import InsightSettings


def refresh_report(report_id: int) -> None:
    """Subscribed to report.status_changed, report.rated and report.deleted."""
    services.refresh_report(report_id, current_settings(InsightSettings))


def sweep() -> int:
    """Scheduled (cron or an rq scheduler, every few minutes): counts again what a lost refresh left behind."""
    return services.catch_up(current_settings(InsightSettings))
