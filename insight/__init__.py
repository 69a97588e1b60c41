"""City insight: figures kept in step with the reports, the staff dashboard and the monthly report."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.admin import register_nav
    from core.events import REPORT_DELETED, REPORT_RATED, REPORT_STATUS_CHANGED, subscribe
    from core.schedule import register_periodic
    from insight.admin import NAV
    from insight.admin import bp as admin_pages
    from insight.cli import insight_cli

    app.register_blueprint(admin_pages)
    # The data dashboard comes right after the home page, before core's staff pages.
    register_nav(app, NAV, weight=10)
    app.cli.add_command(insight_cli)
    register_periodic(app, "insight sweep", every_seconds=300)
    for event in (REPORT_STATUS_CHANGED, REPORT_RATED, REPORT_DELETED):
        subscribe(app, event, "insight.jobs.refresh_report")
