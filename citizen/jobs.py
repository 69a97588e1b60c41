"""Background work on reports. Each job takes ids and runs inline or on an rq worker."""

from __future__ import annotations

from flask import current_app


def check_report(report_id: int) -> None:
    """The automatic checks flagged for moderators, run once the report is committed."""
    from citizen import services

    wechat = current_app.extensions["wechat"]
    services.run_checks(report_id, current_app.config["APP_SETTINGS"],
                        screen_text=wechat.text_is_risky if wechat is not None else None)
