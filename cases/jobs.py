"""Case jobs (ids in, inline or on rq): delivering, the sweep and poll, photos of updates, notifications.

Each fetches the settings it needs and hands them to the services, which read none themselves.
"""

from __future__ import annotations

from flask import current_app

from cases import services
from cases.settings import CaseSettings
from core.config import current_config, current_settings


def deliver(delivery_id: int) -> str | None:
    """One attempt at forwarding a report; failures are recorded and retried by the sweep, never raised."""
    return services.deliver(delivery_id, current_settings(CaseSettings), current_config())


def deliver_reopening(reopening_id: int) -> str | None:
    """One attempt at sending a reopened report to the case system; retried by the sweep like a delivery."""
    return services.deliver_reopening(reopening_id, current_settings(CaseSettings), current_config())


def sweep() -> None:
    """Scheduled (cron or an rq scheduler, every minute): re-queue what is due or was lost, then poll."""
    settings = current_settings(CaseSettings)
    services.sweep(settings)
    services.poll_case_system(settings)


def supervise_overdue() -> None:
    """督办 of the desk cases newly past their deadline (the scheduler runs ``flask cases supervise``)."""
    services.supervise_overdue()


def fetch_update_photos(update_record_id: int) -> None:
    services.fetch_update_photos(update_record_id, current_settings(CaseSettings))


def queue_notifications(report_id: int) -> None:
    """Listens to report.status_changed: queues the resident's subscribe messages."""
    services.queue_notifications(report_id, current_settings(CaseSettings))


def send_notification(notification_id: int) -> None:
    services.send_notification(notification_id, current_app.extensions["wechat"], current_settings(CaseSettings))
